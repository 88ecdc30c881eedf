package store

import (
	"context"
	"embed"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bits-and-blooms/bloom/v3"
)

// On SQLite the person links (match key → person) live in a database file
// of their own, written behind the audit log by a writer of their own.
//
// Writing them in the release's transaction cost one random-position
// B-tree insert per key: three pages, six WAL writes, for every record, on
// the one writer every release waits for. Instead a release's new links go
// into pending_links in the main database, one row per audit entry,
// appended at the end of the table in the release's transaction, so they
// are exactly as durable as the entry.
//
// Memory holds the queued links until the mover has written them into the
// links database (in key order, a batch at a time, durably) and then
// deleted their pending_links rows. Every look-up consults memory first,
// then the links database, so a link is visible from the commit of its
// release on. Opening the store moves whatever a crash left in
// pending_links before anything reads; a move that is repeated changes
// nothing (a key, once linked, keeps its person).
//
// Back up both files (docs/operations.md). PostgreSQL writes links
// directly in the release's transaction: several replicas share it, and
// memory is not shared.

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
// links. The writer of a transaction adds its links after the commit, while
// still holding the store's write lock; the background writer freezes what
// is there, moves it and forgets it.
type linkQueue struct {
	flush  sync.Mutex // one mover at a time: a mover forgets only what it froze
	mu     sync.Mutex
	cond   *sync.Cond // signalled when frozen is forgotten
	active map[string]string
	frozen map[string]string // being moved into links
	seq    int64             // the newest entry whose links are in active
	limit  int               // linkQueueMax; tests lower it
	// moved is the newest entry whose links are durable in the links
	// database; deleted, the newest whose pending_links row is deleted.
	// The next write transaction deletes the rows in between, so the mover
	// never takes the writer for that.
	moved, deleted int64

	// filter holds every key in the links database or in the queue, so
	// that looking up a key never linked, as most of a bulk load's are,
	// costs no read of the links file (a Bloom filter: it may say a key
	// is there that is not, never the reverse). nil until built at open,
	// and for good once another process is seen moving links into the
	// file: its keys are not in this filter. counted is link_count as this
	// process knows it: committed, and with its move in flight. skipped
	// counts the look-ups the filter saved.
	filter            *bloom.BloomFilter
	counted, inFlight int64
	skipped           int64
	log               *slog.Logger // told when the filter turns off; nil: no one
	beforeCommit      func()       // tests: runs while a move is in flight

	kick chan struct{}
	stop chan struct{}
	done chan struct{}
	err  error // the background writer's last error, for readiness
}

// Sizing of the links filter: for twice the keys stored at open, and at
// least linkFilterMin, with 1% false positives. Past that size it only lets
// more look-ups through to the file, until the next open sizes it again.
const (
	linkFilterMin = 4_000_000 // about 4.8 MB
	linkFilterFP  = 0.01
)

func newLinkQueue() *linkQueue {
	q := &linkQueue{active: map[string]string{}, limit: linkQueueMax, kick: make(chan struct{}, 1)}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// get returns the queued person of a key, and whether the key may be in
// the links database when it is not queued.
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
	if q.filter != nil && !q.filter.TestString(k) {
		return "", false, false
	}
	return "", false, true
}

// filterHolds reports whether the filter still holds every key of the
// links file, q being where it is read: whether link_count is what this
// process's own moves made it. When another process has moved links in,
// the filter is turned off for good.
func (q *linkQueue) filterHolds(ctx context.Context, db querier) (bool, error) {
	rows, err := db.QueryContext(ctx, `SELECT n FROM link_count`)
	if err != nil {
		return false, fmt.Errorf("read link count: %w", err)
	}
	var n int64
	for rows.Next() {
		err = rows.Scan(&n)
	}
	if err == nil {
		err = rows.Err()
	}
	rows.Close()
	if err != nil {
		return false, fmt.Errorf("read link count: %w", err)
	}
	q.mu.Lock()
	defer q.mu.Unlock()
	// Only more rows than this process's moves made, the one in flight
	// included, mean another process; fewer is a snapshot read before
	// this process's last move landed. Another process's move before that
	// one was seen by the move itself (writeLinks), so the allowance for
	// the move in flight hides nothing.
	q.foreignIf(n > q.counted+q.inFlight)
	return q.filter != nil, nil
}

