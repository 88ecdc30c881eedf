package connectors

import "github.com/prometheus/client_golang/prometheus"

// Metrics count what connectors read, brought in and refused. Labels are
// connector names, outcomes and reason codes; never a value.
type Metrics struct {
	readTotal     *prometheus.CounterVec
	acceptedTotal *prometheus.CounterVec
	rejectedTotal *prometheus.CounterVec
}

// NewMetrics registers the connector metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	m := &Metrics{
		readTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumar_connector_read_total", Help: "Items read from a source.",
		}, []string{"connector"}),
		acceptedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumar_connector_accepted_total", Help: "Items the gateway released, or found already released (duplicate).",
		}, []string{"connector", "outcome"}),
		rejectedTotal: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "tumar_connector_rejected_total", Help: "Items quarantined, by reason.",
		}, []string{"connector", "reason"}),
	}
	reg.MustRegister(m.readTotal, m.acceptedTotal, m.rejectedTotal)
	return m
}

func (m *Metrics) read(c string, n int) {
	if m != nil {
		m.readTotal.WithLabelValues(c).Add(float64(n))
	}
}

func (m *Metrics) accepted(c, outcome string) {
	if m != nil {
		m.acceptedTotal.WithLabelValues(c, outcome).Inc()
	}
}

func (m *Metrics) rejected(c, reason string) {
	if m != nil {
		m.rejectedTotal.WithLabelValues(c, reason).Inc()
	}
}
