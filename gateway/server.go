package gateway

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"regexp"
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/gateway/store"
)

// Log attribute names, kept in one place so that logs stay greppable.
const (
	logRoute      = "route"
	logStatus     = "status"
	logAgency     = "agency"
	logDuration   = "duration_ms"
	logDecisionID = "decision_id"
	logCode       = "code"
	logCause      = "cause"
)

// Server is the gateway's HTTP API.
type Server struct {
	cfg     *config.Config
	ex      *Exchanger
	status  *StatusService
	store   store.Store
	log     *slog.Logger
	metrics *Metrics
	gather  prometheus.Gatherer
	byCN    map[string]*config.Agency
	ready   func(context.Context) error
	mux     *http.ServeMux
}

// NewServer builds the API. gather serves /metrics; ready backs /readyz.
func NewServer(cfg *config.Config, ex *Exchanger, status *StatusService, s store.Store, log *slog.Logger, m *Metrics, gather prometheus.Gatherer, ready func(context.Context) error) *Server {
	byCN := make(map[string]*config.Agency, len(cfg.Agencies))
	for i := range cfg.Agencies {
		byCN[cfg.Agencies[i].Auth.MTLSCommonName] = &cfg.Agencies[i]
	}
	srv := &Server{cfg: cfg, ex: ex, status: status, store: s, log: log, metrics: m, gather: gather, byCN: byCN, ready: ready}
	srv.mux = srv.routes()
	return srv
}

// Handler returns the routes.
func (s *Server) Handler() http.Handler { return s.mux }

// AgencyHandler serves a request of an authenticated agency. A returned
// *Error is written as the JSON error answer; any other error is a 500.
type AgencyHandler func(w http.ResponseWriter, r *http.Request, a *config.Agency) error

// Mount adds a route served to authenticated agencies, with the same request
// log and metrics as the built-in ones. Mount before serving.
func (s *Server) Mount(pattern, route string, h AgencyHandler) {
	s.mux.Handle(pattern, s.agency(route, agencyHandler(h)))
}

func (s *Server) routes() *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("POST /v1/exchanges", s.agency("exchanges", s.postExchange))
	mux.Handle("GET /v1/inbox", s.agency("inbox", s.getInbox))
	mux.Handle("POST /v1/inbox/ack", s.agency("inbox_ack", s.postAck))
	mux.Handle("GET /v1/release-keys", s.agency("release_keys", s.getReleaseKeys))
	s.statusRoutes(mux)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	mux.HandleFunc("GET /readyz", s.getReady)
	metrics := promhttp.HandlerFor(s.gather, promhttp.HandlerOpts{})
	mux.Handle("GET /metrics", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Counts per agency are traffic-analysis material: only holders of a
		// certificate from the gateway's CA (an agency, or monitoring) may scrape.
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
			writeError(w, &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "metrics need a client certificate issued by the gateway's CA"})
			return
		}
		metrics.ServeHTTP(w, r)
	}))
	return mux
}

// statusRecorder remembers the status a handler wrote and the decision it
// made, for the request log.
type statusRecorder struct {
	http.ResponseWriter
	status     int
	decisionID string
}

func (r *statusRecorder) WriteHeader(code int) {
	r.status = code
	r.ResponseWriter.WriteHeader(code)
}

type agencyHandler func(w http.ResponseWriter, r *http.Request, a *config.Agency) error

// agency authenticates the caller by its verified client certificate, runs h,
// and writes one log line for the request.
func (s *Server) agency(route string, h agencyHandler) http.Handler {
	return s.wrap(route, s.authenticate, h)
}

// Handle adds a route with its own authentication and answers (the audit
// pages, say).
func (s *Server) Handle(pattern string, h http.Handler) { s.mux.Handle(pattern, h) }

// Authenticator finds the agency behind a request, or returns an *Error.
type Authenticator func(r *http.Request) (*config.Agency, error)

