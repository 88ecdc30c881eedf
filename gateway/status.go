package gateway

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
	"github.com/google/uuid"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/crypto/oprf"
	"github.com/tumarproject/tumar/crypto/token"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/gateway/store"
	"github.com/tumarproject/tumar/policy"
)

// Issuer is the "iss" of every status token this gateway signs.
const Issuer = "tumar"

// StatusService records victim-status decisions once and issues, redeems and
// revokes the single-use tokens that stand in for the person afterwards.
// Which agency may do what is the policy's decision.
type StatusService struct {
	cfg    *config.Config
	keys   keys.Pseudonymizer
	signer keys.Signer
	policy *policy.Engine
	store  store.Gateway
	// blind derives the OPRF keys of blind evaluations and look-ups.
	blind   *oprf.Keyring
	oprfDoc oprfDocCache
	metrics *Metrics
	now     func() time.Time
}

// NewStatusService wires the service; the key backend must also sign.
func NewStatusService(cfg *config.Config, k keys.Pseudonymizer, p *policy.Engine, s store.Gateway, m *Metrics) (*StatusService, error) {
	signer, ok := k.(keys.Signer)
	if !ok {
		return nil, errors.New("gateway: the key backend cannot sign status tokens")
	}
	return &StatusService{cfg: cfg, keys: k, signer: signer, policy: p, store: s, blind: oprf.NewKeyring(k, 0), metrics: m, now: time.Now}, nil
}

// StatusRequest is the body of POST /v1/status: the person's identity and the
// decision, as HTCDS fields, and the decision's date.
type StatusRequest struct {
	Record       *htcds.Record `json:"-"`
	DecisionDate string        `json:"decision_date"`
}

// StatusReceipt answers a recorded decision.
type StatusReceipt struct {
	StatusID   string `json:"status_id"`
	Status     string `json:"status"`
	Superseded bool   `json:"superseded"` // an earlier decision about the person was replaced
}

// Record stores a status decision about the person the record identifies.
func (s *StatusService) Record(ctx context.Context, caller *config.Agency, rec *htcds.Record, decisionDate string) (*StatusReceipt, error) {
	rule, err := s.authorize(ctx, &policy.StatusInput{Action: "record", Agency: party(caller)})
	if err != nil {
		return nil, err
	}
	status, org := fieldString(rec, "vic_TraffickingStatus"), fieldString(rec, "vic_TraffickingStatusDecisionMakingOrg")
	if status == "" || org == "" {
		return nil, badRequest("missing_field", "record must hold vic_TraffickingStatus and vic_TraffickingStatusDecisionMakingOrg")
	}
	if t, err := htcds.ParseDate(decisionDate); err != nil || t.After(s.now()) {
		return nil, badRequest("invalid_decision_date", "decision_date must be a past or present date in the form YYYY-MM-DD")
	}
	in := matchInputs(rec)
	subjectKeys, err := s.internalKeys(ctx, in)
	if err != nil {
		return nil, err
	}
	blindKeys, err := s.lookupKeys(ctx, in)
	if err != nil {
		return nil, err
	}
	prev, err := s.store.CurrentStatus(ctx, subjectKeys)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, unavailable("store_failed", "the status could not be read", err)
	}
	st := &store.Status{ID: uuid.Must(uuid.NewV7()).String(), Status: status, DecisionOrg: org, DecisionDate: decisionDate,
		RecordedBy: caller.ID, RecordedAt: s.now()}
	e := s.entry("status", caller.ID, "", "", rule, audit.Recorded)
	e.SubjectKeys = append(subjectKeys, blindKeys...)
	if err := s.store.RecordStatus(ctx, st, e); err != nil {
		return nil, unavailable("store_failed", "the status could not be recorded and audited; nothing was recorded", err)
	}
	return &StatusReceipt{StatusID: st.ID, Status: st.Status, Superseded: prev != nil}, nil
}

// IssueRequest is the body of POST /v1/status-tokens.
type IssueRequest struct {
	Audience string `json:"audience"`
	Purpose  string `json:"purpose"`
	Encrypt  bool   `json:"encrypt"`
}

// IssuedToken answers POST /v1/status-tokens.
type IssuedToken struct {
	Token     string    `json:"token"`
	JTI       string    `json:"jti"`
	ExpiresAt time.Time `json:"expires_at"`
	Encrypted bool      `json:"encrypted"`
}

