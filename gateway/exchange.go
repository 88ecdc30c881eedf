// Package gateway is the exchange pipeline and its HTTP API: an agency submits
// one HTCDS record for a destination and a purpose; the gateway links the
// person under its internal pseudonym, asks the policy what each field may
// become, transforms the record accordingly, and commits the released record
// and its audit entry in one transaction. If any step fails, nothing is
// committed and nothing leaves.
package gateway

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/tumarproject/tumar/crypto/batchsig"
	"github.com/tumarproject/tumar/crypto/envelope"
	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/gateway/internal/jsonx"
	"github.com/tumarproject/tumar/gateway/store"
	"github.com/tumarproject/tumar/policy"
)

// Submission is one record sent by a source agency. Source comes from the
// agency's authenticated identity, never from the request body.
type Submission struct {
	Source         string
	Destination    string
	Purpose        string
	LegalBasis     string
	SourceRecordID string
	Record         *htcds.Record
	// StatusToken, when set, is a status token addressed to the source that
	// stands for the person instead of (or beside) identity fields.
	StatusToken string
}

// Receipt tells the source what happened to its record.
type Receipt struct {
	ExchangeID     string              `json:"exchange_id"`
	DecisionID     string              `json:"decision_id"`
	Outcome        audit.Outcome       `json:"outcome"`
	Rule           string              `json:"rule,omitempty"`
	PolicyRevision string              `json:"policy_revision"`
	Fields         []audit.FieldAction `json:"fields,omitempty"`
	// Version counts the releases of one source record to one destination
	// for one purpose; 0 when the submission had no source_record_id.
	Version int `json:"version,omitempty"`

	encoded *audit.EncodedFields // Fields encoded, shared with every record of the decision
}

// Released is what the destination receives: no identity unless the policy
// kept it, pseudonyms in the destination's own domain, and the rule behind
// every field.
type Released struct {
	ExchangeID     string              `json:"exchange_id"`
	DecisionID     string              `json:"decision_id"`
	Source         string              `json:"source"`
	Destination    string              `json:"destination"`
	Purpose        string              `json:"purpose"`
	LegalBasis     string              `json:"legal_basis"`
	PolicyRevision string              `json:"policy_revision"`
	ReleasedAt     time.Time           `json:"released_at"`
	SourceRecordID string              `json:"source_record_id,omitempty"` // pseudonymised in the destination's domain
	Subject        *Subject            `json:"subject,omitempty"`
	Record         json.RawMessage     `json:"record"`
	Fields         []audit.FieldAction `json:"fields"`

	encoded *audit.EncodedFields // Fields encoded, shared with every record of the decision
}

// Subject carries the person's match-key pseudonyms in the destination's
// domain, so the destination can link its own records about the same person
// without learning who it is.
type Subject struct {
	Keys []string `json:"keys"`
}

// Exchanger runs the exchange pipeline. It is safe for concurrent use.
type Exchanger struct {
	cfg    *config.Config
	keys   keys.Pseudonymizer
	policy *policy.Engine
	// decisions keeps the policy's decisions by a compact key.
	decisions decisions
	store     store.Store
	tokens    *StatusService // resolves status tokens presented instead of an identity; nil disables them
	metrics   *Metrics
	now       func() time.Time
	// release commits a release and its audit entry: the store directly, or
	// the group committer.
	release func(ctx context.Context, m *store.Message, e *audit.Entry) error
	commit  *committer
	// signer signs each commit's released records (crypto/batchsig) with the
	// audit key; nil leaves them unsigned.
	signer keys.Signer
}

// errSigning marks a release that could not be signed.
var errSigning = errors.New("gateway: the released records could not be signed")

// signBatch gives each message its batch signature and inclusion proof.
func (x *Exchanger) signBatch(ctx context.Context, msgs []*store.Message) error {
	if x.signer == nil {
		return nil
	}
	leaves := make([][]byte, len(msgs))
	for i, m := range msgs {
		if leaves[i] = m.Leaf; leaves[i] == nil {
			leaves[i] = batchsig.Leaf(m.Payload)
		}
	}
	proofs, err := batchsig.SignLeaves(ctx, x.signer, keys.SigningKeyAudit, leaves, x.now())
	if err != nil {
		return fmt.Errorf("%w: %w", errSigning, err)
	}
	// Every proof of the batch starts with the same signature: the store
	// keeps it once (store/parts.go), cut where appendProof puts it.
	sig := jsonx.AppendString(nil, proofs[0].Batch)
	sum := sha256.Sum256(sig)
	size := 0
	for i := range proofs {
		size += 64 + len(sig) + 48*len(proofs[i].Path)
	}
	buf := make([]byte, 0, size) // the batch's proofs, one after the other
	for i, m := range msgs {
		start := len(buf)
		buf = appendProofOf(buf, sig, &proofs[i])
		m.Proof = buf[start:len(buf):len(buf)]
		m.ProofCut = store.Cut{At: len(proofBatchPrefix), Part: sig, Sum: &sum}
	}
	return nil
}

