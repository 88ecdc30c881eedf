package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"
)

// On SQLite the person links (match key → person) are indexed outside the
// database, written behind the audit log by a writer of their own.
//
// Writing them in the release's transaction cost one random-position
// B-tree insert per key: three pages, six WAL writes, for every record, on
// the one writer every release waits for. Instead a release's new links go
// into pending_links in the main database, one row per audit entry,
// appended at the end of the table in the release's transaction, so they
// are exactly as durable as the entry. pending_links is the log of every
// link: its rows stay.
//
// Memory holds the queued links until the mover has written them into the
// links index (linkindex.go: a batch at a time, durably, with the log's
// last entry it holds). Every look-up consults memory first, then the
// index, so a link is visible from the commit of its release on. Opening
// the store replays into the index whatever the log has past that entry,
// before anything reads; replaying changes nothing (a key, once linked,
// keeps its person).
//
// Only the database file needs a backup: a missing index, or one from
// another history of the database, is rebuilt from the log
// (docs/operations.md). PostgreSQL writes links directly in the release's
// transaction: several replicas share it, and memory is not shared.

const (
	// linkFlushEvery is how often the background writer moves queued links.
	linkFlushEvery = 200 * time.Millisecond
	// linkFlushAt is how many queued links wake the writer early.
	linkFlushAt = 50_000
	// linkQueueMax is how many queued links make new writes wait for the
	// background writer: about 40 MB of memory.
	linkQueueMax = 400_000
	// linkRowsPerTx is how many pending_links rows one move takes.
	linkRowsPerTx = 2_000
)

// linkQueue is the links that are durable in pending_links but not yet in
// the index. The writer of a transaction adds its links after the commit,
// while still holding the store's write lock; the background writer
// freezes what is there, moves it and forgets it.
type linkQueue struct {
	flush  sync.Mutex // one mover at a time: a mover forgets only what it froze
	mu     sync.Mutex
	cond   *sync.Cond // signalled when frozen is forgotten
	active map[string]string
	frozen map[string]string // being moved into the index
	seq    int64             // the newest entry whose links are in active
	limit  int               // linkQueueMax; tests lower it
	// moved is the newest log entry whose links are durable in the index.
	moved int64
	// rebuilt tells that the last open rebuilt the index from the log.
	rebuilt bool

	// filter holds every key in the index or in the queue, so that looking
	// up a key never linked, as most of a bulk load's are, costs no read of
	// the index (a Bloom filter: it may say a key is there that is not,
	// never the reverse). Built at open; the index's lock keeps any other
	// process from linking keys it would not hold. skipped counts the
	// look-ups the filter saved.
	filter  *keyFilter
	skipped int64

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	err  error // the background writer's last error, for readiness
}

// Sizing of the links filter: for twice the keys stored at open, and at
// least linkFilterMin, with 1% false positives. Past that size it only lets
// more look-ups through to the index, until the next open sizes it again.
const (
	linkFilterMin = 4_000_000 // about 5.5 MB
	linkFilterFP  = 0.01
)

func newLinkQueue() *linkQueue {
	q := &linkQueue{active: map[string]string{}, limit: linkQueueMax, kick: make(chan struct{}, 1)}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// get returns the queued person of a key, and whether the key may be in
// the index when it is not queued.
func (q *linkQueue) get(k string) (person string, queued, stored bool) {
	if q == nil {
		return "", false, true
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	if p, ok := q.active[k]; ok {
		return p, true, false
	}
	if p, ok := q.frozen[k]; ok {
		return p, true, false
	}
	if q.filter != nil && !q.filter.hasString(k) {
		q.skipped++
		return "", false, false
	}
	return "", false, true
}

// add queues links committed by entries up to seq.
func (q *linkQueue) add(links []link, seq int64) {
	q.mu.Lock()
	for _, l := range links {
		q.active[l.key] = l.person
		if q.filter != nil {
			q.filter.addString(l.key)
		}
	}
	q.seq = seq
	n := len(q.active)
	q.mu.Unlock()
	if n >= linkFlushAt {
		select {
		case q.kick <- struct{}{}:
		default:
		}
	}
}

// waitRoom blocks while the queue is over its bound, so that a writer
// faster than the mover cannot fill memory. It gives up when the context
// ends or the mover is failing.
func (q *linkQueue) waitRoom(ctx context.Context) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.active)+len(q.frozen) < q.limit {
		return nil
	}
	stop := context.AfterFunc(ctx, func() {
		q.mu.Lock()
		q.cond.Broadcast()
		q.mu.Unlock()
	})
	defer stop()
	for len(q.active)+len(q.frozen) >= q.limit {
		if err := ctx.Err(); err != nil {
			return err
		}
		if q.err != nil {
			return fmt.Errorf("the person links are not being indexed: %w", q.err)
		}
		select {
		case q.kick <- struct{}{}:
		default:
		}
		q.cond.Wait()
	}
	return nil
}