// Issue signs a token of the person's current status for an audience.
func (s *StatusService) Issue(ctx context.Context, caller *config.Agency, rec *htcds.Record, req *IssueRequest) (*IssuedToken, error) {
	aud, ok := s.cfg.Agency(req.Audience)
	if !ok {
		return nil, badRequest("unknown_audience", "audience is not a configured agency")
	}
	if _, ok := s.cfg.Purpose(req.Purpose); !ok {
		return nil, badRequest("unknown_purpose", "purpose is not a configured purpose")
	}
	rule, err := s.authorize(ctx, &policy.StatusInput{Action: "issue", Agency: party(caller), Audience: party(aud), Purpose: req.Purpose})
	if err != nil {
		return nil, err
	}
	in := matchInputs(rec)
	subjectKeys, err := s.internalKeys(ctx, in)
	if err != nil {
		return nil, err
	}
	st, err := s.store.CurrentStatus(ctx, subjectKeys)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Status: http.StatusNotFound, Code: "no_status", Message: "no status has been recorded for this person"}
	}
	if err != nil {
		return nil, unavailable("store_failed", "the status could not be read", err)
	}
	// The identity is here: index the person for blind look-ups too, in case
	// the status was recorded before look-ups existed.
	blindKeys, err := s.lookupKeys(ctx, in)
	if err != nil {
		return nil, err
	}
	e := s.entry("token_issue", caller.ID, aud.ID, req.Purpose, rule, audit.Issued)
	e.SubjectKeys = blindKeys
	return s.issue(ctx, caller, aud, st, req.Purpose, req.Encrypt, e)
}

// issue signs, stores and audits (with e) a token of a person's current
// status for an audience.
func (s *StatusService) issue(ctx context.Context, caller, aud *config.Agency, st *store.Status, purpose string, encrypt bool, e *audit.Entry) (*IssuedToken, error) {
	subject, err := s.personPseudonym(ctx, aud.Domain, st.Person)
	if err != nil {
		return nil, err
	}
	now := s.now().UTC().Truncate(time.Second)
	t := &store.Token{JTI: uuid.Must(uuid.NewV7()).String(), Person: st.Person, StatusID: st.ID, Issuer: caller.ID, Audience: aud.ID,
		Purpose: purpose, Subject: subject, IssuedAt: now, ExpiresAt: now.Add(s.cfg.Tokens.TTL.Duration())}
	claims := &token.Claims{
		Claims: jwt.Claims{Issuer: Issuer, Subject: subject, Audience: jwt.Audience{aud.ID}, ID: t.JTI,
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(t.ExpiresAt)},
		Status: st.Status, DecisionOrg: st.DecisionOrg, DecisionDate: st.DecisionDate, Purpose: purpose,
	}
	signed, err := token.Issue(ctx, s.signer, keys.SigningKeyTokens, claims)
	if err != nil {
		return nil, unavailable("signing_failed", "the token could not be signed; nothing was issued", err)
	}
	out := &IssuedToken{Token: signed, JTI: t.JTI, ExpiresAt: t.ExpiresAt}
	if encrypt {
		if out.Token, err = s.encrypt(aud, signed); err != nil {
			return nil, err
		}
		out.Encrypted = true
	}
	e.TokenID = t.JTI
	if err := s.store.IssueToken(ctx, t, e); errors.Is(err, store.ErrSuperseded) {
		return nil, &Error{Status: http.StatusConflict, Code: "superseded", Message: "the person's status changed while the token was being issued; nothing was issued, ask again"}
	} else if err != nil {
		return nil, unavailable("store_failed", "the token could not be stored and audited; nothing was issued", err)
	}
	return out, nil
}

func (s *StatusService) encrypt(aud *config.Agency, signed string) (string, error) {
	if aud.TokenKey == nil {
		return "", badRequest("no_encryption_key", "the audience has no token encryption key configured")
	}
	jwe, err := token.Encrypt(signed, aud.TokenKey, aud.ID+"-token-encryption")
	if err != nil {
		return "", unavailable("encryption_failed", "the token could not be encrypted; nothing was issued", err)
	}
	return jwe, nil
}

// Redeemed is what the audience learns by redeeming: its own pseudonym of
// the person and the status, never the identity.
type Redeemed struct {
	Subject      string `json:"subject"`
	Status       string `json:"status"`
	DecisionOrg  string `json:"decision_org"`
	DecisionDate string `json:"decision_date"`
	Purpose      string `json:"purpose"`
	JTI          string `json:"jti"`
}

