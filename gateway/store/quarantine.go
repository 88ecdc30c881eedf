package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Quarantined is a source record a connector could not bring in. Sealed
// holds the record as read from the source, sealed with the key store's
// quarantine key: it holds identities.
type Quarantined struct {
	ID             string
	Connector      string
	Position       string // "row 12", "page 3 item 7"
	SourceRecordID string
	Reason         string // never a value from the record
	Sealed         []byte
	CreatedAt      time.Time
}

// QuarantineStore keeps rejected source records until an operator retries
// or discards them. List never returns the sealed content.
type QuarantineStore interface {
	Quarantine(ctx context.Context, q *Quarantined) error
	QuarantineList(ctx context.Context, connector string) ([]Quarantined, error)
	QuarantineGet(ctx context.Context, id string) (*Quarantined, error)
	QuarantineDelete(ctx context.Context, id string) error
}

var _ QuarantineStore = (*SQL)(nil)

// Quarantine implements QuarantineStore.
func (s *SQL) Quarantine(ctx context.Context, q *Quarantined) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO quarantine (id, connector, position, source_record_id, reason, sealed, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		q.ID, q.Connector, q.Position, q.SourceRecordID, q.Reason, q.Sealed, ts(q.CreatedAt))
	if err != nil {
		return fmt.Errorf("%w: quarantine: %w", ErrUnavailable, err)
	}
	return nil
}

// QuarantineList implements QuarantineStore; an empty connector lists all.
func (s *SQL) QuarantineList(ctx context.Context, connector string) ([]Quarantined, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT id, connector, position, source_record_id, reason, created_at FROM quarantine
		WHERE ? = '' OR connector = ? ORDER BY created_at, id`, connector, connector)
	if err != nil {
		return nil, fmt.Errorf("%w: read quarantine: %w", ErrUnavailable, err)
	}
	defer rows.Close()
	var out []Quarantined
	for rows.Next() {
		var (
			q  Quarantined
			at string
		)
		if err := rows.Scan(&q.ID, &q.Connector, &q.Position, &q.SourceRecordID, &q.Reason, &at); err != nil {
			return nil, fmt.Errorf("%w: read quarantine: %w", ErrUnavailable, err)
		}
		q.CreatedAt = parseTS(at)
		out = append(out, q)
	}
	return out, s.settled(rows.Err())
}

// QuarantineGet implements QuarantineStore.
func (s *SQL) QuarantineGet(ctx context.Context, id string) (*Quarantined, error) {
	var (
		q  Quarantined
		at string
	)
	err := s.r.QueryRowContext(ctx, `SELECT id, connector, position, source_record_id, reason, sealed, created_at FROM quarantine WHERE id = ?`, id).
		Scan(&q.ID, &q.Connector, &q.Position, &q.SourceRecordID, &q.Reason, &q.Sealed, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read quarantine: %w", ErrUnavailable, err)
	}
	q.CreatedAt = parseTS(at)
	return &q, nil
}

// QuarantineDelete implements QuarantineStore.
func (s *SQL) QuarantineDelete(ctx context.Context, id string) error {
	res, err := s.db.ExecContext(ctx, `DELETE FROM quarantine WHERE id = ?`, id)
	if err != nil {
		return fmt.Errorf("%w: delete from quarantine: %w", ErrUnavailable, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrNotFound
	}
	return nil
}

// CursorStore remembers where each connector's last complete run ended.
type CursorStore interface {
	// Cursor returns the connector's cursor, "" when it has none.
	Cursor(ctx context.Context, connector string) (string, error)
	SetCursor(ctx context.Context, connector, value string) error
}

var _ CursorStore = (*SQL)(nil)

// Cursor implements CursorStore.
func (s *SQL) Cursor(ctx context.Context, connector string) (string, error) {
	var v string
	err := s.r.QueryRowContext(ctx, `SELECT value FROM cursors WHERE connector = ?`, connector).Scan(&v)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("%w: read cursor: %w", ErrUnavailable, err)
	}
	return v, nil
}

// SetCursor implements CursorStore.
func (s *SQL) SetCursor(ctx context.Context, connector, value string) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO cursors (connector, value) VALUES (?, ?) ON CONFLICT (connector) DO UPDATE SET value = excluded.value`, connector, value)
	if err != nil {
		return fmt.Errorf("%w: write cursor: %w", ErrUnavailable, err)
	}
	return nil
}