// health is the background writer's last error.
func (q *linkQueue) health() error {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.err
}

// link is one match key linked to a person.
type link struct{ key, person string }

// legacyLinksPath is the SQLite links file of earlier versions, beside the
// main one; its links are carried into the log at open.
func legacyLinksPath(path string) string {
	return strings.TrimSuffix(path, ".db") + "-links.db"
}

// openLinks opens the links index: in a directory beside the database, or
// in memory for an in-memory database.
func (s *SQL) openLinks(path string) error {
	var fs vfs.FS
	if inMemory(path) {
		fs = vfs.NewMem()
	}
	x, err := openLinkIndex(indexDir(path), fs)
	if err != nil {
		return err
	}
	s.idx = x
	return nil
}

// startLinkWriter starts the mover.
func (s *SQL) startLinkWriter() {
	q := s.links
	q.stop, q.done = make(chan struct{}), make(chan struct{})
	go func() {
		defer close(q.done)
		t := time.NewTicker(linkFlushEvery)
		defer t.Stop()
		for {
			select {
			case <-q.stop:
				return
			case <-t.C:
			case <-q.kick:
			}
			err := s.flushLinks(context.Background())
			q.mu.Lock()
			q.err = err
			q.cond.Broadcast() // a writer waiting for room learns of a failure too
			q.mu.Unlock()
		}
	}()
}

// stopLinkWriter stops the mover and waits for it.
func (s *SQL) stopLinkWriter() {
	if s.links == nil || s.links.stop == nil {
		return
	}
	close(s.links.stop)
	<-s.links.done
	s.links.stop = nil
}

// flushLinks moves every queued link into the index. Memory forgets them
// only once they are durable there; a failure leaves them queued, in
// memory and in the log, for the next attempt.
func (s *SQL) flushLinks(ctx context.Context) error {
	q := s.links
	q.flush.Lock()
	defer q.flush.Unlock()
	q.mu.Lock()
	if q.frozen == nil {
		if len(q.active) == 0 {
			q.mu.Unlock()
			return nil
		}
		q.frozen, q.active = q.active, map[string]string{}
	}
	upTo := q.seq
	q.mu.Unlock()
	if err := s.movePending(ctx, upTo); err != nil {
		return err
	}
	q.mu.Lock()
	q.frozen = nil
	q.cond.Broadcast()
	q.mu.Unlock()
	return nil
}

// movePending writes the log's links after the index's mark, up to entry
// upTo, into the index, linkRowsPerTx rows at a time, durably.
func (s *SQL) movePending(ctx context.Context, upTo int64) error {
	q := s.links
	for {
		q.mu.Lock()
		from := q.moved
		q.mu.Unlock()
		links, last, rowHash, n, err := readPending(ctx, s.r, from, upTo, linkRowsPerTx)
		if err == nil {
			err = s.wal.settle() // only durable releases' links are moved
		}
		if err != nil {
			return fmt.Errorf("read pending links: %w", err)
		}
		if n == 0 {
			return nil
		}
		m := indexMark{seq: last, row: rowHash}
		if last > 0 {
			if m.audit, err = s.auditHash(ctx, last); err != nil {
				return fmt.Errorf("read pending links: %w", err)
			}
		}
		if err := s.idx.write(links, m); err != nil {
			return fmt.Errorf("%w: write links: %w", ErrUnavailable, err)
		}
		q.mu.Lock()
		q.moved = last
		q.mu.Unlock()
		if n < linkRowsPerTx {
			return nil
		}
	}
}

