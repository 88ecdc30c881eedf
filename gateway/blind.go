package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"strconv"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/crypto/oprf"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/store"
	"github.com/tumarproject/tumar/policy"
)

// MaxLookupPseudonyms bounds one blind look-up: a person's three match keys
// under a few epochs of the look-up domain.
const MaxLookupPseudonyms = 16

// EvaluateRequest is the body of POST /v1/oprf/evaluate: blinded match keys
// (crypto/oprf), never the keys themselves.
type EvaluateRequest struct {
	Suite    string   `json:"suite"`
	Domain   string   `json:"domain"`
	Epoch    uint32   `json:"epoch,omitempty"` // 0: the domain's current epoch
	Elements []string `json:"elements"`
}

// EvaluateResponse is the gateway's blind answer, with the proof that it
// used the key it publishes for the domain and epoch.
type EvaluateResponse struct {
	Suite     string   `json:"suite"`
	Domain    string   `json:"domain"`
	Epoch     uint32   `json:"epoch"`
	PublicKey string   `json:"public_key"`
	Elements  []string `json:"elements"`
	Proof     string   `json:"proof"`
}

// Evaluate answers a blind evaluation. The request is checked, allowed by
// the status policy, counted against the agency's limit and audited, durably,
// before any evaluation is returned; a replayed request is refused.
func (s *StatusService) Evaluate(ctx context.Context, caller *config.Agency, req *EvaluateRequest) (*EvaluateResponse, error) {
	if err := req.check(); err != nil {
		return nil, err
	}
	rule, err := s.authorize(ctx, &policy.StatusInput{Action: "oprf_evaluate", Agency: party(caller), Domain: req.Domain})
	if err != nil {
		return nil, err
	}
	key, err := s.blind.Key(ctx, req.Domain, req.Epoch)
	if err != nil {
		return nil, keyError(err)
	}
	e := s.entry("oprf_evaluate", caller.ID, "", "", rule, "")
	e.Details = map[string]string{"domain": key.Domain, "epoch": strconv.FormatUint(uint64(key.Epoch), 10), "elements": strconv.Itoa(len(req.Elements))}
	ev := &store.BlindEvaluation{Digest: batchDigest(key, req.Elements), Agency: caller.ID, Domain: key.Domain, Elements: len(req.Elements), At: s.now()}
	err = s.store.RecordEvaluation(ctx, ev, s.cfg.Blind.Limit, s.cfg.Blind.Window.Duration(), e)
	s.metrics.blindEvaluation(caller.ID, e.Outcome, len(req.Elements))
	var limited *store.RateLimitError
	switch {
	case errors.As(err, &limited):
		return nil, &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", RetryAfter: limited.RetryAfter,
			Message: fmt.Sprintf("this agency has used its %d blind evaluations per %s; the refusal is audited", s.cfg.Blind.Limit, s.cfg.Blind.Window.Duration())}
	case errors.Is(err, store.ErrReplay):
		return nil, &Error{Status: http.StatusConflict, Code: "replayed", Message: "these blinded elements were evaluated before; blind them afresh. The attempt is audited as a possible replay"}
	case err != nil:
		return nil, unavailable("store_failed", "the evaluation could not be counted and audited; nothing was evaluated", err)
	}
	out, err := key.Evaluate(req.Elements)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Code: "evaluation_failed", Message: "the evaluation failed", Err: err}
	}
	return &EvaluateResponse{Suite: oprf.SuiteID, Domain: key.Domain, Epoch: key.Epoch, PublicKey: key.PublicKey(), Elements: out.Elements, Proof: out.Proof}, nil
}

// check refuses a malformed request before any key is touched.
func (req *EvaluateRequest) check() *Error {
	if req.Suite != oprf.SuiteID {
		return badRequest("unsupported_suite", "suite must be "+oprf.SuiteID)
	}
	if req.Domain == "" {
		return badRequest("missing_field", "domain is required")
	}
	if _, err := oprf.ParseBatch(req.Elements); err != nil {
		return &Error{Status: http.StatusBadRequest, Code: blindCode(err), Message: "elements: " + err.Error(), Err: err}
	}
	return nil
}

