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

// AuditQuery filters audit entries; zero fields do not filter.
type AuditQuery struct {
	From, To time.Time
	Agency   string // source or destination
	Purpose  string
	Outcome  string
	Event    string
	Subject  string // internal person id
	Field    string // an HTCDS field the entry decided about
	After    int64  // entries with seq greater than this
	Limit    int    // default 100
}

// AuditStore searches the audit log and keeps its signed checkpoints.
type AuditStore interface {
	SearchAudit(ctx context.Context, q AuditQuery) ([]audit.Entry, error)
	// AuditHead returns the last entry's seq and hash (0 and nil when empty).
	AuditHead(ctx context.Context) (int64, []byte, error)
	AddCheckpoint(ctx context.Context, cp *audit.Checkpoint) error
	Checkpoints(ctx context.Context) ([]audit.Checkpoint, error)
	// Truncate stores a signed truncation checkpoint and deletes the
	// entries up to and including its seq, in one transaction.
	Truncate(ctx context.Context, cp *audit.Checkpoint) (int64, error)
	// LastBefore returns the seq and hash of the newest entry older than t,
	// or ErrNotFound.
	LastBefore(ctx context.Context, t time.Time) (int64, []byte, error)
}

var _ AuditStore = (*SQL)(nil)

// SearchAudit implements AuditStore. The field filter is applied to the
// decoded entries; every other filter is in SQL.
func (s *SQL) SearchAudit(ctx context.Context, q AuditQuery) ([]audit.Entry, error) {
	var (
		where []string
		args  []any
	)
	add := func(cond string, v ...any) { where = append(where, cond); args = append(args, v...) }
	add("a.seq > ?", q.After)
	if !q.From.IsZero() {
		add("a.time >= ?", ts(q.From))
	}
	if !q.To.IsZero() {
		add("a.time < ?", ts(q.To))
	}
	if q.Agency != "" {
		add("(a.source = ? OR a.destination = ?)", q.Agency, q.Agency)
	}
	if q.Purpose != "" {
		add("a.purpose = ?", q.Purpose)
	}
	if q.Outcome != "" {
		add("a.outcome = ?", q.Outcome)
	}
	if q.Subject != "" {
		add("a.subject = ?", q.Subject)
	}
	limit := q.Limit
	if limit <= 0 {
		limit = 100
	}
	rows, err := s.r.QueryContext(ctx, `SELECT `+entryColumns+` WHERE `+strings.Join(where, " AND ")+` ORDER BY a.seq`, args...)
	if err != nil {
		return nil, fmt.Errorf("%w: search audit: %w", ErrUnavailable, err)
	}
	defer rows.Close()
	var out []audit.Entry
	for rows.Next() && len(out) < limit {
		e, err := scanEntry(rows)
		if err != nil {
			return nil, err
		}
		if (q.Event == "" || e.Event == q.Event) && (q.Field == "" || e.HasField(q.Field)) {
			out = append(out, *e)
		}
	}
	return out, s.settled(rows.Err())
}

// AuditHead implements AuditStore.
func (s *SQL) AuditHead(ctx context.Context) (int64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	err := s.r.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		// Everything may have been truncated: the head is the truncation point.
		err = s.r.QueryRowContext(ctx, `SELECT seq, hash FROM checkpoints WHERE kind = 'truncation' ORDER BY seq DESC LIMIT 1`).Scan(&seq, &hash)
		if errors.Is(err, sql.ErrNoRows) {
			return 0, nil, nil
		}
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w: read audit head: %w", ErrUnavailable, err)
	}
	return seq, hash, nil
}

// AddCheckpoint implements AuditStore.
func (s *SQL) AddCheckpoint(ctx context.Context, cp *audit.Checkpoint) error {
	_, err := s.db.ExecContext(ctx, `INSERT INTO checkpoints (seq, kind, hash, signed, created_at) VALUES (?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`,
		cp.Seq, cp.Kind, cp.Hash, cp.Signed, ts(cp.Time))
	if err != nil {
		return fmt.Errorf("%w: write checkpoint: %w", ErrUnavailable, err)
	}
	return nil
}

// Checkpoints implements AuditStore, oldest first.
func (s *SQL) Checkpoints(ctx context.Context) ([]audit.Checkpoint, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT seq, kind, hash, signed, created_at FROM checkpoints ORDER BY seq, kind`)
	if err != nil {
		return nil, fmt.Errorf("%w: read checkpoints: %w", ErrUnavailable, err)
	}
	defer rows.Close()
	var out []audit.Checkpoint
	for rows.Next() {
		var (
			cp audit.Checkpoint
			at string
		)
		if err := rows.Scan(&cp.Seq, &cp.Kind, &cp.Hash, &cp.Signed, &at); err != nil {
			return nil, fmt.Errorf("%w: read checkpoints: %w", ErrUnavailable, err)
		}
		cp.Time = parseTS(at)
		out = append(out, cp)
	}
	return out, s.settled(rows.Err())
}

// Truncate implements AuditStore. It leaves the shared parts the removed
// entries referred to: every open store, and every replica, remembers the
// parts it stored and does not write them again (parts.go), so no part may
// be deleted while any store is open.
func (s *SQL) Truncate(ctx context.Context, cp *audit.Checkpoint) (int64, error) {
	var n int64
	err := s.inTx(ctx, func(tx *txx) error {
		var hash []byte
		if err := tx.QueryRowContext(ctx, `SELECT hash FROM audit WHERE seq = ?`, cp.Seq).Scan(&hash); err != nil {
			return fmt.Errorf("the truncation point is not in the log: %w", err)
		}
		if string(hash) != string(cp.Hash) {
			return errors.New("the truncation checkpoint does not match the log")
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO checkpoints (seq, kind, hash, signed, created_at) VALUES (?, ?, ?, ?, ?)`,
			cp.Seq, cp.Kind, cp.Hash, cp.Signed, ts(cp.Time)); err != nil {
			return fmt.Errorf("write truncation checkpoint: %w", err)
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM audit WHERE seq <= ?`, cp.Seq)
		if err != nil {
			return fmt.Errorf("truncate: %w", err)
		}
		n, _ = res.RowsAffected()
		return nil
	})
	return n, err
}

// LastBefore implements AuditStore.
func (s *SQL) LastBefore(ctx context.Context, t time.Time) (int64, []byte, error) {
	var (
		seq  int64
		hash []byte
	)
	err := s.r.QueryRowContext(ctx, `SELECT seq, hash FROM audit WHERE time < ? ORDER BY seq DESC LIMIT 1`, ts(t)).Scan(&seq, &hash)
	if errors.Is(err, sql.ErrNoRows) {
		return 0, nil, ErrNotFound
	}
	if err != nil {
		return 0, nil, fmt.Errorf("%w: read audit: %w", ErrUnavailable, err)
	}
	return seq, hash, nil
}