// auditHash is the hash of the audit entry seq, or nil when there is none
// (the entry was truncated away).
func (s *SQL) auditHash(ctx context.Context, seq int64) ([]byte, error) {
	var h []byte
	err := s.r.QueryRowContext(ctx, `SELECT hash FROM audit WHERE seq = ?`, seq).Scan(&h)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	return h, err
}

// readPending reads up to max pending_links rows after entry after, up to
// entry upTo, and the hash of the last one (logRowHash).
func readPending(ctx context.Context, q querier, after, upTo int64, max int) (links []link, last int64, lastHash []byte, n int, err error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, person, keys FROM pending_links WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`, after, upTo, max)
	if err != nil {
		return nil, 0, nil, 0, err
	}
	defer rows.Close()
	var person, keys string
	for rows.Next() {
		if err := rows.Scan(&last, &person, &keys); err != nil {
			return nil, 0, nil, 0, err
		}
		for k := range strings.SplitSeq(keys, "\n") {
			links = append(links, link{k, person})
		}
		n++
	}
	if n > 0 {
		lastHash = logRowHash(person, keys)
	}
	return links, last, lastHash, n, rows.Err()
}

// logRowHash identifies a row of the log by its content, for an index mark
// at a row whose audit entry is gone (truncated) or never was (carried).
func logRowHash(person, keys string) []byte {
	h := sha256.Sum256([]byte(person + "\x00" + keys))
	return h[:]
}

// logRow is the hash of the log's row seq, or nil when there is none.
func (s *SQL) logRow(ctx context.Context, seq int64) ([]byte, error) {
	var person, keys string
	err := s.r.QueryRowContext(ctx, `SELECT person, keys FROM pending_links WHERE seq = ?`, seq).Scan(&person, &keys)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return logRowHash(person, keys), nil
}

// SetLogger gives the store a logger for what it notices outside any call:
// on SQLite, the links index's errors and rebuilds.
func (s *SQL) SetLogger(l *slog.Logger) {
	if s.idx != nil {
		s.idx.log.Store(l)
	}
}

// buildLinkFilter fills the links filter with every key of the index. It
// runs at open, after recoverLinks and before anything looks a link up;
// the queue adds every key linked after that.
func (s *SQL) buildLinkFilter() error {
	n, err := s.idx.count()
	if err != nil {
		return fmt.Errorf("store: size the links filter: %w", err)
	}
	f := newKeyFilter(uint64(max(linkFilterMin, 2*n)), linkFilterFP)
	if err := s.idx.eachKey(f.add); err != nil {
		return fmt.Errorf("store: fill the links filter: %w", err)
	}
	s.links.mu.Lock()
	s.links.filter = f
	s.links.mu.Unlock()
	return nil
}

// recoverLinks, before the store serves anything, carries the links of
// earlier versions into the log, checks that the index belongs to this
// database (rebuilding it from the log if not), and replays into it what
// the log holds past its mark.
func (s *SQL) recoverLinks(ctx context.Context, path string) error {
	carried, err := s.carryLegacyLinks(ctx, path)
	if err != nil {
		return fmt.Errorf("store: carry the person links of an earlier version into the log: %w", err)
	}
	m, ok, err := s.idx.mark()
	if err != nil {
		return fmt.Errorf("%w: read the links index: %w", ErrUnavailable, err)
	}
	if _, err := s.idx.dropStringLinks(); err != nil {
		return fmt.Errorf("%w: drop the links index's links of an earlier version: %w", ErrUnavailable, err)
	}
	trusted := ok && !carried
	if trusted {
		if trusted, err = s.markHolds(ctx, m); err != nil {
			return fmt.Errorf("store: check the links index: %w", err)
		}
	}
	from := m.seq
	if !trusted {
		from = math.MinInt64
		if ok {
			if err := s.idx.wipe(); err != nil {
				return fmt.Errorf("%w: empty the links index for a rebuild: %w", ErrUnavailable, err)
			}
		}
	}
	s.links.moved, s.links.rebuilt = from, !trusted
	if err := s.movePending(ctx, math.MaxInt64); err != nil {
		return fmt.Errorf("store: index the person links left by the last run: %w", err)
	}
	return nil
}

// markHolds reports whether the index's mark is this database's: the
// audit entry at its seq has the hash the index recorded, or, where that
// entry is gone (truncated) or never was (carried rows), the log's row
// there is the one it recorded. A database restored from a backup beside
// a newer index, or another database's index, fails both.
func (s *SQL) markHolds(ctx context.Context, m indexMark) (bool, error) {
	if m.audit != nil {
		h, err := s.auditHash(ctx, m.seq)
		if err != nil || h != nil {
			return err == nil && bytes.Equal(h, m.audit), err
		}
	}
	h, err := s.logRow(ctx, m.seq)
	return err == nil && h != nil && bytes.Equal(h, m.row), err
}

// carryLegacyLinks moves links kept by earlier versions into the log, as
// rows with seq ≤ 0 (before every entry's): those of the main database's
// links table (before migration 00014) and those of the links file
// tumar-links.db (before the index), which it then deletes. It reports
// whether it carried any, so that the index is rebuilt with them.
func (s *SQL) carryLegacyLinks(ctx context.Context, path string) (bool, error) {
	var carried int64
	_, err := s.writeTx(ctx, func(tx *txx) error {
		n, err := carryRows(ctx, tx, "links")
		carried += n
		return err
	})
	if err != nil {
		return false, err
	}
	old := legacyLinksPath(path)
	if inMemory(path) {
		return carried > 0, nil
	}
	if _, err := os.Stat(old); errors.Is(err, os.ErrNotExist) {
		return carried > 0, nil
	}
	// The writer is one connection: the attached file stays attached for
	// the transaction below.
	if _, err := s.db.DB.ExecContext(ctx, `ATTACH DATABASE ? AS legacy`, old); err != nil {
		return false, err
	}
	// A crash after this commit and before the file is deleted carries
	// its rows again at the next open: the same links, so the index,
	// keeping each key's first person, is the same.
	gen, err := s.writeTx(ctx, func(tx *txx) error {
		n, err := carryRows(ctx, tx, "legacy.links")
		carried += n
		return err
	})
	_, derr := s.db.DB.ExecContext(ctx, `DETACH DATABASE legacy`)
	if err != nil {
		return false, err
	}
	if derr != nil {
		return false, derr
	}
	// The file goes only once its rows are durable in the log.
	if err := s.durable(gen); err != nil {
		return false, err
	}
	for _, f := range []string{old, old + "-wal", old + "-shm"} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
	}
	return carried > 0, nil
}

// carryRows appends the (key, person) rows of table to the log, below its
// lowest seq and 0, one row per key; from the main database's own links
// table it then deletes them.
func carryRows(ctx context.Context, tx *txx, table string) (int64, error) {
	var low int64
	if err := tx.QueryRowContext(ctx, `SELECT min(0, coalesce(min(seq), 0)) FROM pending_links`).Scan(&low); err != nil {
		return 0, err
	}
	res, err := tx.ExecContext(ctx, `INSERT INTO pending_links (seq, person, keys)
		SELECT ? - row_number() OVER (ORDER BY key), person, key FROM `+table, low)
	if err != nil {
		return 0, err
	}
	n, err := res.RowsAffected()
	if err != nil || n == 0 || table != "links" {
		return n, err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM links`)
	return n, err
}

