package store

import (
	"context"
	"fmt"
	"sync"
)

// submitted is a Bloom filter of the (source, source record id) of every
// submission in an SQLite store, so that checking a record never submitted
// (every record of a first bulk load) reads nothing: the exchange's
// pre-check cost 13.6 µs a record, on the read pool, and the writer's
// check a query per 128 records. It may say a record was submitted that
// was not, never the reverse.
//
// It is complete because one process at a time releases on SQLite (the
// links index's lock): a store opened without the index has none, and
// cannot release. The writer adds a submission's key as it writes the row,
// before the commit: a key added for a release that then fails only lets
// a later check through to the table.
type submitted struct {
	mu sync.Mutex
	f  *keyFilter
}

// Sizing, as for the links filter: twice the submissions at open, at least
// subFilterMin, 1% false positives.
const (
	subFilterMin = 2_000_000 // about 2.8 MB
	subFilterFP  = 0.01
)

// buildSubmitted fills the filter from the submissions the outbox keeps.
func buildSubmitted(ctx context.Context, db querier) (*submitted, error) {
	var n int64
	rows, err := db.QueryContext(ctx, `SELECT count(*) FROM outbox WHERE source_record_id IS NOT NULL`)
	if err == nil {
		for rows.Next() {
			err = rows.Scan(&n)
		}
		if err == nil {
			err = rows.Err()
		}
		rows.Close()
	}
	if err != nil {
		return nil, fmt.Errorf("store: size the submissions filter: %w", err)
	}
	s := &submitted{f: newKeyFilter(uint64(max(subFilterMin, 2*n)), subFilterFP)}
	rows, err = db.QueryContext(ctx, `SELECT source, source_record_id FROM outbox WHERE source_record_id IS NOT NULL`)
	if err != nil {
		return nil, fmt.Errorf("store: fill the submissions filter: %w", err)
	}
	defer rows.Close()
	var buf []byte
	for rows.Next() {
		var source, id string
		if err := rows.Scan(&source, &id); err != nil {
			return nil, fmt.Errorf("store: fill the submissions filter: %w", err)
		}
		buf = subFilterKey(buf[:0], source, id)
		s.f.add(buf)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: fill the submissions filter: %w", err)
	}
	return s, nil
}

func subFilterKey(buf []byte, source, id string) []byte {
	return append(append(append(buf, source...), 0), id...)
}

// mayHave reports whether the record may have been submitted; a nil filter
// (PostgreSQL) always says so.
func (s *submitted) mayHave(source, id string) bool {
	if s == nil {
		return true
	}
	var a [96]byte
	k := subFilterKey(a[:0], source, id)
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.f.has(k)
}

// add records a submission of the record.
func (s *submitted) add(source, id string) {
	if s == nil {
		return
	}
	var a [96]byte
	k := subFilterKey(a[:0], source, id)
	s.mu.Lock()
	s.f.add(k)
	s.mu.Unlock()
}
