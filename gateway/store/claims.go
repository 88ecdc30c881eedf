package store

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"
)

// Claimer hands outbox rows to one delivering process at a time.
type Claimer interface {
	// Claim takes up to limit unacknowledged messages for a destination that
	// no other owner holds, for lease; a claim whose lease ran out (its
	// process died) can be taken again, and an owner may take its own claims
	// again. Ack ends a claim for good.
	Claim(ctx context.Context, destination, owner string, limit int, lease time.Duration) ([]Message, error)
}

var _ Claimer = (*SQL)(nil)

// Claim implements Claimer: FOR UPDATE SKIP LOCKED on PostgreSQL, SQLite's
// single writer otherwise.
func (s *SQL) Claim(ctx context.Context, destination, owner string, limit int, lease time.Duration) ([]Message, error) {
	now := time.Now()
	skip := ""
	if s.pg {
		skip = " FOR UPDATE SKIP LOCKED"
	}
	if err := s.wal.health(); err != nil {
		return nil, err
	}
	gen := s.wal.begin()
	ended := false
	end := func() {
		if !ended {
			ended = true
			s.wal.end()
		}
	}
	defer end()
	rows, err := s.db.QueryContext(ctx, `UPDATE outbox SET claimed_by = ?, claimed_until = ? WHERE seq IN (
		SELECT seq FROM outbox WHERE destination = ? AND acked_at IS NULL AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)
		ORDER BY seq LIMIT ?`+skip+`)
		RETURNING id, source, destination, purpose, decision_id, created_at, payload, payload_at, payload_part, sealed, seq`,
		owner, ts(now.Add(lease)), destination, ts(now), owner, limit)
	if err != nil {
		return nil, fmt.Errorf("%w: claim: %w", ErrUnavailable, err)
	}
	defer rows.Close()
	type claimed struct {
		m    Message
		seq  int64
		at   sql.NullInt64
		part []byte
	}
	var got []claimed
	for rows.Next() {
		var (
			c       claimed
			created string
		)
		if err := rows.Scan(&c.m.ID, &c.m.Source, &c.m.Destination, &c.m.Purpose, &c.m.DecisionID, &created, &c.m.Payload, &c.at, &c.part, &c.m.Sealed, &c.seq); err != nil {
			return nil, fmt.Errorf("%w: claim: %w", ErrUnavailable, err)
		}
		c.m.CreatedAt = parseTS(created)
		got = append(got, c)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%w: claim: %w", ErrUnavailable, err)
	}
	rows.Close() // commits the claim
	end()
	if err := s.wal.wait(gen); err != nil {
		return nil, fmt.Errorf("%w: claim: %w", ErrUnavailable, err)
	}
	var hashes [][]byte
	for _, c := range got {
		if c.at.Valid && !slices.ContainsFunc(hashes, func(h []byte) bool { return bytes.Equal(h, c.part) }) {
			hashes = append(hashes, c.part)
		}
	}
	if len(hashes) > 0 {
		parts, err := readParts(ctx, s.db, hashes)
		if err != nil {
			return nil, fmt.Errorf("%w: claim: %w", ErrUnavailable, err)
		}
		for i := range got {
			if got[i].m.Payload, err = joinPart(got[i].m.Payload, got[i].at, parts[string(got[i].part)]); err != nil {
				return nil, fmt.Errorf("claim: message %s: %w", got[i].m.ID, err)
			}
		}
	}
	// RETURNING gives no order: deliver oldest first.
	for i := 1; i < len(got); i++ {
		for j := i; j > 0 && got[j].seq < got[j-1].seq; j-- {
			got[j], got[j-1] = got[j-1], got[j]
		}
	}
	out := make([]Message, len(got))
	for i := range got {
		out[i] = got[i].m
	}
	return out, nil
}