// Redeem checks a token addressed to the caller and consumes it, once. If
// expectSubject is given (the caller's pseudonym of the person in front of
// it), a token of another person is refused.
func (s *StatusService) Redeem(ctx context.Context, caller *config.Agency, tok, expectSubject string) (*Redeemed, error) {
	c, err := s.verify(ctx, tok, caller.ID)
	if err != nil {
		return nil, err
	}
	stored, err := s.store.Token(ctx, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, &Error{Status: http.StatusUnauthorized, Code: "unknown_token", Message: "the token was not issued by this gateway"}
	}
	if err != nil {
		return nil, unavailable("store_failed", "the token could not be read", err)
	}
	in := &policy.StatusInput{Action: "redeem", Agency: party(caller)}
	in.Token.Issuer, in.Token.Audience = stored.Issuer, stored.Audience
	rule, err := s.authorize(ctx, in)
	if err != nil {
		return nil, err
	}
	e := s.entry("token_redeem", caller.ID, stored.Audience, stored.Purpose, rule, "")
	if expectSubject != "" && expectSubject != c.Subject {
		e.Outcome, e.Reasons, e.Subject, e.TokenID = audit.Refused, []string{"token presented for another person"}, stored.Person, stored.JTI
		if err := s.store.Audit(ctx, e); err != nil {
			return nil, unavailable("store_failed", "the refusal could not be audited", err)
		}
		return nil, &Error{Status: http.StatusUnprocessableEntity, Code: "other_person", Message: "the token belongs to another person than the one expected"}
	}
	if _, err := s.store.RedeemToken(ctx, c.ID, s.now(), e); err != nil {
		return nil, redeemError(err)
	}
	return &Redeemed{Subject: c.Subject, Status: c.Status, DecisionOrg: c.DecisionOrg, DecisionDate: c.DecisionDate, Purpose: c.Purpose, JTI: c.ID}, nil
}

func redeemError(err error) error {
	switch {
	case errors.Is(err, store.ErrReplay):
		return &Error{Status: http.StatusConflict, Code: "already_redeemed", Message: "the token was already redeemed; this attempt is audited as a possible replay"}
	case errors.Is(err, store.ErrRevoked):
		return &Error{Status: http.StatusGone, Code: "revoked", Message: "the token was revoked"}
	case errors.Is(err, store.ErrSuperseded):
		return &Error{Status: http.StatusGone, Code: "superseded", Message: "the person's status has changed since the token was issued; ask for a new token"}
	case errors.Is(err, store.ErrExpired):
		return &Error{Status: http.StatusGone, Code: "expired", Message: "the token has expired"}
	case errors.Is(err, store.ErrNotFound):
		return &Error{Status: http.StatusNotFound, Code: "unknown_token", Message: "no such token"}
	}
	return unavailable("store_failed", "the redemption could not be stored and audited", err)
}

// Resolve checks a status token presented by its audience with a referral
// and returns the internal person it stands for. It does not consume the
// token: redemption is POST /v1/status-tokens/redeem. A revoked, expired or
// superseded token is refused.
func (s *StatusService) Resolve(ctx context.Context, tok, audience string) (string, error) {
	c, err := s.verify(ctx, tok, audience)
	if err != nil {
		return "", err
	}
	t, err := s.store.Token(ctx, c.ID)
	if errors.Is(err, store.ErrNotFound) {
		return "", &Error{Status: http.StatusUnauthorized, Code: "unknown_token", Message: "the token was not issued by this gateway"}
	}
	if err != nil {
		return "", unavailable("store_failed", "the token could not be read", err)
	}
	if t.State == store.TokenRevoked {
		return "", redeemError(store.ErrRevoked)
	}
	if sup, err := s.superseded(ctx, t); err != nil {
		return "", err
	} else if sup {
		return "", redeemError(store.ErrSuperseded)
	}
	return t.Person, nil
}

// Revoke revokes an issued token.
func (s *StatusService) Revoke(ctx context.Context, caller *config.Agency, jti string) (*store.Token, error) {
	stored, rule, err := s.stored(ctx, caller, jti, "revoke")
	if err != nil {
		return nil, err
	}
	e := s.entry("token_revoke", caller.ID, stored.Audience, stored.Purpose, rule, "")
	t, err := s.store.RevokeToken(ctx, jti, s.now(), e)
	if err != nil {
		return nil, redeemError(err)
	}
	return t, nil
}

// TokenState is the answer of GET /v1/status-tokens/{jti}.
type TokenState struct {
	JTI       string    `json:"jti"`
	State     string    `json:"state"` // issued, redeemed, revoked, expired, superseded
	Audience  string    `json:"audience"`
	Purpose   string    `json:"purpose"`
	IssuedAt  time.Time `json:"issued_at"`
	ExpiresAt time.Time `json:"expires_at"`
}

// State reports a token's state to its issuer or audience.
func (s *StatusService) State(ctx context.Context, caller *config.Agency, jti string) (*TokenState, error) {
	t, _, err := s.stored(ctx, caller, jti, "read")
	if err != nil {
		return nil, err
	}
	state := string(t.State)
	if t.State == store.TokenIssued {
		if !s.now().Before(t.ExpiresAt) {
			state = "expired"
		} else if sup, err := s.superseded(ctx, t); err != nil {
			return nil, err
		} else if sup {
			state = "superseded"
		}
	}
	return &TokenState{JTI: t.JTI, State: state, Audience: t.Audience, Purpose: t.Purpose, IssuedAt: t.IssuedAt, ExpiresAt: t.ExpiresAt}, nil
}

