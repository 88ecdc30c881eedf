// Package store keeps what the gateway must not lose: the outbox of released
// records waiting for their destination, and the hash-chained audit log.
//
// A release writes the outbox message and its audit entry in one transaction:
// both are durable, or neither exists. SQLite is the embedded default; a
// PostgreSQL store implements the same interface.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/tumarproject/tumar/gateway/audit"
)

var (
	// ErrUnavailable means the store cannot be written or read now.
	ErrUnavailable = errors.New("store: unavailable")
)

// Message is one released record addressed to one destination agency.
type Message struct {
	ID          string
	Source      string
	Destination string
	Purpose     string
	DecisionID  string
	CreatedAt   time.Time
	Payload     []byte // the released record as JSON
	Proof       []byte // its batch signature and inclusion proof (crypto/batchsig), as JSON; nil when unsigned
	Sealed      bool   // Payload is an envelope to the destination's key (crypto/envelope)
	// PayloadCut and ProofCut, when set, say where Payload and Proof
	// repeat a shared part (parts.go), as their maker knows: the store
	// cuts it there instead of looking for it.
	PayloadCut, ProofCut Cut
	// Leaf is Payload's leaf hash in its batch's Merkle tree
	// (batchsig.Leaf), made beside the payload; nil: the signer makes it.
	Leaf []byte
	// SourceRecordID and ContentHash, when set, make the release idempotent:
	// the same content for the same source record, destination and purpose
	// is released once; changed content is a new version.
	SourceRecordID string
	ContentHash    string
	// Version is set by Release: which version of the source record this is.
	Version int
}

// Submission is the latest version of a source record sent to a destination
// for a purpose.
type Submission struct {
	Version     int
	ContentHash string
	ExchangeID  string
	DecisionID  string
}

// DuplicateError is returned by Release for content already released.
type DuplicateError struct {
	Existing Submission
}

func (e *DuplicateError) Error() string { return "store: this content was already released" }

// Unwrap lets callers test for ErrDuplicate.
func (e *DuplicateError) Unwrap() error { return ErrDuplicate }

// ErrDuplicate is wrapped by DuplicateError.
var ErrDuplicate = errors.New("store: duplicate submission")

// Store is the gateway's durable state.
//
// Release and Audit append to the audit chain: the store assigns the sequence
// number and previous hash and seals the entry inside its transaction. Before
// sealing, they link the entry's SubjectKeys: if any key is already linked,
// the entry's Subject is that person; keys not yet linked are linked to it.
// A new person is named by its first key, unless the entry already names a
// person (known from a status token); keys linked to someone else than the
// named person are refused with ErrOtherPerson. Ack is
// idempotent and only acknowledges messages addressed to the given destination.
// Inbox never returns an acknowledged message.
type Store interface {
	// Release commits a message and its audit entry atomically. With an
	// idempotency key it returns a *DuplicateError, writing nothing, when the
	// latest version has the same content.
	Release(ctx context.Context, m *Message, e *audit.Entry) error
	// LatestSubmission returns the latest version of a source record sent
	// to a destination for a purpose, or ErrNotFound.
	LatestSubmission(ctx context.Context, source, sourceRecordID, destination, purpose string) (*Submission, error)
	// Audit appends an audit entry with no message (a denial, say).
	Audit(ctx context.Context, e *audit.Entry) error
	// Inbox returns up to limit unacknowledged messages for a destination, oldest first.
	Inbox(ctx context.Context, destination string, limit int) ([]Message, error)
	// Ack acknowledges messages by id and returns how many were newly acknowledged.
	Ack(ctx context.Context, destination string, ids []string) (int, error)
	// AuditLog returns up to limit entries with seq greater than after, in order.
	AuditLog(ctx context.Context, after int64, limit int) ([]audit.Entry, error)
	// Ping reports whether the store is usable.
	Ping(ctx context.Context) error
	Close() error
}