// MountWith adds a route whose callers are authenticated another way than by
// their own client certificate (an X-Road security server speaking for an
// agency, say), with the same request log, metrics and error answers.
func (s *Server) MountWith(pattern, route string, auth Authenticator, h AgencyHandler) {
	s.mux.Handle(pattern, s.wrap(route, auth, agencyHandler(h)))
}

// AgencyByCN returns the agency whose client certificate has this common name.
func (s *Server) AgencyByCN(cn string) (*config.Agency, bool) {
	a, ok := s.byCN[cn]
	return a, ok
}

func (s *Server) wrap(route string, auth Authenticator, h agencyHandler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
		a, err := auth(r)
		if err == nil {
			err = h(rec, r, a)
		}
		status := rec.status
		attrs := []any{slog.String(logRoute, route)}
		if a != nil {
			attrs = append(attrs, slog.String(logAgency, a.ID))
		}
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) {
				ge = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "internal error", Err: err}
			}
			status = ge.Status
			writeError(w, ge)
			attrs = append(attrs, slog.String(logCode, ge.Code))
			if ge.Err != nil {
				attrs = append(attrs, slog.String(logCause, ge.Err.Error()))
			}
		}
		if rec.decisionID != "" {
			attrs = append(attrs, slog.String(logDecisionID, rec.decisionID))
		}
		s.metrics.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
		attrs = append(attrs, slog.Int(logStatus, status), slog.Float64(logDuration, float64(time.Since(start).Microseconds())/1000))
		level := slog.LevelInfo
		if status >= 500 {
			level = slog.LevelError
		}
		s.log.Log(r.Context(), level, "request", attrs...)
	})
}

func (s *Server) authenticate(r *http.Request) (*config.Agency, error) {
	if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 {
		return nil, &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "a client certificate issued by the gateway's CA is required"}
	}
	cn := r.TLS.VerifiedChains[0][0].Subject.CommonName
	a, ok := s.byCN[cn]
	if !ok {
		return nil, &Error{Status: http.StatusForbidden, Code: "unknown_agency", Message: "the client certificate does not belong to a configured agency"}
	}
	return a, nil
}

// ExchangeRequest is the body of POST /v1/exchanges. The source is not in it:
// it is the authenticated agency.
type ExchangeRequest struct {
	Destination    string          `json:"destination"`
	Purpose        string          `json:"purpose"`
	LegalBasis     string          `json:"legal_basis"`
	SourceRecordID string          `json:"source_record_id"`
	Record         json.RawMessage `json:"record"`
	// StatusToken stands for the person instead of identity fields.
	StatusToken string `json:"status_token,omitempty"`
}

func (s *Server) postExchange(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	sub, err := decodeExchange(body)
	if err != nil {
		return err
	}
	sub.Source = a.ID
	receipt, err := s.ex.Exchange(r.Context(), sub)
	if err != nil {
		return err
	}
	if rec, ok := w.(*statusRecorder); ok {
		rec.decisionID = receipt.DecisionID
	}
	status := http.StatusCreated
	if receipt.Outcome == audit.Duplicate {
		status = http.StatusOK
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(receipt.appendJSON(make([]byte, 0, 256+128*len(receipt.Fields))), '\n')) // as writeJSON's encoder would
	return nil
}

// sourceRecordID is what a source's own case id may look like.
var sourceRecordID = regexp.MustCompile(`^[A-Za-z0-9._:/-]{1,128}$`)

// decodeExchange parses the body of POST /v1/exchanges. Its errors are *Error
// values that describe the problem without quoting the input.
func decodeExchange(body []byte) (*Submission, error) {
	req, err := parseExchangeRequest(body)
	if err != nil {
		return nil, err
	}
	if req.Destination == "" || req.Purpose == "" || req.LegalBasis == "" || len(req.Record) == 0 {
		return nil, badRequest("missing_field", "destination, purpose, legal_basis and record are required")
	}
	if req.SourceRecordID != "" && !sourceRecordID.MatchString(req.SourceRecordID) {
		return nil, badRequest("invalid_source_record_id", "source_record_id must be 1 to 128 letters, digits or . _ : / -")
	}
	var rec htcds.Record
	if err := rec.UnmarshalJSON(req.Record); err != nil {
		return nil, invalidRecord(err)
	}
	if len(req.StatusToken) > 16<<10 {
		return nil, badRequest("invalid_status_token", "status_token is too large")
	}
	return &Submission{Destination: req.Destination, Purpose: req.Purpose, LegalBasis: req.LegalBasis, SourceRecordID: req.SourceRecordID,
		Record: &rec, StatusToken: req.StatusToken}, nil
}

