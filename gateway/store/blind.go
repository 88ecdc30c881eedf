package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tumarproject/tumar/gateway/audit"
)

// ErrRateLimited means an agency has used its blind evaluations for now.
var ErrRateLimited = errors.New("store: blind evaluation limit reached")

// RateLimitError is an ErrRateLimited that says when the agency may ask again.
type RateLimitError struct{ RetryAfter time.Duration }

func (e *RateLimitError) Error() string { return ErrRateLimited.Error() }

// Unwrap makes errors.Is(err, ErrRateLimited) hold.
func (e *RateLimitError) Unwrap() error { return ErrRateLimited }

// BlindEvaluation is one answered OPRF evaluation request.
type BlindEvaluation struct {
	Digest   string // of the request's blinded elements; a replay has the same
	Agency   string
	Domain   string
	Elements int
	At       time.Time
}

// BlindStore counts blind evaluations. RecordEvaluation stores one with its
// audit entry in one transaction, unless the same request (digest) was seen
// before, ErrReplay, or the agency's elements in the window ending at ev.At
// would exceed limit, a *RateLimitError. A refusal is audited too, with the
// outcome the store found, and does not count against the limit.
type BlindStore interface {
	RecordEvaluation(ctx context.Context, ev *BlindEvaluation, limit int, window time.Duration, e *audit.Entry) error
}

var _ BlindStore = (*SQL)(nil)

// RecordEvaluation implements BlindStore.
func (s *SQL) RecordEvaluation(ctx context.Context, ev *BlindEvaluation, limit int, window time.Duration, e *audit.Entry) error {
	var refusal error
	err := s.inTx(ctx, func(tx *txx) error {
		if tx.pg {
			// One agency's evaluations are counted one transaction at a
			// time, and one digest is checked by one transaction at a time
			// (two agencies could send the same batch). Always agency, then
			// digest, so no two transactions wait on each other in a cycle.
			for _, lock := range []string{"blind/agency/" + ev.Agency, "blind/digest/" + ev.Digest} {
				if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(hashtextextended(?, 0))`, lock); err != nil {
					return fmt.Errorf("lock: %w", err)
				}
			}
		}
		var seen int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM blind_evaluations WHERE digest = ?`, ev.Digest).Scan(&seen); err != nil {
			return fmt.Errorf("read evaluations: %w", err)
		}
		if seen > 0 {
			refusal = ErrReplay
			e.Outcome, e.Reasons = audit.PossibleReplay, []string{"the same blinded elements were evaluated before"}
			return appendAudit(ctx, tx, e)
		}
		var used int
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(SUM(elements), 0) FROM blind_evaluations WHERE agency = ? AND at > ?`,
			ev.Agency, ts(ev.At.Add(-window))).Scan(&used); err != nil {
			return fmt.Errorf("count evaluations: %w", err)
		}
		if used+ev.Elements > limit {
			retry, err := retryAfter(ctx, tx, ev, used-(limit-ev.Elements), window)
			if err != nil {
				return err
			}
			refusal = &RateLimitError{RetryAfter: retry}
			e.Outcome, e.Reasons = audit.Refused, []string{fmt.Sprintf("limit of %d blind evaluations per %s reached", limit, window)}
			return appendAudit(ctx, tx, e)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO blind_evaluations (digest, agency, domain, elements, at) VALUES (?, ?, ?, ?, ?)`,
			ev.Digest, ev.Agency, ev.Domain, ev.Elements, ts(ev.At)); err != nil {
			return fmt.Errorf("write evaluation: %w", err)
		}
		e.Outcome = audit.Evaluated
		return appendAudit(ctx, tx, e)
	})
	if err != nil {
		return err
	}
	return refusal
}

// retryAfter is how long until enough of the agency's counted elements leave
// the window for this request to fit: the oldest evaluations leave first.
func retryAfter(ctx context.Context, tx *txx, ev *BlindEvaluation, excess int, window time.Duration) (time.Duration, error) {
	rows, err := tx.QueryContext(ctx, `SELECT elements, at FROM blind_evaluations WHERE agency = ? AND at > ? ORDER BY at`, ev.Agency, ts(ev.At.Add(-window)))
	if err != nil {
		return 0, fmt.Errorf("read evaluations: %w", err)
	}
	defer rows.Close()
	retry := window // a request larger than the limit never fits
	for freed := 0; rows.Next(); {
		var (
			n  int
			at string
		)
		if err := rows.Scan(&n, &at); err != nil {
			return 0, fmt.Errorf("read evaluations: %w", err)
		}
		if freed += n; freed >= excess {
			retry = parseTS(at).Add(window).Sub(ev.At)
			break
		}
	}
	if err := rows.Err(); err != nil {
		return 0, fmt.Errorf("read evaluations: %w", err)
	}
	return max(retry, time.Second), nil
}