// queueLinks records the links an audit entry makes: in pending_links on
// SQLite (the transaction's own, for its later look-ups, and memory's after
// the commit), directly in links on PostgreSQL.
func queueLinks(ctx context.Context, tx *txx, seq int64, person string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if tx.pg {
		for _, k := range keys {
			tx.pending = append(tx.pending, []any{k, person})
		}
		return nil
	}
	if tx.links == nil {
		return errNoLinks
	}
	tx.pending = append(tx.pending, []any{seq, person, strings.Join(keys, "\n")})
	if tx.own == nil {
		tx.own = map[string]string{}
	}
	for _, k := range keys {
		tx.fresh = append(tx.fresh, link{k, person})
		tx.own[k] = person
	}
	return nil
}

// errNoLinks is the answer of a store opened without its links index to a
// release.
var errNoLinks = errors.New("store: opened without its person links index, for audit, quarantine and delivery work: releases, and entries that link a person, need the process that holds the index")

// withoutLinks reports whether the transaction is on an SQLite store
// opened without its links index, where nothing may be released.
func (t *txx) withoutLinks() bool { return !t.pg && t.links == nil }

// forgetSince drops the transaction's own links from the n-th on, after a
// rollback to a savepoint undid them.
func (t *txx) forgetSince(n int) {
	for _, l := range t.fresh[n:] {
		delete(t.own, l.key)
	}
	t.fresh = t.fresh[:n]
	t.pending = t.pending[:0]
}

