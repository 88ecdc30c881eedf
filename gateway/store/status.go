package store

import (
	"context"
	"errors"
	"time"

	"github.com/tumarproject/tumar/gateway/audit"
)

// Errors of the status store.
var (
	ErrNotFound   = errors.New("store: not found")
	ErrReplay     = errors.New("store: token already redeemed")
	ErrRevoked    = errors.New("store: token revoked")
	ErrSuperseded = errors.New("store: token's status has been superseded")
	ErrExpired    = errors.New("store: token expired")
	// ErrOtherPerson means an entry's keys are linked to another person than
	// the one it names.
	ErrOtherPerson = errors.New("store: the keys belong to another person")
)

// Status is one recorded victim-status decision about a person.
type Status struct {
	ID           string
	Person       string // internal person id (a tumar.internal pseudonym)
	Status       string // HTCDS vic_TraffickingStatus
	DecisionOrg  string // HTCDS vic_TraffickingStatusDecisionMakingOrg
	DecisionDate string // YYYY-MM-DD
	RecordedBy   string // agency id
	RecordedAt   time.Time
	SupersededBy string // id of the decision that replaced it, "" while current
}

// TokenState is where a status token is in its life.
type TokenState string

// The token states.
const (
	TokenIssued   TokenState = "issued"
	TokenRedeemed TokenState = "redeemed"
	TokenRevoked  TokenState = "revoked"
)

// Token is the server-side record of one status token.
type Token struct {
	JTI       string
	Person    string
	StatusID  string
	Issuer    string // agency that asked for it
	Audience  string // agency it is for
	Purpose   string
	Subject   string // the audience's pseudonym of the person
	IssuedAt  time.Time
	ExpiresAt time.Time
	State     TokenState
	ChangedAt time.Time // when redeemed or revoked
}

// StatusStore keeps status decisions and the state of status tokens. Each
// write appends its audit entry in the same transaction, linking the
// entry's SubjectKeys as Store does.
//
// RedeemToken is the single-use gate: it moves a token from issued to
// redeemed exactly once. A token that is already redeemed, revoked, expired
// or whose status was superseded is refused with ErrReplay, ErrRevoked,
// ErrExpired or ErrSuperseded; the audit entry is still written, with the
// outcome the store found. Unknown ids are ErrNotFound.
type StatusStore interface {
	RecordStatus(ctx context.Context, s *Status, e *audit.Entry) error
	// Person returns the person any of the keys is linked to, or ErrNotFound.
	Person(ctx context.Context, keys []string) (string, error)
	// Persons returns every distinct person the keys are linked to, in the
	// order of the keys; none is an empty list.
	Persons(ctx context.Context, keys []string) ([]string, error)
	// CurrentStatus returns the current decision about the person any of
	// the keys is linked to.
	CurrentStatus(ctx context.Context, keys []string) (*Status, error)
	// PersonStatus returns the current decision about a person, or ErrNotFound.
	PersonStatus(ctx context.Context, person string) (*Status, error)
	StatusHistory(ctx context.Context, person string) ([]Status, error)
	IssueToken(ctx context.Context, t *Token, e *audit.Entry) error
	RedeemToken(ctx context.Context, jti string, at time.Time, e *audit.Entry) (*Token, error)
	RevokeToken(ctx context.Context, jti string, at time.Time, e *audit.Entry) (*Token, error)
	Token(ctx context.Context, jti string) (*Token, error)
}

// Gateway is everything the gateway keeps: exchanges, statuses and the
// connectors' quarantine.
type Gateway interface {
	Store
	StatusStore
	BlindStore
	QuarantineStore
	BundleStore
	CaseStore
	CursorStore
	AuditStore
	Claimer
}