// foreignIf turns the filter off for good when another process has moved
// links into the file. Callers hold q.mu.
func (q *linkQueue) foreignIf(moved bool) {
	if !moved || q.filter == nil {
		return
	}
	q.filter = nil
	if q.log != nil {
		q.log.Warn("another process moves person links into this store's links file; the links filter is off until the next start")
	}
}

// add queues links committed by entries up to seq.
func (q *linkQueue) add(links []link, seq int64) {
	q.mu.Lock()
	for _, l := range links {
		q.active[l.key] = l.person
		if q.filter != nil {
			q.filter.AddString(l.key)
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

// linksPath is the links database beside the main one.
func linksPath(path string) string {
	if inMemory(path) {
		return ":memory:"
	}
	return strings.TrimSuffix(path, ".db") + "-links.db"
}

//go:embed migrations/sqlite-links/*.sql
var sqliteLinksMigrations embed.FS

// openLinks opens (creating if needed) the links database: one writer
// connection for the mover, every commit synced, and a read pool.
func (s *SQL) openLinks(ctx context.Context, path string) error {
	lpath := linksPath(path)
	db, err := openSQLiteWriter(ctx, lpath, sqliteLinksMigrations, "migrations/sqlite-links", "synchronous(FULL)")
	if err != nil {
		return err
	}
	s.lw = &dbx{DB: db, stmts: newStmtCache()}
	s.lr = s.lw
	if !inMemory(path) {
		rdb, err := openSQLiteReader(ctx, lpath)
		if err != nil {
			return err
		}
		s.lr = &dbx{DB: rdb, stmts: newStmtCache()}
	}
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

// flushLinks moves every queued link into the links database. Memory
// forgets them only once they are durable there; a failure leaves them
// queued, in memory and in pending_links, for the next attempt.
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

// movePending moves the pending_links rows up to entry upTo into the links
// database, linkRowsPerTx rows at a time, durably. The rows are deleted
// later, by the next write transaction (deletePending).
func (s *SQL) movePending(ctx context.Context, upTo int64) error {
	q := s.links
	for {
		q.mu.Lock()
		from := q.moved
		q.mu.Unlock()
		links, last, n, err := readPending(ctx, s.r, from, upTo, linkRowsPerTx)
		if err == nil {
			err = s.wal.settle() // only durable releases' links are moved
		}
		if err != nil {
			return fmt.Errorf("read pending links: %w", err)
		}
		if n == 0 {
			return nil
		}
		if err := s.writeLinks(ctx, links); err != nil {
			return err
		}
		q.mu.Lock()
		q.moved = last
		q.mu.Unlock()
		if n < linkRowsPerTx {
			return nil
		}
	}
}

// deletePending deletes, in a write transaction, the pending_links rows
// already moved, and returns up to which entry, for forgetDeleted after the
// commit.
func deletePending(ctx context.Context, tx *txx) (int64, error) {
	q := tx.links
	q.mu.Lock()
	moved, deleted := q.moved, q.deleted
	q.mu.Unlock()
	if moved <= deleted {
		return 0, nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM pending_links WHERE seq <= ?`, moved); err != nil {
		return 0, fmt.Errorf("forget moved links: %w", err)
	}
	return moved, nil
}

// forgetDeleted records that rows up to entry seq are deleted.
func (q *linkQueue) forgetDeleted(seq int64) {
	q.mu.Lock()
	q.deleted = max(q.deleted, seq)
	q.mu.Unlock()
}

// readPending reads up to max pending_links rows after entry after, up to
// entry upTo.
func readPending(ctx context.Context, q querier, after, upTo int64, max int) (links []link, last int64, n int, err error) {
	rows, err := q.QueryContext(ctx, `SELECT seq, person, keys FROM pending_links WHERE seq > ? AND seq <= ? ORDER BY seq LIMIT ?`, after, upTo, max)
	if err != nil {
		return nil, 0, 0, err
	}
	defer rows.Close()
	for rows.Next() {
		var person, keys string
		if err := rows.Scan(&last, &person, &keys); err != nil {
			return nil, 0, 0, err
		}
		for k := range strings.SplitSeq(keys, "\n") {
			links = append(links, link{k, person})
		}
		n++
	}
	return links, last, n, rows.Err()
}

// writeLinks writes links into the links database, in key order so that
// neighbouring inserts share B-tree pages, in one synced transaction.
func (s *SQL) writeLinks(ctx context.Context, links []link) error {
	slices.SortFunc(links, func(a, b link) int { return strings.Compare(a.key, b.key) })
	args := make([][]any, len(links))
	for i, l := range links {
		args[i] = []any{l.key, l.person}
	}
	tx, err := s.lw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("%w: write links: %w", ErrUnavailable, err)
	}
	// The transaction holds the file's write lock from its start
	// (BEGIN IMMEDIATE): the count read here is every move before this one,
	// and no other process moves until this one has committed.
	q := s.links
	var n, before, after int64
	err = tx.QueryRowContext(ctx, `SELECT n FROM link_count`).Scan(&n)
	if err == nil {
		q.mu.Lock()
		q.foreignIf(n > q.counted)
		q.mu.Unlock()
		err = tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&before)
	}
	if err == nil {
		err = insertRows(ctx, tx, `INSERT INTO links (key, person) VALUES `, ` ON CONFLICT (key) DO NOTHING`, args)
	}
	if err == nil {
		err = tx.QueryRowContext(ctx, `SELECT total_changes()`).Scan(&after)
	}
	if err == nil {
		_, err = tx.ExecContext(ctx, `UPDATE link_count SET n = n + ?`, after-before)
	}
	if err != nil {
		tx.Rollback()
		return fmt.Errorf("%w: write links: %w", ErrUnavailable, err)
	}
	// What this process moves, its filter holds, whichever process queued
	// it; and the count it will make is expected before it lands.
	inserted := after - before
	q.mu.Lock()
	if q.filter != nil {
		for _, l := range links {
			q.filter.AddString(l.key)
		}
	}
	q.inFlight += inserted
	hook := q.beforeCommit
	q.mu.Unlock()
	if hook != nil {
		hook()
	}
	err = tx.Commit()
	q.mu.Lock()
	q.inFlight -= inserted
	if err == nil {
		q.counted += inserted
	}
	q.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%w: write links: %w", ErrUnavailable, err)
	}
	return nil
}

// SetLogger gives the store a logger for what it notices outside any call:
// on SQLite, another process moving person links into its links file.
func (s *SQL) SetLogger(l *slog.Logger) {
	if s.links != nil {
		s.links.mu.Lock()
		s.links.log = l
		s.links.mu.Unlock()
	}
}

// buildLinkFilter fills the links filter with every key of the links
// database. It runs at open, after recoverLinks and before anything looks
// a link up; the queue adds every key linked after that.
func (s *SQL) buildLinkFilter(ctx context.Context) error {
	// One transaction: the count and the keys agree, whatever another
	// process moves meanwhile.
	tx, err := s.lw.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("store: fill the links filter: %w", err)
	}
	defer tx.Rollback()
	var n int64
	if err := tx.QueryRowContext(ctx, `SELECT n FROM link_count`).Scan(&n); err != nil {
		return fmt.Errorf("store: size the links filter: %w", err)
	}
	f := bloom.NewWithEstimates(uint(max(linkFilterMin, 2*n)), linkFilterFP)
	rows, err := tx.QueryContext(ctx, `SELECT key FROM links`)
	if err != nil {
		return fmt.Errorf("store: fill the links filter: %w", err)
	}
	defer rows.Close()
	var k []byte
	for rows.Next() {
		if err := rows.Scan(&k); err != nil {
			return fmt.Errorf("store: fill the links filter: %w", err)
		}
		f.Add(k)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: fill the links filter: %w", err)
	}
	s.links.mu.Lock()
	s.links.filter, s.links.counted = f, n
	s.links.mu.Unlock()
	return nil
}

// recoverLinks, before the store serves anything, moves the links of a
// database from before the links database into it, then whatever a crash
// left in pending_links.
func (s *SQL) recoverLinks(ctx context.Context) error {
	for {
		var links []link
		rows, err := s.db.QueryContext(ctx, `SELECT key, person FROM links LIMIT ?`, 5000)
		if err == nil {
			for rows.Next() {
				var l link
				if err = rows.Scan(&l.key, &l.person); err != nil {
					break
				}
				links = append(links, l)
			}
			rows.Close()
			if err == nil {
				err = rows.Err()
			}
		}
		if err == nil && len(links) > 0 {
			if err = s.writeLinks(ctx, links); err == nil {
				_, err = s.writeTx(ctx, func(tx *txx) error {
					for _, l := range links {
						if _, err := tx.ExecContext(ctx, `DELETE FROM links WHERE key = ?`, l.key); err != nil {
							return err
						}
					}
					return nil
				})
			}
		}
		if err != nil {
			return fmt.Errorf("store: move the person links into the links database: %w", err)
		}
		if len(links) == 0 {
			break
		}
	}
	if err := s.movePending(ctx, 1<<62); err != nil {
		return fmt.Errorf("store: index the person links left by the last run: %w", err)
	}
	_, err := s.writeTx(ctx, func(*txx) error { return nil }) // deletes the moved rows
	return err
}

// queueLinks records the links an audit entry makes: in pending_links on
// SQLite (the transaction's own, for its later look-ups, and memory's after
// the commit), directly in links on PostgreSQL.
func queueLinks(ctx context.Context, tx *txx, seq int64, person string, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	if tx.links == nil {
		for _, k := range keys {
			tx.pending = append(tx.pending, []any{k, person})
		}
		return nil
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
	if tx.links == nil {
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

// lookupLinks is lookupLinks for a read outside a transaction: it waits,
// like every read, until what it may see is durable.
func (s *SQL) lookupLinks(ctx context.Context, keys []string) (map[string]string, error) {
	var (
		found map[string]string
		err   error
	)
	if s.lr != nil {
		found, err = lookupLinks(ctx, s.lr, s.links, nil, keys)
	} else {
		found, err = lookupLinks(ctx, s.r, nil, nil, keys)
	}
	if err != nil {
		return nil, err
	}
	return found, s.wal.settle()
}

// lookupLinks returns the persons the keys are linked to: the
// transaction's own new links, then the queued ones, then the table.
func lookupLinks(ctx context.Context, q querier, queue *linkQueue, own map[string]string, keys []string) (map[string]string, error) {
	found := make(map[string]string, len(keys))
	rest := make([]string, 0, len(keys))
	var absent []string // not in the filter: not in the links file either, if the filter still holds
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
		default:
			absent = append(absent, k)
		}
	}
	if len(absent) > 0 {
		holds, err := queue.filterHolds(ctx, q)
		if err != nil {
			return nil, err
		}
		if holds {
			queue.mu.Lock()
			queue.skipped += int64(len(absent))
			queue.mu.Unlock()
		} else {
			rest = append(rest, absent...)
		}
	}
	if len(rest) == 0 {
		return found, nil
	}
	return found, storedLinks(ctx, q, rest, found)
}
