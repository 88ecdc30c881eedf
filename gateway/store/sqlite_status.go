package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/tumarproject/tumar/gateway/audit"
)

var _ StatusStore = (*SQL)(nil)

// ts writes times at a fixed width, so that they sort as text.
func ts(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000000Z") }

func parseTS(s string) time.Time {
	t, _ := time.Parse(time.RFC3339Nano, s)
	return t
}

// RecordStatus implements StatusStore.
func (s *SQL) RecordStatus(ctx context.Context, st *Status, e *audit.Entry) error {
	return s.inTx(ctx, func(tx *txx) error {
		fresh, err := linkSubject(ctx, tx, e)
		if err != nil {
			return err
		}
		if e.Subject == "" {
			return errors.New("a status needs a person to be linked to")
		}
		st.Person = e.Subject
		if _, err := tx.ExecContext(ctx, `UPDATE statuses SET superseded_by = ? WHERE person = ? AND superseded_by IS NULL`, st.ID, st.Person); err != nil {
			return fmt.Errorf("supersede status: %w", err)
		}
		_, err = tx.ExecContext(ctx,
			`INSERT INTO statuses (id, person, status, decision_org, decision_date, recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
			st.ID, st.Person, st.Status, st.DecisionOrg, st.DecisionDate, st.RecordedBy, ts(st.RecordedAt))
		if err != nil {
			return fmt.Errorf("write status: %w", err)
		}
		return appendEntry(ctx, tx, e, fresh)
	})
}

const statusColumns = `id, person, status, decision_org, decision_date, recorded_by, recorded_at, COALESCE(superseded_by, '')`

func scanStatus(row interface{ Scan(...any) error }) (*Status, error) {
	var (
		st Status
		at string
	)
	if err := row.Scan(&st.ID, &st.Person, &st.Status, &st.DecisionOrg, &st.DecisionDate, &st.RecordedBy, &at, &st.SupersededBy); err != nil {
		return nil, err
	}
	st.RecordedAt = parseTS(at)
	return &st, nil
}

// PersonStatus implements StatusStore.
func (s *SQL) PersonStatus(ctx context.Context, person string) (*Status, error) {
	st, err := scanStatus(s.r.QueryRowContext(ctx, `SELECT `+statusColumns+` FROM statuses WHERE superseded_by IS NULL AND person = ?`, person))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read status: %w", ErrUnavailable, err)
	}
	return st, nil
}

// CurrentStatus implements StatusStore.
func (s *SQL) CurrentStatus(ctx context.Context, keys []string) (*Status, error) {
	if len(keys) == 0 {
		return nil, ErrNotFound
	}
	person, err := s.linkedPerson(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if person == "" {
		return nil, ErrNotFound
	}
	return s.PersonStatus(ctx, person)
}

// StatusHistory implements StatusStore: every decision, oldest first.
func (s *SQL) StatusHistory(ctx context.Context, person string) ([]Status, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+statusColumns+` FROM statuses WHERE person = ? ORDER BY recorded_at, id`, person)
	if err != nil {
		return nil, fmt.Errorf("%w: read statuses: %w", ErrUnavailable, err)
	}
	defer rows.Close()
	var out []Status
	for rows.Next() {
		st, err := scanStatus(rows)
		if err != nil {
			return nil, fmt.Errorf("%w: read statuses: %w", ErrUnavailable, err)
		}
		out = append(out, *st)
	}
	return out, s.settled(rows.Err())
}

// IssueToken implements StatusStore.
func (s *SQL) IssueToken(ctx context.Context, t *Token, e *audit.Entry) error {
	return s.inTx(ctx, func(tx *txx) error {
		// The status was read outside this transaction: a decision recorded
		// since then supersedes it, and no token is issued for it.
		var superseded string
		if err := tx.QueryRowContext(ctx, `SELECT COALESCE(superseded_by, '') FROM statuses WHERE id = ?`, t.StatusID).Scan(&superseded); err != nil {
			return fmt.Errorf("read status: %w", err)
		}
		if superseded != "" {
			return ErrSuperseded
		}
		_, err := tx.ExecContext(ctx,
			`INSERT INTO tokens (jti, person, status_id, issuer, audience, purpose, subject, issued_at, expires_at, state) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
			t.JTI, t.Person, t.StatusID, t.Issuer, t.Audience, t.Purpose, t.Subject, ts(t.IssuedAt), ts(t.ExpiresAt), string(TokenIssued))
		if err != nil {
			return fmt.Errorf("write token: %w", err)
		}
		t.State = TokenIssued
		// SubjectKeys, when given, are more keys of the person (its blind
		// look-up keys); one already linked to someone else is not linked.
		e.Subject = t.Person
		fresh, err := linkSubject(ctx, tx, e)
		if err != nil && !errors.Is(err, ErrOtherPerson) {
			return fmt.Errorf("link keys: %w", err)
		}
		e.Subject = t.Person
		return appendEntry(ctx, tx, e, fresh)
	})
}

const tokenColumns = `jti, person, status_id, issuer, audience, purpose, subject, issued_at, expires_at, state, COALESCE(changed_at, '')`

func scanToken(row interface{ Scan(...any) error }) (*Token, error) {
	var (
		t                           Token
		issued, expires, state, chg string
	)
	if err := row.Scan(&t.JTI, &t.Person, &t.StatusID, &t.Issuer, &t.Audience, &t.Purpose, &t.Subject, &issued, &expires, &state, &chg); err != nil {
		return nil, err
	}
	t.IssuedAt, t.ExpiresAt, t.State = parseTS(issued), parseTS(expires), TokenState(state)
	if chg != "" {
		t.ChangedAt = parseTS(chg)
	}
	return &t, nil
}

// Token implements StatusStore.
func (s *SQL) Token(ctx context.Context, jti string) (*Token, error) {
	t, err := scanToken(s.r.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE jti = ?`, jti))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read token: %w", ErrUnavailable, err)
	}
	return t, nil
}

// RedeemToken implements StatusStore.
func (s *SQL) RedeemToken(ctx context.Context, jti string, at time.Time, e *audit.Entry) (*Token, error) {
	return s.changeToken(ctx, jti, at, e, TokenRedeemed)
}

// RevokeToken implements StatusStore. Revoking a redeemed or revoked token is
// refused with ErrReplay or ErrRevoked.
func (s *SQL) RevokeToken(ctx context.Context, jti string, at time.Time, e *audit.Entry) (*Token, error) {
	return s.changeToken(ctx, jti, at, e, TokenRevoked)
}

// changeToken moves an issued token to its final state, or records why it
// could not, in one transaction with the audit entry.
func (s *SQL) changeToken(ctx context.Context, jti string, at time.Time, e *audit.Entry, to TokenState) (*Token, error) {
	var (
		t       *Token
		refusal error
	)
	err := s.inTx(ctx, func(tx *txx) error {
		var err error
		t, err = scanToken(tx.QueryRowContext(ctx, `SELECT `+tokenColumns+` FROM tokens WHERE jti = ?`+forUpdate(tx.pg), jti))
		if errors.Is(err, sql.ErrNoRows) {
			refusal = ErrNotFound
			return nil // nothing to audit against
		}
		if err != nil {
			return fmt.Errorf("read token: %w", err)
		}
		refusal = s.refusal(ctx, tx, t, at, to)
		if refusal != nil && !isRefusal(refusal) {
			return refusal
		}
		e.Subject, e.SubjectKeys, e.TokenID = t.Person, nil, t.JTI
		switch {
		case refusal == nil:
			if _, err := tx.ExecContext(ctx, `UPDATE tokens SET state = ?, changed_at = ? WHERE jti = ? AND state = ?`, string(to), ts(at), jti, string(TokenIssued)); err != nil {
				return fmt.Errorf("update token: %w", err)
			}
			t.State, t.ChangedAt = to, at
			e.Outcome = audit.Redeemed
			if to == TokenRevoked {
				e.Outcome = audit.Revoked
			}
		case errors.Is(refusal, ErrReplay) && to == TokenRedeemed:
			e.Outcome = audit.PossibleReplay
		default:
			e.Outcome = audit.Refused
			e.Reasons = append(e.Reasons, strings.TrimPrefix(refusal.Error(), "store: "))
		}
		return appendAudit(ctx, tx, e)
	})
	if err != nil {
		return nil, err
	}
	return t, refusal
}

// refusal says why a token cannot move from issued to the given state.
func (s *SQL) refusal(ctx context.Context, tx *txx, t *Token, at time.Time, to TokenState) error {
	switch t.State {
	case TokenRedeemed:
		return ErrReplay
	case TokenRevoked:
		return ErrRevoked
	}
	if to == TokenRevoked {
		return nil
	}
	if !at.Before(t.ExpiresAt) {
		return ErrExpired
	}
	var superseded string
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(superseded_by, '') FROM statuses WHERE id = ?`, t.StatusID).Scan(&superseded); err != nil {
		return fmt.Errorf("read status: %w", err)
	}
	if superseded != "" {
		return ErrSuperseded
	}
	return nil
}

func isRefusal(err error) bool {
	return errors.Is(err, ErrReplay) || errors.Is(err, ErrRevoked) || errors.Is(err, ErrExpired) || errors.Is(err, ErrSuperseded)
}

func placeholders(n int) string { return strings.TrimSuffix(strings.Repeat("?,", n), ",") }
