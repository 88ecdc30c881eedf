package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/tumarproject/tumar/gateway/audit"
)

// CaseEvent is a crime register's news about a referral it received.
type CaseEvent struct {
	EventID         string
	Source          string // the agency that reported it
	Person          string // set by RecordCaseEvent from the referral's audit entry
	ExchangeID      string // the referral, as released by the gateway
	RegisterCaseID  string
	Kind            string // registered, requalified, discontinued, sent_to_court
	Article         string // Criminal Code article now
	PreviousArticle string // before a re-qualification
	Date            string // YYYY-MM-DD
	RecordedAt      time.Time
}

// CaseStore keeps case events against the person of the referral.
type CaseStore interface {
	// ReleasedEntry returns the audit entry of a released exchange, or ErrNotFound.
	ReleasedEntry(ctx context.Context, exchangeID string) (*audit.Entry, error)
	// RecordCaseEvent stores an event and its audit entry in one transaction;
	// an event id seen before is ErrDuplicate.
	RecordCaseEvent(ctx context.Context, ev *CaseEvent, e *audit.Entry) error
	// CaseEvents lists a person's events, oldest first.
	CaseEvents(ctx context.Context, person string) ([]CaseEvent, error)
}

var _ CaseStore = (*SQL)(nil)

// ReleasedEntry implements CaseStore.
func (s *SQL) ReleasedEntry(ctx context.Context, exchangeID string) (*audit.Entry, error) {
	e, err := scanEntry(s.r.QueryRowContext(ctx, `SELECT `+entryColumns+` JOIN outbox o ON o.decision_id = a.decision_id WHERE o.id = ?`, exchangeID))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	return e, err
}

// RecordCaseEvent implements CaseStore.
func (s *SQL) RecordCaseEvent(ctx context.Context, ev *CaseEvent, e *audit.Entry) error {
	err := s.inTx(ctx, func(tx *txx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO case_events (event_id, source, person, exchange_id, register_case_id, kind, article, previous_article, event_date, recorded_at)
			VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, ev.EventID, ev.Source, ev.Person, ev.ExchangeID, ev.RegisterCaseID, ev.Kind, ev.Article, ev.PreviousArticle, ev.Date, ts(ev.RecordedAt))
		if err != nil {
			return fmt.Errorf("write case event: %w", err)
		}
		e.Subject, e.SubjectKeys = ev.Person, nil
		return appendAudit(ctx, tx, e)
	})
	if isUniqueViolation(err) {
		return ErrDuplicate
	}
	return err
}

// CaseEvents implements CaseStore.
func (s *SQL) CaseEvents(ctx context.Context, person string) ([]CaseEvent, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT event_id, source, person, exchange_id, register_case_id, kind, article, previous_article, event_date, recorded_at
		FROM case_events WHERE person = ? ORDER BY event_date, recorded_at`, person)
	if err != nil {
		return nil, fmt.Errorf("%w: read case events: %w", ErrUnavailable, err)
	}
	defer rows.Close()
	var out []CaseEvent
	for rows.Next() {
		var (
			ev CaseEvent
			at string
		)
		if err := rows.Scan(&ev.EventID, &ev.Source, &ev.Person, &ev.ExchangeID, &ev.RegisterCaseID, &ev.Kind, &ev.Article, &ev.PreviousArticle, &ev.Date, &at); err != nil {
			return nil, fmt.Errorf("%w: read case events: %w", ErrUnavailable, err)
		}
		ev.RecordedAt = parseTS(at)
		out = append(out, ev)
	}
	return out, s.settled(rows.Err())
}
