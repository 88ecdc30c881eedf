// Package auditweb is the privacy officers' web page: the audit log's
// decisions with filters, each decision's field-by-field explanation, and the
// chain's verification status, in English, Russian and Kyrgyz. It is
// server-rendered HTML with no script and no external asset, and it shows
// only what the audit log holds: agency ids, field names, actions, rules and
// internal pseudonyms, never an identity.
package auditweb

import (
	"context"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/gateway/store"
)

//go:embed templates/*.html
var templates embed.FS

// Verifier checks the whole log.
type Verifier func(ctx context.Context) (*audit.Report, error)

// Pages serves /audit/.
type Pages struct {
	cfg    *config.Config
	store  store.AuditStore
	verify Verifier
	tmpl   *template.Template
	byCN   map[string]*config.Auditor

	mu       sync.Mutex
	last     *audit.Report
	lastTime time.Time
}

// New builds the pages. Only certificates of the configured auditors open them.
func New(cfg *config.Config, s store.AuditStore, verify Verifier) *Pages {
	p := &Pages{cfg: cfg, store: s, verify: verify, byCN: map[string]*config.Auditor{}}
	for i := range cfg.Auditors {
		p.byCN[cfg.Auditors[i].MTLSCommonName] = &cfg.Auditors[i]
	}
	p.tmpl = template.Must(template.New("").Funcs(template.FuncMap{
		"t":     func(lang, key string) string { return text[lang][key] },
		"class": fieldClass,
		"hex":   func(b []byte) string { return hexString(b) },
		"ts":    func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04:05") },
	}).ParseFS(templates, "templates/*.html"))
	return p
}

func hexString(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}

func fieldClass(name string) string {
	if f, ok := htcds.Lookup(name); ok {
		return f.Class.String()
	}
	return ""
}

// Handler routes the pages.
func (p *Pages) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /audit/{$}", p.list)
	mux.HandleFunc("GET /audit/decisions/{seq}", p.decision)
	mux.HandleFunc("POST /audit/verify", p.verifyNow)
	return p.auditorsOnly(mux)
}

// auditorsOnly lets through only the auditors' client certificates.
func (p *Pages) auditorsOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'")
		h.Set("Cache-Control", "no-store")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "no-referrer")
		lang := pickLang(r)
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || p.byCN[r.TLS.VerifiedChains[0][0].Subject.CommonName] == nil {
			p.render(w, http.StatusForbidden, "message.html", map[string]any{"Lang": lang, "Key": "forbidden"})
			return
		}
		next.ServeHTTP(w, r)
	})
}

type listPage struct {
	Lang     string
	Langs    []string
	Query    url.Values
	Entries  []audit.Entry
	Next     string
	Error    string
	Chain    *audit.Report
	Checked  time.Time
	Agencies []config.Agency
	Purposes []config.Purpose
	Outcomes []string
	Events   []string
}

var (
	outcomes = []string{"released", "denied", "recorded", "issued", "redeemed", "possible_replay", "refused", "revoked"}
	events   = []string{"exchange", "status", "token_issue", "token_redeem", "token_revoke", "case_event"}
)

func (p *Pages) list(w http.ResponseWriter, r *http.Request) {
	lang := pickLang(r)
	q := r.URL.Query()
	page := listPage{Lang: lang, Langs: langs, Query: q, Agencies: p.cfg.Agencies, Purposes: p.cfg.Purposes, Outcomes: outcomes, Events: events}
	page.Chain, page.Checked = p.status()
	aq, err := p.query(q)
	status := http.StatusOK
	if err != nil {
		page.Error, status = err.Error(), http.StatusBadRequest
	} else {
		page.Entries, err = p.store.SearchAudit(r.Context(), aq)
		if err != nil {
			http.Error(w, "the audit log cannot be read now", http.StatusServiceUnavailable)
			return
		}
		if len(page.Entries) == aq.Limit {
			next := url.Values{}
			for k, v := range q {
				next[k] = v
			}
			next.Set("after", strconv.FormatInt(page.Entries[len(page.Entries)-1].Seq, 10))
			page.Next = "?" + next.Encode()
		}
	}
	p.render(w, status, "list.html", page)
}

// query reads the filters; a malformed one is an error naming it.
func (p *Pages) query(q url.Values) (store.AuditQuery, error) {
	aq := store.AuditQuery{Agency: q.Get("agency"), Purpose: q.Get("purpose"), Outcome: q.Get("outcome"), Event: q.Get("event"), Field: q.Get("field"), Limit: 50}
	var errs []error
	for _, name := range []string{"from", "to"} {
		if v := q.Get(name); v != "" {
			t, err := config.ParseTime(v)
			if err != nil {
				errs = append(errs, errors.New(name+": not a date (YYYY-MM-DD)"))
			}
			if name == "from" {
				aq.From = t
			} else {
				aq.To = t
			}
		}
	}
	if v := q.Get("after"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 0 {
			errs = append(errs, errors.New("after: not an entry number"))
		}
		aq.After = n
	}
	if _, ok := p.cfg.Agency(aq.Agency); aq.Agency != "" && !ok {
		errs = append(errs, errors.New("agency: not a configured agency"))
	}
	if aq.Outcome != "" && !slices.Contains(outcomes, aq.Outcome) {
		errs = append(errs, errors.New("outcome: not a known outcome"))
	}
	if aq.Event != "" && !slices.Contains(events, aq.Event) {
		errs = append(errs, errors.New("event: not a known event"))
	}
	if _, ok := htcds.Lookup(aq.Field); aq.Field != "" && !ok {
		errs = append(errs, errors.New("field: not an HTCDS field"))
	}
	return aq, errors.Join(errs...)
}

func (p *Pages) decision(w http.ResponseWriter, r *http.Request) {
	lang := pickLang(r)
	seq, err := strconv.ParseInt(r.PathValue("seq"), 10, 64)
	if err != nil || seq < 1 {
		p.render(w, http.StatusNotFound, "message.html", map[string]any{"Lang": lang, "Key": "not_found"})
		return
	}
	es, err := p.store.SearchAudit(r.Context(), store.AuditQuery{After: seq - 1, Limit: 1})
	if err != nil {
		http.Error(w, "the audit log cannot be read now", http.StatusServiceUnavailable)
		return
	}
	if len(es) == 0 || es[0].Seq != seq {
		p.render(w, http.StatusNotFound, "message.html", map[string]any{"Lang": lang, "Key": "not_found"})
		return
	}
	chain, checked := p.status()
	p.render(w, http.StatusOK, "decision.html", map[string]any{"Lang": lang, "Langs": langs, "E": es[0], "Chain": chain, "Checked": checked})
}

func (p *Pages) verifyNow(w http.ResponseWriter, r *http.Request) {
	rep, err := p.verify(r.Context())
	if err != nil {
		http.Error(w, "the audit log cannot be read now", http.StatusServiceUnavailable)
		return
	}
	p.mu.Lock()
	p.last, p.lastTime = rep, time.Now()
	p.mu.Unlock()
	http.Redirect(w, r, "/audit/?lang="+pickLang(r), http.StatusSeeOther)
}

// status is the last verification, run once on first use.
func (p *Pages) status() (*audit.Report, time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.last == nil {
		if rep, err := p.verify(context.Background()); err == nil {
			p.last, p.lastTime = rep, time.Now()
		}
	}
	return p.last, p.lastTime
}

func (p *Pages) render(w http.ResponseWriter, status int, name string, data any) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	p.tmpl.ExecuteTemplate(w, name, data)
}