// readBody reads a JSON body within the configured limit and refuses invalid
// UTF-8, which encoding/json would otherwise silently replace.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes))
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &mbe):
		return nil, &Error{Status: http.StatusRequestEntityTooLarge, Code: "body_too_large", Message: "the request body is larger than " + strconv.FormatInt(s.cfg.MaxBodyBytes, 10) + " bytes"}
	case err != nil:
		return nil, badRequest("unreadable_body", "the request body could not be read")
	case !utf8.Valid(body):
		return nil, badRequest("invalid_utf8", "the request body is not valid UTF-8")
	}
	return body, nil
}

// requestJSONError describes a malformed request without quoting it.
// notTheObject is the answer to a request body of another shape. It does
// not name the unexpected field: a field name can carry a person's name.
func notTheObject() error {
	return badRequest("malformed_json", "the request body is not the expected JSON object (unknown or misspelt field?)")
}

// parseExchangeRequest reads the request object with the jsontext
// tokenizer: one pass, the record kept as raw bytes for the HTCDS decoder.
// Unknown and repeated members are refused.
func parseExchangeRequest(body []byte) (*ExchangeRequest, error) {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	tok, err := dec.ReadToken()
	if err != nil {
		return nil, requestJSONError(err)
	}
	if tok.Kind() != '{' {
		return nil, notTheObject()
	}
	req := &ExchangeRequest{}
	for dec.PeekKind() != '}' {
		name, err := dec.ReadToken()
		if err != nil {
			return nil, requestJSONError(err)
		}
		var dst *string
		field := name.String() // the token is void after the next read
		switch field {
		case "destination":
			dst = &req.Destination
		case "purpose":
			dst = &req.Purpose
		case "legal_basis":
			dst = &req.LegalBasis
		case "source_record_id":
			dst = &req.SourceRecordID
		case "status_token":
			dst = &req.StatusToken
		case "record":
			v, err := dec.ReadValue()
			if err != nil {
				return nil, requestJSONError(err)
			}
			req.Record = bytes.Clone(v)
			continue
		default:
			return nil, notTheObject()
		}
		switch dec.PeekKind() {
		case '"', 'n':
		default:
			if err := dec.SkipValue(); err != nil {
				return nil, requestJSONError(err)
			}
			return nil, badRequest("malformed_json", "request field "+field+" has the wrong type")
		}
		v, err := dec.ReadToken()
		if err != nil {
			return nil, requestJSONError(err)
		}
		if v.Kind() == '"' {
			*dst = v.String()
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return nil, requestJSONError(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, requestJSONError(err)
		}
		return nil, badRequest("malformed_json", "the request body holds more than one JSON value")
	}
	return req, nil
}

func requestJSONError(err error) error {
	var (
		se *json.SyntaxError
		te *json.UnmarshalTypeError
		je *jsontext.SyntacticError
	)
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed_json", "the request body is empty or cut short")
	case errors.As(err, &je):
		if errors.Is(je.Err, jsontext.ErrDuplicateName) {
			return badRequest("malformed_json", "the request body repeats a field")
		}
		return badRequest("malformed_json", "the request body is malformed JSON near byte "+strconv.FormatInt(je.ByteOffset, 10))
	case errors.As(err, &se):
		return badRequest("malformed_json", "the request body is malformed JSON near byte "+strconv.FormatInt(se.Offset, 10))
	case errors.As(err, &te):
		return badRequest("malformed_json", "request field "+te.Field+" has the wrong type")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return badRequest("malformed_json", "the request body is empty or cut short")
	}
	return badRequest("malformed_json", "the request body is not the expected JSON object (unknown or misspelt field?)")
}

