// Package audit defines the gateway's audit entries and the hash chain that
// makes the log tamper-evident: each entry's hash covers its content and the
// hash of the entry before it, so a modified, deleted, inserted or reordered
// entry breaks the chain from that point on.
//
// An entry holds agency ids, purposes, field names, actions and rules, and the
// gateway's internal pseudonym of the person: never a name, date, document,
// phone, address or free text.
package audit

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"time"
)

// Outcome is how an exchange ended.
type Outcome string

// The outcomes.
const (
	Released       Outcome = "released"
	Denied         Outcome = "denied"
	Recorded       Outcome = "recorded"        // a status decision was recorded
	Issued         Outcome = "issued"          // a status token was issued
	Redeemed       Outcome = "redeemed"        // a status token was redeemed, once
	PossibleReplay Outcome = "possible_replay" // a redeemed token was presented again
	Refused        Outcome = "refused"         // refused: a token revoked, expired or superseded; a blind evaluation over the limit
	Evaluated      Outcome = "evaluated"       // a blind (OPRF) evaluation was answered
	NotFound       Outcome = "not_found"       // a blind look-up found no recorded status
	Revoked        Outcome = "revoked"         // a status token was revoked
	Duplicate      Outcome = "duplicate"       // a record already released with the same content (receipts only, never audited)
)

// FieldAction is the action taken on one field and the policy rule behind it.
type FieldAction struct {
	Field  string `json:"field"`
	Action string `json:"action"`
	Rule   string `json:"rule"`
}

// Entry is one audit event. Its JSON form, with Hash empty, is what is hashed.
type Entry struct {
	Seq            int64     `json:"seq"`
	DecisionID     string    `json:"decision_id"`
	Time           time.Time `json:"time"`
	Event          string    `json:"event"` // "exchange", "status", "token_issue", "token_redeem", "token_revoke", "oprf_evaluate", "status_lookup"
	TokenID        string    `json:"token_id,omitempty"`
	Source         string    `json:"source"`
	Destination    string    `json:"destination"`
	Purpose        string    `json:"purpose"`
	LegalBasis     string    `json:"legal_basis"`
	PolicyRevision string    `json:"policy_revision"`
	Rule           string    `json:"rule,omitempty"`
	Outcome        Outcome   `json:"outcome"`
	Subject        string    `json:"subject,omitempty"` // internal pseudonym of the person
	// SubjectKeys are the person's match keys in the internal domain. The
	// store links them to a person inside the entry's transaction and sets
	// Subject; they are not part of the entry.
	SubjectKeys []string      `json:"-"`
	Fields      []FieldAction `json:"fields,omitempty"`
	// Encoded, when it was made for Fields itself, is their JSON form,
	// encoded once for every entry that shares them; it changes nothing
	// in the entry's bytes.
	Encoded *EncodedFields `json:"-"`
	Reasons []string       `json:"reasons,omitempty"`
	// Details are further facts of the event, never about the person: the
	// X-Road message ids of a register's call, a case event's articles.
	Details  map[string]string `json:"details,omitempty"`
	PrevHash []byte            `json:"prev_hash"`
	Hash     []byte            `json:"hash,omitempty"`
}

// Seal sets the entry's sequence number and previous hash and computes its
// hash. It returns the JSON form that was hashed (the entry without its
// hash), which is what a store keeps.
func (e *Entry) Seal(seq int64, prev []byte) ([]byte, error) {
	e.stamp(seq, prev)
	body, err := e.hashed()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	e.Hash = sum[:]
	return body, nil
}

// stamp places the entry in the chain, after prev, with its time as
// encoded (UTC, to the microsecond).
func (e *Entry) stamp(seq int64, prev []byte) {
	e.Seq = seq
	e.PrevHash = prev
	e.Time = e.Time.UTC().Truncate(time.Microsecond)
}

// SealShared is Seal for a store that keeps the field decisions many
// entries share (Encoded) once: it appends to b the body Seal returns with
// Encoded's bytes left out, and returns b with the offset in it they were
// left out at. When the body holds no shared bytes, at is -1 and the whole
// body is appended. The hash covers the whole body, as Seal's does.
func (e *Entry) SealShared(b []byte, seq int64, prev []byte) (_ []byte, at int, err error) {
	e.stamp(seq, prev)
	if err := e.checkTime(); err != nil {
		return b, -1, err
	}
	start := len(b)
	b, at = e.appendBody(b, true)
	if at < 0 {
		sum := sha256.Sum256(b[start:])
		e.Hash = sum[:]
		return b, -1, nil
	}
	h := sha256.New()
	h.Write(b[start:at])
	h.Write(e.Encoded.JSON)
	h.Write(b[at:])
	e.Hash = h.Sum(nil)
	return b, at, nil
}

// hashed is the entry's JSON form without its hash: what the hash covers.
// A time outside the years 0 to 9999 has no JSON form.
func (e *Entry) hashed() ([]byte, error) {
	if err := e.checkTime(); err != nil {
		return nil, err
	}
	n := 1024
	if e.Encoded != nil {
		n += len(e.Encoded.JSON)
	}
	return e.appendHashed(make([]byte, 0, n)), nil
}

func (e *Entry) checkTime() error {
	if y := e.Time.Year(); y < 0 || y > 9999 {
		return fmt.Errorf("audit: encode entry: year %d is outside 0 to 9999", y)
	}
	return nil
}

func (e *Entry) digest() ([]byte, error) {
	body, err := e.hashed()
	if err != nil {
		return nil, err
	}
	sum := sha256.Sum256(body)
	return sum[:], nil
}

// ErrBroken means the chain does not verify.
var ErrBroken = errors.New("audit: chain broken")

// Verify checks a run of entries that starts the chain or follows prev. It
// names the first entry that does not verify.
func Verify(prev []byte, entries []Entry) error {
	for i := range entries {
		e := &entries[i]
		if i > 0 && e.Seq != entries[i-1].Seq+1 {
			return fmt.Errorf("%w at seq %d: sequence jumps from %d", ErrBroken, e.Seq, entries[i-1].Seq)
		}
		if !bytes.Equal(e.PrevHash, prev) {
			return fmt.Errorf("%w at seq %d: does not follow the entry before it", ErrBroken, e.Seq)
		}
		h, err := e.digest()
		if err != nil {
			return err
		}
		if !bytes.Equal(h, e.Hash) {
			return fmt.Errorf("%w at seq %d: content does not match its hash", ErrBroken, e.Seq)
		}
		prev = e.Hash
	}
	return nil
}