func (s *StatusService) superseded(ctx context.Context, t *store.Token) (bool, error) {
	hist, err := s.store.StatusHistory(ctx, t.Person)
	if err != nil {
		return false, unavailable("store_failed", "the status could not be read", err)
	}
	for _, h := range hist {
		if h.ID == t.StatusID {
			return h.SupersededBy != "", nil
		}
	}
	return false, nil
}

// stored reads a token and asks the policy whether the caller may act on it.
func (s *StatusService) stored(ctx context.Context, caller *config.Agency, jti, action string) (*store.Token, string, error) {
	t, err := s.store.Token(ctx, jti)
	if errors.Is(err, store.ErrNotFound) {
		return nil, "", &Error{Status: http.StatusNotFound, Code: "unknown_token", Message: "no such token"}
	}
	if err != nil {
		return nil, "", unavailable("store_failed", "the token could not be read", err)
	}
	in := &policy.StatusInput{Action: action, Agency: party(caller)}
	in.Token.Issuer, in.Token.Audience = t.Issuer, t.Audience
	rule, err := s.authorize(ctx, in)
	if err != nil {
		return nil, "", err
	}
	return t, rule, nil
}

// JWKS returns the public keys that verify status tokens.
func (s *StatusService) JWKS(ctx context.Context) (*jose.JSONWebKeySet, error) {
	pubs, err := s.signer.PublicKeys(ctx, keys.SigningKeyTokens)
	if err != nil {
		return nil, unavailable("keys_failed", "the token keys could not be read", err)
	}
	return &jose.JSONWebKeySet{Keys: pubs}, nil
}

// verify checks a signed token addressed to the caller, mapping each failure
// to its own status and code.
func (s *StatusService) verify(ctx context.Context, tok, audience string) (*token.Claims, error) {
	set, err := s.JWKS(ctx)
	if err != nil {
		return nil, err
	}
	v := &token.Verifier{Keys: *set, Issuer: Issuer, Now: s.now}
	c, err := v.Verify(tok, audience)
	if err != nil {
		status := http.StatusUnauthorized
		if errors.Is(err, token.ErrAudience) {
			status = http.StatusForbidden
		}
		return nil, &Error{Status: status, Code: "invalid_token", Message: err.Error()}
	}
	return c, nil
}

func (s *StatusService) authorize(ctx context.Context, in *policy.StatusInput) (string, error) {
	rule, err := s.policy.Authorize(ctx, in)
	switch {
	case errors.Is(err, policy.ErrDenied):
		return "", &Error{Status: http.StatusForbidden, Code: "denied", Message: "the policy does not allow this agency to " + in.Action, Err: err}
	case err != nil:
		return "", unavailable("policy_failed", "the status policy could not be evaluated", err)
	}
	return rule, nil
}

// internalKeys are the person's match keys (matchInputs) in the internal
// domain; a record that identifies no one is refused.
func (s *StatusService) internalKeys(ctx context.Context, in [][]byte) ([]string, error) {
	if len(in) == 0 {
		return nil, &Error{Status: http.StatusUnprocessableEntity, Code: "not_enough_to_identify",
			Message: "the record does not identify the person: give a name and birth date, a document or a mobile phone"}
	}
	ps, err := s.keys.Pseudonymize(ctx, config.InternalDomain, in)
	if err != nil {
		return nil, unavailable("pseudonymisation_failed", "the person could not be pseudonymised", err)
	}
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.String()
	}
	return out, nil
}

// personPseudonym is an agency's pseudonym of an internal person id: the
// subject of status tokens, stable for the person whatever identity parts
// later records carry.
func (s *StatusService) personPseudonym(ctx context.Context, domain, person string) (string, error) {
	ps, err := s.keys.Pseudonymize(ctx, domain, [][]byte{[]byte("p\x00" + person)})
	if err != nil {
		return "", unavailable("pseudonymisation_failed", "the person could not be pseudonymised", err)
	}
	return ps[0].String(), nil
}

func (s *StatusService) entry(event, source, dest, purpose, rule string, outcome audit.Outcome) *audit.Entry {
	return &audit.Entry{DecisionID: uuid.Must(uuid.NewV7()).String(), Time: s.now(), Event: event, Source: source, Destination: dest,
		Purpose: purpose, PolicyRevision: s.policy.Revision(), Rule: rule, Outcome: outcome}
}

func party(a *config.Agency) policy.Party {
	return policy.Party{ID: a.ID, Type: a.Type, Domain: a.Domain}
}

func fieldString(rec *htcds.Record, name string) string {
	f, ok := htcds.Lookup(name)
	if !ok {
		panic(fmt.Sprintf("gateway: %s is not in the catalogue", name)) // a programming error
	}
	v, _ := rec.Get(f.ID)
	return v.Str
}
