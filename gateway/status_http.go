package gateway

import (
	"bytes"
	"encoding/json"
	"net/http"

	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/htcds"
)

func (s *Server) statusRoutes(mux *http.ServeMux) {
	mux.Handle("POST /v1/status", s.agency("status", s.postStatus))
	mux.Handle("POST /v1/status-tokens", s.agency("token_issue", s.postToken))
	mux.Handle("POST /v1/status-tokens/redeem", s.agency("token_redeem", s.postRedeem))
	mux.Handle("POST /v1/status-tokens/{jti}/revoke", s.agency("token_revoke", s.postRevoke))
	mux.Handle("GET /v1/status-tokens/{jti}", s.agency("token_state", s.getToken))
	mux.Handle("POST /v1/oprf/evaluate", s.agency("oprf_evaluate", s.postEvaluate))
	mux.Handle("POST /v1/status/lookup", s.agency("status_lookup", s.postLookup))
	mux.HandleFunc("GET /.well-known/envelope-keys.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "max-age=300")
		writeJSON(w, http.StatusOK, s.envelopeKeys())
	})
	mux.HandleFunc("GET /.well-known/oprf-keys.json", func(w http.ResponseWriter, r *http.Request) {
		doc, err := s.status.OPRFKeys(r.Context())
		if err != nil {
			writeError(w, err.(*Error))
			return
		}
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(doc)
	})
	mux.HandleFunc("GET /.well-known/jwks.json", func(w http.ResponseWriter, r *http.Request) {
		set, err := s.status.JWKS(r.Context())
		if err != nil {
			writeError(w, err.(*Error))
			return
		}
		w.Header().Set("Cache-Control", "max-age=300")
		w.Header().Set("Content-Type", "application/jwk-set+json")
		json.NewEncoder(w).Encode(set)
	})
}

// decodeBody reads a JSON object within the size limit into v, refusing
// unknown fields, without ever quoting the body in an error.
func (s *Server) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	body, err := s.readBody(w, r)
	if err != nil {
		return err
	}
	return decodeStrict(body, v)
}

// decodeStrict reads one JSON object into v, refusing unknown fields and
// trailing values, without ever quoting the input in an error.
func decodeStrict(body []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		return requestJSONError(err)
	}
	if dec.More() {
		return badRequest("malformed_json", "the request body holds more than one JSON value")
	}
	return nil
}

func decodeRecord(raw json.RawMessage) (*htcds.Record, error) {
	if len(raw) == 0 {
		return nil, badRequest("missing_field", "record is required")
	}
	var rec htcds.Record
	if err := rec.UnmarshalJSON(raw); err != nil {
		return nil, invalidRecord(err)
	}
	return &rec, nil
}

func (s *Server) postStatus(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
	var req struct {
		Record       json.RawMessage `json:"record"`
		DecisionDate string          `json:"decision_date"`
	}
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	rec, err := decodeRecord(req.Record)
	if err != nil {
		return err
	}
	receipt, err := s.status.Record(r.Context(), a, rec, req.DecisionDate)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, receipt)
	return nil
}

func (s *Server) postToken(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
	var req struct {
		Record json.RawMessage `json:"record"`
		IssueRequest
	}
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	rec, err := decodeRecord(req.Record)
	if err != nil {
		return err
	}
	issued, err := s.status.Issue(r.Context(), a, rec, &req.IssueRequest)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusCreated, issued)
	return nil
}

func (s *Server) postRedeem(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
	var req struct {
		Token   string `json:"token"`
		Subject string `json:"subject"`
	}
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	if req.Token == "" {
		return badRequest("missing_field", "token is required")
	}
	red, err := s.status.Redeem(r.Context(), a, req.Token, req.Subject)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, red)
	return nil
}

func (s *Server) postRevoke(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
	t, err := s.status.Revoke(r.Context(), a, r.PathValue("jti"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, map[string]string{"jti": t.JTI, "state": string(t.State)})
	return nil
}

func (s *Server) getToken(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
	st, err := s.status.State(r.Context(), a, r.PathValue("jti"))
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, st)
	return nil
}

func (s *Server) postEvaluate(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
	var req EvaluateRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	out, err := s.status.Evaluate(r.Context(), a, &req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (s *Server) postLookup(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
	var req LookupRequest
	if err := s.decodeBody(w, r, &req); err != nil {
		return err
	}
	out, err := s.status.Lookup(r.Context(), a, &req)
	if err != nil {
		return err
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

// EnvelopeKey is one agency's published envelope key.
type EnvelopeKey struct {
	Agency string          `json:"agency"`
	Key    json.RawMessage `json:"key"` // crypto/envelope's {suite, kid, key}
}

// envelopeKeys is the document at /.well-known/envelope-keys.json: the keys
// the gateway seals each agency's releases to, as configured, so that an
// agency can check the gateway seals to the key it published.
func (s *Server) envelopeKeys() map[string][]EnvelopeKey {
	out := []EnvelopeKey{}
	for _, a := range s.cfg.Agencies {
		if a.EnvelopeKey == nil {
			continue
		}
		b, err := a.EnvelopeKey.MarshalJSON()
		if err != nil {
			continue // a key that loaded always marshals
		}
		out = append(out, EnvelopeKey{Agency: a.ID, Key: b})
	}
	return map[string][]EnvelopeKey{"keys": out}
}