// batchDigest identifies a request's blinded elements under a key, for the
// replay check. Blinded elements are uniformly random: a digest reveals
// nothing about the inputs.
func batchDigest(k *oprf.Key, elements []string) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%d\x00", k.Domain, k.Epoch)
	for _, e := range elements {
		h.Write([]byte(e))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func blindCode(err error) string {
	switch {
	case errors.Is(err, oprf.ErrBatch):
		return "invalid_batch"
	case errors.Is(err, oprf.ErrIdentity):
		return "identity_element"
	}
	return "invalid_element"
}

func keyError(err error) *Error {
	switch {
	case errors.Is(err, keys.ErrUnknownDomain):
		return badRequest("unknown_domain", "the domain has no key")
	case errors.Is(err, keys.ErrUnknownEpoch):
		return badRequest("unknown_epoch", "the domain has no key of that epoch")
	}
	return unavailable("key_store", "the key store could not give the domain's key; nothing was evaluated", err)
}

// LookupRequest is the body of POST /v1/status/lookup: the person's blind
// pseudonyms in the look-up domain, as the agency's client finalised them.
type LookupRequest struct {
	Pseudonyms []string `json:"pseudonyms"`
	Purpose    string   `json:"purpose"`
	Encrypt    bool     `json:"encrypt"`
}

// LookupResult answers a blind look-up: whether the person has a recorded
// status and, if so, which, with a single-use token for the caller itself.
type LookupResult struct {
	Found        bool         `json:"found"`
	Status       string       `json:"status,omitempty"`
	DecisionOrg  string       `json:"decision_org,omitempty"`
	DecisionDate string       `json:"decision_date,omitempty"`
	Token        *IssuedToken `json:"token,omitempty"`
}

// Lookup finds the current status of the person whose blind pseudonyms the
// caller gives. The gateway learns who was asked about only when the person
// is already indexed, that is, has a recorded status. Every look-up is
// audited, found or not.
func (s *StatusService) Lookup(ctx context.Context, caller *config.Agency, req *LookupRequest) (*LookupResult, error) {
	if n := len(req.Pseudonyms); n == 0 || n > MaxLookupPseudonyms {
		return nil, badRequest("invalid_batch", fmt.Sprintf("pseudonyms: give 1 to %d blind pseudonyms", MaxLookupPseudonyms))
	}
	for i, p := range req.Pseudonyms {
		ps, err := keys.ParsePseudonym(p)
		if err != nil || ps.Domain != config.LookupDomain {
			return nil, badRequest("invalid_pseudonym", fmt.Sprintf("pseudonyms[%d]: not a blind pseudonym of the %s domain", i, config.LookupDomain))
		}
	}
	if _, ok := s.cfg.Purpose(req.Purpose); !ok {
		return nil, badRequest("unknown_purpose", "purpose is not a configured purpose")
	}
	rule, err := s.authorize(ctx, &policy.StatusInput{Action: "lookup", Agency: party(caller), Purpose: req.Purpose})
	if err != nil {
		return nil, err
	}
	st, err := s.store.CurrentStatus(ctx, req.Pseudonyms)
	if errors.Is(err, store.ErrNotFound) {
		e := s.entry("status_lookup", caller.ID, caller.ID, req.Purpose, rule, audit.NotFound)
		if err := s.store.Audit(ctx, e); err != nil {
			return nil, unavailable("store_failed", "the look-up could not be audited", err)
		}
		s.metrics.blindLookup(caller.ID, false)
		return &LookupResult{Found: false}, nil
	}
	if err != nil {
		return nil, unavailable("store_failed", "the status could not be read", err)
	}
	e := s.entry("status_lookup", caller.ID, caller.ID, req.Purpose, rule, audit.Issued)
	tok, err := s.issue(ctx, caller, caller, st, req.Purpose, req.Encrypt, e)
	if err != nil {
		return nil, err
	}
	s.metrics.blindLookup(caller.ID, true)
	return &LookupResult{Found: true, Status: st.Status, DecisionOrg: st.DecisionOrg, DecisionDate: st.DecisionDate, Token: tok}, nil
}

// lookupKeys are the person's blind pseudonyms in the look-up domain's
// current epoch, which index a recorded status for blind look-ups.
func (s *StatusService) lookupKeys(ctx context.Context, inputs [][]byte) ([]string, error) {
	k, err := s.blind.Key(ctx, config.LookupDomain, 0)
	if err != nil {
		return nil, unavailable("pseudonymisation_failed", "the person could not be indexed for blind look-ups; nothing was recorded", err)
	}
	out := make([]string, len(inputs))
	for i, in := range inputs {
		p, err := k.Pseudonym(in)
		if err != nil {
			return nil, unavailable("pseudonymisation_failed", "the person could not be indexed for blind look-ups; nothing was recorded", err)
		}
		out[i] = p.String()
	}
	return out, nil
}

// OPRFKey is one published OPRF public key.
type OPRFKey struct {
	Domain    string `json:"domain"`
	Epoch     uint32 `json:"epoch"`
	PublicKey string `json:"public_key"`
}

// OPRFKeys is the document at /.well-known/oprf-keys.json: what a client
// needs to blind for a domain and check the gateway's proofs.
type OPRFKeys struct {
	Suite string    `json:"suite"`
	Mode  string    `json:"mode"`
	Keys  []OPRFKey `json:"keys"`
}

// OPRFKeys lists the public OPRF key of every epoch of the look-up domain
// and of the agencies' domains, newest epoch first.
func (s *StatusService) OPRFKeys(ctx context.Context) (*OPRFKeys, error) {
	doms, err := s.keys.Domains(ctx)
	if err != nil {
		return nil, unavailable("key_store", "the key store could not list the domains", err)
	}
	doc := &OPRFKeys{Suite: oprf.SuiteID, Mode: "verifiable"}
	for _, d := range s.cfg.Domains() {
		if d == config.InternalDomain {
			continue
		}
		for epoch := doms[d]; epoch >= 1; epoch-- {
			k, err := s.blind.Key(ctx, d, epoch)
			if errors.Is(err, keys.ErrUnknownEpoch) {
				continue // retired
			}
			if err != nil {
				return nil, keyError(err)
			}
			doc.Keys = append(doc.Keys, OPRFKey{Domain: d, Epoch: epoch, PublicKey: k.PublicKey()})
		}
	}
	return doc, nil
}