// writePending writes the links queueLinks gathered: pending_links rows on
// SQLite, links rows on PostgreSQL.
func writePending(ctx context.Context, tx *txx) error {
	if len(tx.pending) == 0 {
		return nil
	}
	var err error
	if tx.pg {
		err = insertRows(ctx, tx, `INSERT INTO links (key, person) VALUES `, ` ON CONFLICT (key) DO NOTHING`, tx.pending)
	} else {
		err = insertRows(ctx, tx, `INSERT INTO pending_links (seq, person, keys) VALUES `, "", tx.pending)
	}
	tx.pending = tx.pending[:0]
	if err != nil {
		return fmt.Errorf("write links: %w", err)
	}
	return nil
}

// linkSource is where links are read from past memory: SQLite's index, or
// PostgreSQL's links table.
type linkSource interface {
	lookup(ctx context.Context, keys []string, found map[string]string) error
}

// sqlLinks is a links table, read through q.
type sqlLinks struct{ q querier }

func (l sqlLinks) lookup(ctx context.Context, keys []string, found map[string]string) error {
	return storedLinks(ctx, l.q, keys, found)
}

// logLinks reads links from the log itself, for a store opened without
// its index (an audit report beside the running gateway): a scan of the
// log per key, seconds at a million entries. A key's person is that of the
// first row that links it, as in the index.
type logLinks struct{ q querier }

func (l logLinks) lookup(ctx context.Context, keys []string, found map[string]string) error {
	for _, k := range keys {
		rows, err := l.q.QueryContext(ctx, `SELECT person FROM pending_links
			WHERE instr(char(10) || keys || char(10), char(10) || ? || char(10)) > 0 ORDER BY seq LIMIT 1`, k)
		if err != nil {
			return fmt.Errorf("read links: %w", err)
		}
		for rows.Next() {
			var p string
			if err = rows.Scan(&p); err != nil {
				break
			}
			found[k] = p
		}
		if err == nil {
			err = rows.Err()
		}
		rows.Close()
		if err != nil {
			return fmt.Errorf("read links: %w", err)
		}
	}
	return nil
}

// links is where the store reads links outside a transaction.
func (s *SQL) linkSrc() linkSource {
	switch {
	case s.pg:
		return sqlLinks{s.r}
	case s.idx != nil:
		return s.idx
	default:
		return logLinks{s.r}
	}
}

// lookupLinks is lookupLinks for a read outside a transaction: it waits,
// like every read, until what it may see is durable.
func (s *SQL) lookupLinks(ctx context.Context, keys []string) (map[string]string, error) {
	found, err := lookupLinks(ctx, s.linkSrc(), s.links, nil, keys)
	if err != nil {
		return nil, err
	}
	return found, s.wal.settle()
}

// lookupLinks returns the persons the keys are linked to: the
// transaction's own new links, then the queued ones, then the index or
// table.
func lookupLinks(ctx context.Context, src linkSource, queue *linkQueue, own map[string]string, keys []string) (map[string]string, error) {
	found := make(map[string]string, len(keys))
	rest := make([]string, 0, len(keys))
	for _, k := range keys {
		if p, ok := own[k]; ok {
			found[k] = p
			continue
		}
		p, queued, stored := queue.get(k)
		switch {
		case queued:
			found[k] = p
		case stored:
			rest = append(rest, k)
		}
	}
	if len(rest) == 0 {
		return found, nil
	}
	return found, src.lookup(ctx, rest, found)
}
