package gateway

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

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
	batch, err := req.check()
	if err != nil {
		return nil, err
	}
	if !slices.Contains(s.cfg.Domains(), req.Domain) {
		return nil, badRequest("unknown_domain", "domain is not a configured pseudonym domain")
	}
	rule, err := s.authorizeAudited(ctx, "oprf_evaluate", &policy.StatusInput{Action: "oprf_evaluate", Agency: party(caller), Domain: req.Domain},
		map[string]string{"domain": req.Domain, "elements": strconv.Itoa(len(req.Elements))})
	if err != nil {
		return nil, err
	}
	key, err := s.blind.Key(ctx, req.Domain, req.Epoch)
	if err != nil {
		return nil, keyError(err)
	}
	e := s.entry("oprf_evaluate", caller.ID, "", "", rule, "")
	e.Details = map[string]string{"domain": key.Domain, "epoch": strconv.FormatUint(uint64(key.Epoch), 10), "elements": strconv.Itoa(len(req.Elements))}
	ev := &store.BlindEvaluation{Digest: hex.EncodeToString(batch.Digest(key.Domain, key.Epoch)), Agency: caller.ID, Domain: key.Domain, Elements: batch.Len(), At: s.now()}
	err = s.store.RecordEvaluation(ctx, ev, s.cfg.Blind.Limit, s.cfg.Blind.Window.Duration(), e)
	var limited *store.RateLimitError
	switch {
	case err == nil:
		s.metrics.blindEvaluation(caller.ID, audit.Evaluated, len(req.Elements))
	case errors.As(err, &limited):
		s.metrics.blindEvaluation(caller.ID, audit.Refused, len(req.Elements))
		return nil, &Error{Status: http.StatusTooManyRequests, Code: "rate_limited", RetryAfter: limited.RetryAfter,
			Message: fmt.Sprintf("this agency has used its %d blind evaluations per %s; the refusal is audited", s.cfg.Blind.Limit, s.cfg.Blind.Window.Duration())}
	case errors.Is(err, store.ErrReplay):
		s.metrics.blindEvaluation(caller.ID, audit.PossibleReplay, len(req.Elements))
		return nil, &Error{Status: http.StatusConflict, Code: "replayed", Message: "these blinded elements were evaluated before; blind them afresh. The attempt is audited as a possible replay"}
	default:
		return nil, unavailable("store_failed", "the evaluation could not be counted and audited; nothing was evaluated", err)
	}
	out, err := key.EvaluateBatch(batch)
	if err != nil {
		return nil, &Error{Status: http.StatusInternalServerError, Code: "evaluation_failed", Message: "the evaluation failed", Err: err}
	}
	return &EvaluateResponse{Suite: oprf.SuiteID, Domain: key.Domain, Epoch: key.Epoch, PublicKey: key.PublicKey(), Elements: out.Elements, Proof: out.Proof}, nil
}

// authorizeAudited is authorize for the blind routes: a denial is audited
// too, since probing the oracle for domains or purposes one may not use is
// what a privacy officer wants to see.
func (s *StatusService) authorizeAudited(ctx context.Context, event string, in *policy.StatusInput, details map[string]string) (string, error) {
	rule, err := s.authorize(ctx, in)
	var ge *Error
	if errors.As(err, &ge) && ge.Code == "denied" {
		e := s.entry(event, in.Agency.ID, "", in.Purpose, "", audit.Denied)
		e.Details, e.Reasons = details, []string{strings.TrimPrefix(errors.Unwrap(err).Error(), policy.ErrDenied.Error()+": ")}
		if err := s.store.Audit(ctx, e); err != nil {
			return "", unavailable("store_failed", "the refusal could not be audited", err)
		}
	}
	return rule, err
}