// ReleaseKeys returns the public keys that verify release batch signatures.
func (x *Exchanger) ReleaseKeys(ctx context.Context) (*jose.JSONWebKeySet, error) {
	if x.signer == nil {
		return nil, &Error{Status: http.StatusNotFound, Code: "unsigned", Message: "this gateway does not sign released records"}
	}
	pubs, err := x.signer.PublicKeys(ctx, keys.SigningKeyAudit)
	if err != nil {
		return nil, unavailable("keys_failed", "the release keys could not be read", err)
	}
	return &jose.JSONWebKeySet{Keys: pubs}, nil
}

// SignReleases makes every released record carry a signature of its
// commit's batch, from the signer's audit key.
func (x *Exchanger) SignReleases(s keys.Signer) { x.signer = s }

// GroupCommit makes concurrent releases share durable transactions, when the
// store can commit batches. Close stops it.
func (x *Exchanger) GroupCommit() {
	if b, ok := x.store.(batchReleaser); ok && x.commit == nil {
		x.commit = newCommitter(b, x.signBatch)
		x.release = x.commit.release
	}
}

// Close stops the group committer, after the releases it holds.
func (x *Exchanger) Close() {
	if x.commit != nil {
		x.commit.close()
	}
}

// NewExchanger wires the pipeline. Every configured domain must have keys:
// a gateway that could not pseudonymise for some agency does not start.
func NewExchanger(ctx context.Context, cfg *config.Config, k keys.Pseudonymizer, p *policy.Engine, s store.Store, m *Metrics) (*Exchanger, error) {
	have, err := k.Domains(ctx)
	if err != nil {
		return nil, fmt.Errorf("gateway: list key domains: %w", err)
	}
	var missing []error
	for _, d := range cfg.Domains() {
		if _, ok := have[d]; !ok {
			missing = append(missing, fmt.Errorf("pseudonym domain %s has no key (run `tumar keys add-domain %s`)", d, d))
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("gateway: %w", errors.Join(missing...))
	}
	x := &Exchanger{cfg: cfg, keys: k, policy: p, store: s, metrics: m, now: time.Now}
	x.release = func(ctx context.Context, m *store.Message, e *audit.Entry) error {
		if err := x.signBatch(ctx, []*store.Message{m}); err != nil {
			return err
		}
		return x.store.Release(ctx, m, e)
	}
	return x, nil
}

// Exchange runs one submission through the pipeline. On a denial it returns an
// *Error wrapping ErrDenied, after auditing the denial; on any failure of a
// privacy control or of the store it returns an *Error and nothing is released.
func (x *Exchanger) Exchange(ctx context.Context, sub *Submission) (*Receipt, error) {
	start := x.now()
	src, dst, err := x.parties(sub)
	if err != nil {
		return nil, err
	}
	contentHash, dup, err := x.seenBefore(ctx, sub)
	if err != nil || dup != nil {
		return dup, err
	}
	decisionID := uuid.Must(uuid.NewV7()).String()
	mks, names := matchKeys(sub.Record)
	keyIn := keyInputs(mks)
	subjectKeys, err := x.internalKeys(ctx, keyIn)
	if err != nil {
		return nil, x.fail(keyStage(err), unavailable("pseudonymisation_failed", "the person could not be pseudonymised; nothing was released", err))
	}
	person, err := x.tokenPerson(ctx, sub, subjectKeys)
	if err != nil {
		return nil, err
	}
	dec, err := x.decisions.decide(ctx, x.policy, src, dst, sub)
	if err != nil {
		return nil, x.fail("policy", unavailable("policy_failed", "the release policy could not be evaluated; nothing was released", err))
	}
	entry := &audit.Entry{
		DecisionID: decisionID, Time: start, Event: "exchange", Source: src.ID, Destination: dst.ID,
		Purpose: sub.Purpose, LegalBasis: sub.LegalBasis, PolicyRevision: dec.Revision, Rule: dec.Rule, SubjectKeys: subjectKeys, Subject: person,
	}
	if !dec.Allow {
		return nil, x.deny(ctx, entry, dec)
	}
	released, err := x.transform(ctx, dst, sub, dec, mks, keyIn, names)
	if err != nil {
		return nil, x.fail(keyStage(err), err)
	}
	if person != "" {
		p, err := x.tokens.personPseudonym(ctx, dst.Domain, person)
		if err != nil {
			return nil, x.fail("key_store", err)
		}
		if released.subject == nil {
			released.subject = &Subject{}
		}
		released.subject.Keys = append([]string{p}, released.subject.Keys...)
	}
	entry.Outcome, entry.Fields, entry.Encoded = audit.Released, released.fields.List, released.fields
	exchangeID := uuid.Must(uuid.NewV7()).String()
	rel := &Released{
		ExchangeID: exchangeID, DecisionID: decisionID, Source: src.ID, Destination: dst.ID,
		Purpose: sub.Purpose, LegalBasis: sub.LegalBasis, PolicyRevision: dec.Revision, ReleasedAt: start.UTC(),
		SourceRecordID: released.sourceRecord, Subject: released.subject, Record: released.record, Fields: released.fields.List,
		encoded: released.fields,
	}
	payload, err := rel.appendJSON(make([]byte, 0, 1024+len(released.record)+len(released.fields.JSON)))
	if err != nil {
		return nil, x.fail("encode", unavailable("encode_failed", "the released record could not be encoded", err))
	}
	sealed := dst.EnvelopeKey != nil
	if sealed {
		// Only the destination can read it from here on: not the store,
		// not a backup. The exchange id is bound to the envelope.
		if payload, err = envelope.Seal(dst.EnvelopeKey, dst.ID, payload, []byte(exchangeID)); err != nil {
			return nil, x.fail("encode", unavailable("sealing_failed", "the released record could not be sealed to its recipient; nothing was released", err))
		}
	}
	msg := &store.Message{ID: exchangeID, Source: src.ID, Destination: dst.ID, Purpose: sub.Purpose, DecisionID: decisionID, CreatedAt: start, Payload: payload,
		SourceRecordID: sub.SourceRecordID, ContentHash: contentHash, Sealed: sealed}
	if x.signer != nil {
		msg.Leaf = batchsig.Leaf(payload) // here, in parallel, not on the committer's serial path
	}
	if !sealed {
		// The field decisions come last, before the closing brace.
		f := released.fields
		msg.PayloadCut = store.Cut{At: len(payload) - 1 - len(f.JSON), Part: f.JSON, Sum: &f.Sum}
	}
	if err := x.release(ctx, msg, entry); err != nil {
		var de *store.DuplicateError
		if errors.As(err, &de) {
			return duplicateReceipt(&de.Existing, dec.Revision), nil
		}
		if errors.Is(err, store.ErrOtherPerson) {
			return nil, otherPerson()
		}
		if errors.Is(err, errSigning) {
			return nil, x.fail("key_store", unavailable("signing_failed", "the release could not be signed; nothing was released", err))
		}
		return nil, x.fail("store", unavailable("store_failed", "the release could not be stored and audited; nothing was released", err))
	}
	x.metrics.released(src.ID, dst.ID, released.actions, x.now().Sub(start))
	return &Receipt{ExchangeID: exchangeID, DecisionID: decisionID, Outcome: audit.Released, Rule: dec.Rule, PolicyRevision: dec.Revision,
		Fields: released.fields.List, Version: msg.Version, encoded: released.fields}, nil
}

func (x *Exchanger) parties(sub *Submission) (src, dst *config.Agency, err error) {
	src, ok := x.cfg.Agency(sub.Source)
	if !ok {
		return nil, nil, &Error{Status: http.StatusForbidden, Code: "unknown_agency", Message: "the submitting agency is not configured", Err: ErrUnknownAgency}
	}
	dst, ok = x.cfg.Agency(sub.Destination)
	if !ok {
		return nil, nil, badRequest("unknown_destination", "destination is not a configured agency")
	}
	purpose, ok := x.cfg.Purpose(sub.Purpose)
	if !ok {
		return nil, nil, badRequest("unknown_purpose", "purpose is not a configured purpose")
	}
	basisOK := false
	for _, b := range purpose.LegalBases {
		basisOK = basisOK || b == sub.LegalBasis
	}
	if !basisOK {
		return nil, nil, badRequest("unknown_legal_basis", "legal_basis is not one of the purpose's legal bases")
	}
	if sub.Record == nil || (sub.Record.Len() == 0 && sub.StatusToken == "") {
		return nil, nil, invalidRecord(errors.New("empty record"))
	}
	return src, dst, nil
}

func (x *Exchanger) deny(ctx context.Context, entry *audit.Entry, dec *policy.Decision) error {
	entry.Outcome, entry.Reasons = audit.Denied, dec.Reasons
	if err := x.store.Audit(ctx, entry); err != nil {
		return x.fail("store", unavailable("store_failed", "the denial could not be audited", err))
	}
	x.metrics.denied(entry.Source, entry.Destination)
	return &Error{Status: http.StatusForbidden, Code: "denied", Message: "the release policy denies this exchange", Reasons: dec.Reasons, Err: ErrDenied}
}

// seenBefore makes a submission with a source record id idempotent: it
// returns the content's keyed hash, and a receipt of the earlier release when
// the latest version sent to this destination for this purpose has the same
// content. The store repeats the check inside the release's transaction.
func (x *Exchanger) seenBefore(ctx context.Context, sub *Submission) (string, *Receipt, error) {
	if sub.SourceRecordID == "" {
		return "", nil, nil
	}
	// What encoding/json writes for the record (FuzzRecordJSON), without
	// its re-scan: the hash must not change, or a record sent again would
	// count as changed.
	body, err := sub.Record.MarshalJSON()
	if err != nil {
		return "", nil, unavailable("encode_failed", "the record could not be encoded", err)
	}
	ps, err := x.keys.Pseudonymize(ctx, config.InternalDomain, [][]byte{append(append([]byte("h\x00"), body...), sub.StatusToken...)})
	if err != nil {
		return "", nil, x.fail(keyStage(err), unavailable("pseudonymisation_failed", "the record could not be hashed; nothing was released", err))
	}
	hash := ps[0].String()
	latest, err := x.store.LatestSubmission(ctx, sub.Source, sub.SourceRecordID, sub.Destination, sub.Purpose)
	switch {
	case err == nil && latest.ContentHash == hash:
		return hash, duplicateReceipt(latest, x.policy.Revision()), nil
	case err != nil && !errors.Is(err, store.ErrNotFound):
		return "", nil, x.fail("store", unavailable("store_failed", "earlier submissions could not be read", err))
	}
	return hash, nil, nil
}

func duplicateReceipt(s *store.Submission, revision string) *Receipt {
	return &Receipt{ExchangeID: s.ExchangeID, DecisionID: s.DecisionID, Outcome: audit.Duplicate, PolicyRevision: revision, Version: s.Version}
}

// tokenPerson resolves a status token presented with a submission to the
// internal person it stands for, and refuses it when the record's identity
// belongs to someone else. "" when no token was presented.
func (x *Exchanger) tokenPerson(ctx context.Context, sub *Submission, subjectKeys []string) (string, error) {
	if sub.StatusToken == "" {
		return "", nil
	}
	if x.tokens == nil {
		return "", badRequest("status_tokens_disabled", "this gateway does not take status tokens")
	}
	person, err := x.tokens.Resolve(ctx, sub.StatusToken, sub.Source)
	if err != nil {
		return "", err
	}
	if len(subjectKeys) > 0 {
		linked, err := x.tokens.store.Person(ctx, subjectKeys)
		switch {
		case err == nil && linked != person:
			return "", otherPerson()
		case err != nil && !errors.Is(err, store.ErrNotFound):
			return "", unavailable("store_failed", "the person could not be looked up", err)
		}
	}
	return person, nil
}

func otherPerson() error {
	return &Error{Status: http.StatusUnprocessableEntity, Code: "other_person", Message: "the status token belongs to another person than the record's identity; nothing was released"}
}

// keyStage names the failed stage for the metric: "key_store" when the key
// backend (Vault, the keyring) was unavailable, else "pseudonymise".
func keyStage(err error) string {
	if errors.Is(err, keys.ErrUnavailable) {
		return "key_store"
	}
	return "pseudonymise"
}

func (x *Exchanger) fail(stage string, err error) error {
	x.metrics.privacyFailure(stage)
	return err
}

func policyInput(src, dst *config.Agency, sub *Submission) *policy.Input {
	in := &policy.Input{
		Source:      policy.Party{ID: src.ID, Type: src.Type},
		Destination: policy.Party{ID: dst.ID, Type: dst.Type},
		Purpose:     sub.Purpose,
		LegalBasis:  sub.LegalBasis,
		Fields:      make([]policy.FieldRef, 0, sub.Record.Len()),
	}
	for _, e := range sub.Record.Entries() {
		f := e.Field()
		in.Fields = append(in.Fields, policy.FieldRef{Name: f.Name, Class: f.Class.String(), Kind: f.Kind.String(), Generalization: f.Gen.String()})
	}
	return in
}
