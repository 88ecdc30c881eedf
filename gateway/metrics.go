package gateway

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/policy"
)

// Metrics are the gateway's Prometheus metrics. Labels carry agency ids,
// outcomes, actions and stages: never anything about a person.
type Metrics struct {
	exchanges       *prometheus.CounterVec
	fieldActions    *prometheus.CounterVec
	actionCounters  map[string]prometheus.Counter // fieldActions of each policy action, looked up once
	duration        prometheus.Histogram
	privacyFailures *prometheus.CounterVec
	requests        *prometheus.CounterVec
	acked           *prometheus.CounterVec
	blindElements   *prometheus.CounterVec
	blindLookups    *prometheus.CounterVec
}

// NewMetrics registers the gateway's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		exchanges: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumar_exchanges_total", Help: "Exchanges by source, destination and outcome.",
		}, []string{"source", "destination", "outcome"}),
		fieldActions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumar_field_actions_total", Help: "Fields released, by the action the policy took.",
		}, []string{"action"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "tumar_exchange_duration_seconds", Help: "Time to decide, transform and durably store one released exchange.",
			Buckets: prometheus.ExponentialBuckets(0.0002, 2, 14),
		}),
		privacyFailures: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumar_privacy_failures_total", Help: "Exchanges stopped because a privacy control or the store failed, by stage.",
		}, []string{"stage"}),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumar_http_requests_total", Help: "HTTP requests by route and status code.",
		}, []string{"route", "code"}),
		acked: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumar_inbox_acknowledged_total", Help: "Released records acknowledged by their destination.",
		}, []string{"destination"}),
		blindElements: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumar_blind_elements_total", Help: "Blinded elements agencies asked the gateway to evaluate (OPRF), by outcome: evaluated, refused (over the limit), possible_replay.",
		}, []string{"agency", "outcome"}),
		blindLookups: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumar_blind_lookups_total", Help: "Blind status look-ups, by whether a recorded status was found.",
		}, []string{"agency", "found"}),
	}
	m.actionCounters = make(map[string]prometheus.Counter)
	for a := policy.Redact; a <= policy.Keep; a++ {
		m.actionCounters[a.String()] = m.fieldActions.WithLabelValues(a.String())
	}
	reg.MustRegister(m.exchanges, m.fieldActions, m.duration, m.privacyFailures, m.requests, m.acked, m.blindElements, m.blindLookups)
	return m
}

// actionCount is how many of a record's fields one action was taken on.
type actionCount struct {
	action string
	n      float64
}

// countActions tallies field decisions by action, in the order each action
// first appears: a plan does it once for all its records, so a release
// looks up one counter per action, not one per field.
func countActions(fields []audit.FieldAction) []actionCount {
	var out []actionCount
next:
	for _, f := range fields {
		for i := range out {
			if out[i].action == f.Action {
				out[i].n++
				continue next
			}
		}
		out = append(out, actionCount{action: f.Action, n: 1})
	}
	return out
}

func (m *Metrics) released(src, dst string, actions []actionCount, d time.Duration) {
	m.exchanges.WithLabelValues(src, dst, string(audit.Released)).Inc()
	for _, a := range actions {
		c, ok := m.actionCounters[a.action]
		if !ok {
			c = m.fieldActions.WithLabelValues(a.action)
		}
		c.Add(a.n)
	}
	m.duration.Observe(d.Seconds())
}

func (m *Metrics) denied(src, dst string) {
	m.exchanges.WithLabelValues(src, dst, string(audit.Denied)).Inc()
}

func (m *Metrics) privacyFailure(stage string) { m.privacyFailures.WithLabelValues(stage).Inc() }

func (m *Metrics) blindEvaluation(agency string, outcome audit.Outcome, elements int) {
	m.blindElements.WithLabelValues(agency, string(outcome)).Add(float64(elements))
}

func (m *Metrics) blindLookup(agency string, found bool) {
	m.blindLookups.WithLabelValues(agency, strconv.FormatBool(found)).Inc()
}