// check refuses a malformed request before any key is touched, and returns
// its decoded batch.
func (req *EvaluateRequest) check() (*oprf.Batch, error) {
	if req.Suite != oprf.SuiteID {
		return nil, badRequest("unsupported_suite", "suite must be "+oprf.SuiteID)
	}
	if req.Domain == "" {
		return nil, badRequest("missing_field", "domain is required")
	}
	if !keys.ValidDomain(req.Domain) {
		return nil, badRequest("unknown_domain", "domain is not a pseudonym domain")
	}
	b, err := oprf.ParseBatch(req.Elements)
	if err != nil {
		return nil, &Error{Status: http.StatusBadRequest, Code: blindCode(err), Message: "elements: " + err.Error(), Err: err}
	}
	return b, nil
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
	rule, err := s.authorizeAudited(ctx, "status_lookup", &policy.StatusInput{Action: "lookup", Agency: party(caller), Purpose: req.Purpose},
		map[string]string{"purpose": req.Purpose})
	if err != nil {
		return nil, err
	}
	persons, err := s.store.Persons(ctx, req.Pseudonyms)
	if err != nil {
		return nil, unavailable("store_failed", "the look-up index could not be read", err)
	}
	if len(persons) > 1 {
		// The keys name different people (a shared phone, say): no answer
		// is safer than the wrong person's status.
		e := s.entry("status_lookup", caller.ID, caller.ID, req.Purpose, rule, audit.Refused)
		e.Reasons = []string{"the blind pseudonyms belong to more than one person"}
		if err := s.store.Audit(ctx, e); err != nil {
			return nil, unavailable("store_failed", "the look-up could not be audited", err)
		}
		return nil, &Error{Status: http.StatusConflict, Code: "ambiguous_person",
			Message: "the match keys belong to more than one person known to the gateway; ask with fewer keys (name and birth date, or the document), or through the identifying organisation"}
	}
	var st *store.Status
	if len(persons) == 1 {
		if st, err = s.store.PersonStatus(ctx, persons[0]); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, unavailable("store_failed", "the status could not be read", err)
		}
	}
	if st == nil {
		e := s.entry("status_lookup", caller.ID, caller.ID, req.Purpose, rule, audit.NotFound)
		if err := s.store.Audit(ctx, e); err != nil {
			return nil, unavailable("store_failed", "the look-up could not be audited", err)
		}
		s.metrics.blindLookup(caller.ID, false)
		return &LookupResult{Found: false}, nil
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

// OPRFKeys lists the public OPRF keys: every epoch of the look-up domain,
// newest first, then the current epoch of each agency's domain (for blind
// pseudonyms in its own domain). The document is kept for DefaultKeyTTL; an
// agency domain whose key cannot be read is left out rather than failing the
// look-up domain's keys.
func (s *StatusService) OPRFKeys(ctx context.Context) (*OPRFKeys, error) {
	s.oprfDoc.Lock()
	defer s.oprfDoc.Unlock()
	if s.oprfDoc.doc != nil && s.now().Sub(s.oprfDoc.at) < oprf.DefaultKeyTTL {
		return s.oprfDoc.doc, nil
	}
	doms, err := s.keys.Domains(ctx)
	if err != nil {
		return nil, unavailable("key_store", "the key store could not list the domains", err)
	}
	doc := &OPRFKeys{Suite: oprf.SuiteID, Mode: "verifiable"}
	for epoch := doms[config.LookupDomain]; epoch >= 1; epoch-- {
		k, err := s.blind.Key(ctx, config.LookupDomain, epoch)
		if errors.Is(err, keys.ErrUnknownEpoch) {
			continue // retired
		}
		if err != nil {
			return nil, keyError(err)
		}
		doc.Keys = append(doc.Keys, OPRFKey{Domain: config.LookupDomain, Epoch: epoch, PublicKey: k.PublicKey()})
	}
	if len(doc.Keys) == 0 {
		return nil, keyError(keys.ErrUnknownDomain)
	}
	for _, a := range s.cfg.Agencies {
		if k, err := s.blind.Key(ctx, a.Domain, doms[a.Domain]); err == nil {
			doc.Keys = append(doc.Keys, OPRFKey{Domain: a.Domain, Epoch: k.Epoch, PublicKey: k.PublicKey()})
		}
	}
	s.oprfDoc.doc, s.oprfDoc.at = doc, s.now()
	return doc, nil
}

// oprfDocCache keeps the published OPRF keys document.
type oprfDocCache struct {
	sync.Mutex
	doc *OPRFKeys
	at  time.Time
}