// InboxMessage is one released record as served to its destination.
type InboxMessage struct {
	ID        string          `json:"id"`
	Source    string          `json:"source"`
	Purpose   string          `json:"purpose"`
	CreatedAt time.Time       `json:"created_at"`
	Released  json.RawMessage `json:"released"`
	// Proof shows that the gateway signed exactly these released bytes
	// (crypto/batchsig): check it with batchsig.Verify and the keys of
	// GET /v1/release-keys.
	Proof json.RawMessage `json:"proof,omitempty"`
	// Sealed means Released is an envelope to the agency's envelope key:
	// open it with crypto/envelope.Open (or `tumar envelope open`), giving
	// the message id as associated data.
	Sealed bool `json:"sealed,omitempty"`
}

func (s *Server) getInbox(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
	limit := 100
	if v := r.URL.Query().Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 1000 {
			return badRequest("invalid_limit", "limit must be a whole number from 1 to 1000")
		}
		limit = n
	}
	msgs, err := s.store.Inbox(r.Context(), a.ID, limit)
	if err != nil {
		return unavailable("store_failed", "the inbox could not be read", err)
	}
	out := make([]InboxMessage, len(msgs))
	for i, m := range msgs {
		out[i] = InboxMessage{ID: m.ID, Source: m.Source, Purpose: m.Purpose, CreatedAt: m.CreatedAt, Released: m.Payload, Proof: m.Proof, Sealed: m.Sealed}
	}
	writeJSON(w, http.StatusOK, map[string]any{"messages": out})
	return nil
}

// getReleaseKeys serves the public keys that verify released records' batch
// signatures.
func (s *Server) getReleaseKeys(w http.ResponseWriter, r *http.Request, _ *config.Agency) error {
	set, err := s.ex.ReleaseKeys(r.Context())
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, set)
	return nil
}

func (s *Server) postAck(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	var req struct {
		IDs []string `json:"ids"`
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return requestJSONError(err)
	}
	if len(req.IDs) == 0 || len(req.IDs) > 1000 {
		return badRequest("invalid_ids", "ids must list 1 to 1000 message ids")
	}
	n, err := s.store.Ack(r.Context(), a.ID, req.IDs)
	if err != nil {
		return unavailable("store_failed", "the acknowledgement could not be stored", err)
	}
	s.metrics.acked.WithLabelValues(a.ID).Add(float64(n))
	writeJSON(w, http.StatusOK, map[string]int{"acknowledged": n})
	return nil
}

func (s *Server) getReady(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		s.log.Warn("not ready", slog.String(logCause, err.Error()))
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "unavailable"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

func writeError(w http.ResponseWriter, e *Error) {
	body := map[string]any{"code": e.Code, "message": e.Message}
	if len(e.Problems) > 0 {
		body["problems"] = e.Problems
	}
	if len(e.Reasons) > 0 {
		body["reasons"] = e.Reasons
	}
	switch {
	case e.RetryAfter > 0:
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Round(time.Second)/time.Second)))
	case e.Status == http.StatusServiceUnavailable:
		w.Header().Set("Retry-After", "5")
	}
	writeJSON(w, e.Status, map[string]any{"error": body})
}

// TLSConfig is the server side of mutual TLS: the gateway's certificate, and
// client certificates verified against the configured CA when given. The API
// routes refuse a request without one; health and metrics do not need one.
func TLSConfig(c config.TLS) (*tls.Config, error) {
	cert, err := tls.LoadX509KeyPair(c.Cert, c.Key)
	if err != nil {
		return nil, fmt.Errorf("gateway: load TLS certificate: %w", err)
	}
	caPEM, err := os.ReadFile(c.CA)
	if err != nil {
		return nil, fmt.Errorf("gateway: read client CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("gateway: %s holds no PEM certificate", c.CA)
	}
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		ClientCAs:    pool,
		ClientAuth:   tls.VerifyClientCertIfGiven,
		MinVersion:   tls.VersionTLS13,
	}, nil
}
