package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Bundle is an imported consular bundle.
type Bundle struct {
	Consulate  string
	Sequence   uint64
	BundleID   string
	Digest     string
	ImportedAt time.Time
}

// BundleStore remembers imported bundles by consulate and sequence number.
type BundleStore interface {
	// Bundle returns the bundle imported under a sequence number, or ErrNotFound.
	Bundle(ctx context.Context, consulate string, seq uint64) (*Bundle, error)
	// RecordBundle records an import; a sequence number already taken is ErrDuplicate.
	RecordBundle(ctx context.Context, b *Bundle) error
}

var _ BundleStore = (*SQL)(nil)

// Bundle implements BundleStore.
func (s *SQL) Bundle(ctx context.Context, consulate string, seq uint64) (*Bundle, error) {
	b := Bundle{Consulate: consulate, Sequence: seq}
	var at string
	err := s.r.QueryRowContext(ctx, `SELECT bundle_id, digest, imported_at FROM bundles WHERE consulate = ? AND sequence = ?`, consulate, seq).
		Scan(&b.BundleID, &b.Digest, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("%w: read bundles: %w", ErrUnavailable, err)
	}
	b.ImportedAt = parseTS(at)
	return &b, nil
}

// RecordBundle implements BundleStore.
func (s *SQL) RecordBundle(ctx context.Context, b *Bundle) error {
	res, err := s.db.ExecContext(ctx, `INSERT INTO bundles (consulate, sequence, bundle_id, digest, imported_at) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (consulate, sequence) DO NOTHING`, b.Consulate, b.Sequence, b.BundleID, b.Digest, ts(b.ImportedAt))
	if err != nil {
		return fmt.Errorf("%w: record bundle: %w", ErrUnavailable, err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return ErrDuplicate
	}
	return nil
}
