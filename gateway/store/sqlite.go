package store

import (
	"bytes"
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/pressly/goose/v3"
	_ "modernc.org/sqlite" // registers the pure-Go "sqlite" driver

	"github.com/tumarproject/tumar/gateway/audit"
)

//go:embed migrations/sqlite/*.sql
var sqliteMigrations embed.FS

// SQL is the store on a SQL database: SQLite, the embedded default (one
// file, WAL journal, every commit synced), or PostgreSQL, shared by several
// gateway replicas. The statements are the same; where the databases differ
// (locking, placeholders, unique-violation errors), the dialect decides.
type SQL struct {
	db *dbx // writes, and reads that must see this store's own transaction
	// r serves reads outside a transaction. On SQLite it is a pool of
	// read-only connections, so that reads (an idempotency check, the
	// inbox, a status) never wait for the one writer's group commit: WAL
	// lets them read the last committed state meanwhile. On PostgreSQL it
	// is db.
	r         *dbx
	pg        bool
	closePool func()        // PostgreSQL's pool, closed after the database handle
	ckpt      *checkpointer // SQLite's WAL checkpoints, off the commit path
	wal       *walSyncer    // SQLite's commits made durable off the writer; nil in memory and on PostgreSQL
	// links is SQLite's queue of person links written behind the audit log,
	// and idx the index they are moved into (sqlite_links.go,
	// linkindex.go); both nil on PostgreSQL, and on an SQLite store opened
	// without links. wmu orders each write transaction with the queue's
	// update after its commit.
	links *linkQueue
	idx   *linkIndex
	wmu   sync.Mutex
	// subs is SQLite's filter of the records ever submitted
	// (sqlite_submitted.go); nil on PostgreSQL and without the index.
	subs *submitted
}

var _ Store = (*SQL)(nil)

// OpenSQLite opens (creating if needed) the database file and applies
// migrations, with its person links index. One process at a time may hold
// the index: another gets ErrLinksInUse.
func OpenSQLite(ctx context.Context, path string) (*SQL, error) {
	return openSQLite(ctx, path, true)
}

// OpenSQLiteWithoutLinks opens the database file without its person links
// index, beside the process that holds it: for reading, and for writes
// that link no one (audit checkpoints, the quarantine, deliveries).
// Releases, and entries with match keys, fail on it; a person is found by
// reading the log of links itself.
func OpenSQLiteWithoutLinks(ctx context.Context, path string) (*SQL, error) {
	return openSQLite(ctx, path, false)
}

func openSQLite(ctx context.Context, path string, withLinks bool) (*SQL, error) {
	if err := checkSQLitePath(path); err != nil {
		return nil, err
	}
	db, err := openSQLiteWriter(ctx, path, sqliteMigrations, "migrations/sqlite",
		// Commits are made durable by the WAL syncer (sqlite_sync.go),
		// outside the writer; nothing is acknowledged or read before that.
		"synchronous(NORMAL)",
		fmt.Sprintf("wal_autocheckpoint(%d)", walBackstop), // the checkpointer does it before then
		"temp_store(MEMORY)",                               // statement journals of multi-row inserts stay in memory instead of spilling to a temp file
		"foreign_keys(1)")
	if err != nil {
		return nil, err
	}
	s := &SQL{db: &dbx{DB: db, stmts: newStmtCache(), writer: true, parts: &partCache{}}}
	s.r = s.db
	if !inMemory(path) { // in memory, each connection would get a database of its own
		if s.wal, err = newWALSyncer(path); err != nil {
			s.closeHandles()
			return nil, err
		}
		s.db.wal = s.wal
		rdb, err := openSQLiteReader(ctx, path)
		if err != nil {
			s.closeHandles()
			return nil, err
		}
		s.r = &dbx{DB: rdb, stmts: newStmtCache(), wal: s.wal}
		if s.ckpt, err = startCheckpointer(ctx, path); err != nil {
			s.closeHandles()
			return nil, err
		}
	}
	if !withLinks {
		return s, nil
	}
	s.links = newLinkQueue()
	if err := s.openLinks(path); err != nil {
		s.closeHandles()
		return nil, err
	}
	if err := s.recoverLinks(ctx, path); err != nil {
		s.closeHandles()
		return nil, err
	}
	if err := s.buildLinkFilter(); err != nil {
		s.closeHandles()
		return nil, err
	}
	if s.subs, err = buildSubmitted(ctx, s.r); err != nil {
		s.closeHandles()
		return nil, err
	}
	s.startLinkWriter()
	return s, nil
}

// pageSize is the page size of a new SQLite database. An outbox row (a
// released record and its proof, about 2 KB) fits two to a 4 KiB page only
// when it is small, and a third of those pages stayed empty; and SQLite
// writes and checkpoints the WAL a page, in two system calls, at a time.
// With 8 KiB pages (b) took 9% and (d) 12% less CPU a record, and one
// client's latency did not move; 16 KiB cost one client 10% of its
// throughput, each commit rewriting larger partial pages
// (docs/benchmarks.md, "A tenth session").
const pageSize = 8192

// openSQLiteWriter opens (creating if needed) a database's one writer
// connection, in WAL mode with the given pragmas, and applies the
// migrations under dir. One connection: SQLite has one writer, and the
// audit chain needs its appends serialised anyway.
func openSQLiteWriter(ctx context.Context, path string, fsys embed.FS, dir string, pragmas ...string) (*sql.DB, error) {
	q := url.Values{}
	// The driver runs the _pragma list sorted by name, and a database in WAL
	// mode keeps its page size: the size goes in the list and WAL mode in
	// _journal_mode, which the driver applies after the list. A database
	// that exists keeps the page size it was made with.
	q.Add("_pragma", fmt.Sprintf("page_size(%d)", pageSize))
	q.Set("_journal_mode", "WAL")
	for _, p := range pragmas {
		q.Add("_pragma", p)
	}
	q.Add("_pragma", "busy_timeout(10000)")
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: open %s: %w", ErrUnavailable, path, err)
	}
	migrations, _ := fs.Sub(fsys, dir)
	p, err := goose.NewProvider(goose.DialectSQLite3, db, migrations)
	if err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("store: migrate %s: %w", path, err)
	}
	return db, nil
}

// inMemory reports whether an SQLite path names an in-memory database.
func inMemory(path string) bool { return path == ":memory:" }

// checkSQLitePath refuses a URI for a path. The path goes into a file: URI
// with the store's own parameters: a URI would name a file called
// "file:..." or lose its parameters, and one that looked in-memory would
// skip the WAL syncer, its commits never made durable.
func checkSQLitePath(path string) error {
	if strings.HasPrefix(path, "file:") || strings.ContainsRune(path, '?') {
		return fmt.Errorf("store: the SQLite path %q is a URI: give a file path, or :memory: for a database in memory", path)
	}
	return nil
}

// sqliteReaders is the size of the read pool.
const sqliteReaders = 4

// openSQLiteReader opens the read pool of a migrated SQLite database: its
// connections cannot write (query_only).
func openSQLiteReader(ctx context.Context, path string) (*sql.DB, error) {
	q := url.Values{}
	q.Add("_pragma", "query_only(1)")
	q.Add("_pragma", "busy_timeout(10000)")
	q.Add("_pragma", "temp_store(MEMORY)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("%w: open %s for reading: %w", ErrUnavailable, path, err)
	}
	db.SetMaxOpenConns(sqliteReaders)
	db.SetMaxIdleConns(sqliteReaders)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: open %s for reading: %w", ErrUnavailable, path, err)
	}
	return db, nil
}

// Release implements Store.
func (s *SQL) Release(ctx context.Context, m *Message, e *audit.Entry) error {
	var relErr error
	err := s.inTx(ctx, func(tx *txx) error {
		_, relErr = releaseAll(ctx, tx, []Release{{Message: m, Entry: e}}, 1)
		var dup *DuplicateError
		if errors.As(relErr, &dup) {
			return nil // nothing was written; commit the empty transaction
		}
		return relErr
	})
	if err != nil {
		// Unavailable, or not durable: a duplicate's answer would point at
		// a release that a power cut could still take back.
		return s.duplicateOf(ctx, m, err)
	}
	var dup *DuplicateError
	if errors.As(relErr, &dup) {
		return dup
	}
	return nil
}

// duplicateOf turns a unique-key conflict on a submission (another replica
// released the same record at the same moment) into a *DuplicateError.
func (s *SQL) duplicateOf(ctx context.Context, m *Message, err error) error {
	if m.SourceRecordID != "" && isUniqueViolation(err) {
		if latest, lerr := s.LatestSubmission(ctx, m.Source, m.SourceRecordID, m.Destination, m.Purpose); lerr == nil && latest.ContentHash == m.ContentHash {
			return &DuplicateError{Existing: *latest}
		}
	}
	return err
}

// subKey names a source record's submissions to one destination for one
// purpose.
type subKey struct{ source, id, destination, purpose string }

// latestSubmissions reads the latest submission of every source record that
// the releases carry: one query per source and 128 records, not one per
// record, on the writer every release waits for.
func latestSubmissions(ctx context.Context, tx *txx, rs []Release) (map[subKey]Submission, error) {
	bySource := map[string][]string{}
	seen := map[[2]string]bool{}
	for _, r := range rs {
		m := r.Message
		if k := [2]string{m.Source, m.SourceRecordID}; m.SourceRecordID != "" && !seen[k] && tx.subs.mayHave(m.Source, m.SourceRecordID) {
			seen[k] = true
			bySource[m.Source] = append(bySource[m.Source], m.SourceRecordID)
		}
	}
	out := map[subKey]Submission{}
	for source, ids := range bySource {
		for len(ids) > 0 {
			n := min(len(ids), 128)
			size := paddedListSize(n) // 8, 32 or 128, the last padded with repeats: three statements
			args := make([]any, 0, size+1)
			args = append(args, source)
			for i := range size {
				args = append(args, ids[min(i, n-1)])
			}
			if err := readSubmissions(ctx, tx, source, args, out); err != nil {
				return nil, err
			}
			ids = ids[n:]
		}
	}
	return out, nil
}

func readSubmissions(ctx context.Context, tx *txx, source string, args []any, out map[subKey]Submission) error {
	rows, err := tx.QueryContext(ctx, `SELECT source_record_id, destination, purpose, version, content_hash, id, decision_id FROM outbox
		WHERE source = ? AND source_record_id IN (`+placeholders(len(args)-1)+`)`, args...)
	if err != nil {
		return fmt.Errorf("read submissions: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var (
			k   = subKey{source: source}
			sub Submission
		)
		if err := rows.Scan(&k.id, &k.destination, &k.purpose, &sub.Version, &sub.ContentHash, &sub.ExchangeID, &sub.DecisionID); err != nil {
			return fmt.Errorf("read submissions: %w", err)
		}
		if cur, ok := out[k]; !ok || sub.Version > cur.Version {
			out[k] = sub
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read submissions: %w", err)
	}
	return nil
}

// nextSubmission gives a release the next version of its source record, or
// returns the latest one when its content is the same. latest holds the
// batch's source records as stored, and takes the batch's own versions.
func nextSubmission(m *Message, latest map[subKey]Submission) *DuplicateError {
	k := subKey{m.Source, m.SourceRecordID, m.Destination, m.Purpose}
	version := 1
	if l, ok := latest[k]; ok {
		if l.ContentHash == m.ContentHash {
			return &DuplicateError{Existing: l}
		}
		version = l.Version + 1
	}
	latest[k] = Submission{Version: version, ContentHash: m.ContentHash, ExchangeID: m.ID, DecisionID: m.DecisionID}
	m.Version = version
	return nil
}

func latestSubmission(ctx context.Context, q interface {
	QueryRowContext(context.Context, string, ...any) row
}, source, srcID, dest, purpose string) (*Submission, error) {
	var sub Submission
	err := q.QueryRowContext(ctx, `SELECT version, content_hash, id, decision_id FROM outbox
		WHERE source = ? AND source_record_id = ? AND destination = ? AND purpose = ? ORDER BY version DESC LIMIT 1`,
		source, srcID, dest, purpose).Scan(&sub.Version, &sub.ContentHash, &sub.ExchangeID, &sub.DecisionID)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, ErrNotFound
	}
	if err != nil {
		return nil, fmt.Errorf("read submissions: %w", err)
	}
	return &sub, nil
}

// LatestSubmission implements Store.
func (s *SQL) LatestSubmission(ctx context.Context, source, sourceRecordID, destination, purpose string) (*Submission, error) {
	// A submission found is answered only once it is durable. None found
	// needs no wait (a wait for the sync in progress, on every exchange):
	// submissions are never deleted, so an earlier state said nothing else,
	// and the release checks again in its own transaction.
	if !s.subs.mayHave(source, sourceRecordID) {
		return nil, ErrNotFound
	}
	sub, err := latestSubmission(ctx, unsettled{s.r}, source, sourceRecordID, destination, purpose)
	if err == nil {
		err = s.r.settle()
	}
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return sub, err
}

// Audit implements Store.
func (s *SQL) Audit(ctx context.Context, e *audit.Entry) error {
	return s.inTx(ctx, func(tx *txx) error { return appendAudit(ctx, tx, e) })
}

func appendAudit(ctx context.Context, tx *txx, e *audit.Entry) error {
	if tx.pg {
		// One chain for every replica: appends take turns.
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7277)`); err != nil {
			return fmt.Errorf("lock the audit chain: %w", err)
		}
	}
	fresh, err := linkSubject(ctx, tx, e)
	if err != nil {
		return err
	}
	return appendEntry(ctx, tx, e, fresh)
}

// appendEntry seals and writes an entry whose person is resolved, with the
// keys it links to that person.
func appendEntry(ctx context.Context, tx *txx, e *audit.Entry, fresh []string) error {
	if tx.head == nil {
		h, err := readHead(ctx, tx)
		if err != nil {
			return err
		}
		tx.head = h
	}
	body, err := e.Seal(tx.head.seq+1, tx.head.hash)
	if err != nil {
		return err
	}
	used := map[string][]byte{}
	entry := tx.parts.cut(body, fieldsMarker, used)
	if err := writeParts(ctx, tx, used); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx,
		`INSERT INTO audit (seq, decision_id, time, source, destination, purpose, outcome, entry, hash, subject, entry_part, entry_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		e.Seq, e.DecisionID, ts(e.Time), e.Source, e.Destination, e.Purpose, string(e.Outcome), entry.rest, e.Hash, e.Subject, entry.hash, entry.at)
	if err != nil {
		tx.head = nil // unknown until read again
		return fmt.Errorf("write audit entry: %w", err)
	}
	tx.head = &auditHead{seq: e.Seq, hash: e.Hash}
	if err := queueLinks(ctx, tx, e.Seq, e.Subject, fresh); err != nil {
		return err
	}
	return writePending(ctx, tx)
}

// readHead reads the audit chain's last entry.
func readHead(ctx context.Context, tx *txx) (*auditHead, error) {
	h := &auditHead{}
	err := tx.QueryRowContext(ctx, `SELECT seq, hash FROM audit ORDER BY seq DESC LIMIT 1`).Scan(&h.seq, &h.hash)
	if errors.Is(err, sql.ErrNoRows) {
		// An empty log continues from its last truncation, if any.
		err = tx.QueryRowContext(ctx, `SELECT seq, hash FROM checkpoints WHERE kind = 'truncation' ORDER BY seq DESC LIMIT 1`).Scan(&h.seq, &h.hash)
	}
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return nil, fmt.Errorf("read audit head: %w", err)
	}
	return h, nil
}

// linkSubject resolves the entry's match keys to a person and returns the
// keys not yet linked, for queueLinks once the entry has its sequence number.
func linkSubject(ctx context.Context, tx *txx, e *audit.Entry) ([]string, error) {
	if len(e.SubjectKeys) == 0 {
		return nil, nil // an entry about no one, or about a person already known
	}
	if tx.withoutLinks() {
		return nil, errNoLinks
	}
	stored, err := lookupLinks(ctx, tx.linkSrc, tx.links, tx.own, e.SubjectKeys)
	if err != nil {
		return nil, err
	}
	return resolvePerson(e, stored, nil)
}

// linkedPerson is the person any of the keys is linked to, or "".
func (s *SQL) linkedPerson(ctx context.Context, keys []string) (string, error) {
	found, err := s.lookupLinks(ctx, keys)
	if err != nil {
		return "", err
	}
	for _, k := range keys { // the first key that is linked decides
		if p, ok := found[k]; ok {
			return p, nil
		}
	}
	return "", nil
}

type querier interface {
	QueryContext(context.Context, string, ...any) (*sql.Rows, error)
}

// storedLinks reads the links of the keys from the table into found. The
// keys go in chunks of a few fixed sizes, the last padded with repeats, so
// the statements stay few enough to be prepared once.
func storedLinks(ctx context.Context, q querier, keys []string, found map[string]string) error {
	for len(keys) > 0 {
		n := min(len(keys), 128)
		size := 8
		for size < n {
			size *= 4 // 8, 32 or 128: three statements
		}
		args := make([]any, size)
		for i := range args {
			args[i] = keys[min(i, n-1)]
		}
		if err := readLinks(ctx, q, args, found); err != nil {
			return err
		}
		keys = keys[n:]
	}
	return nil
}

func readLinks(ctx context.Context, q querier, args []any, found map[string]string) error {
	rows, err := q.QueryContext(ctx, `SELECT key, person FROM links WHERE key IN (`+placeholders(len(args))+`)`, args...)
	if err != nil {
		return fmt.Errorf("read links: %w", err)
	}
	defer rows.Close()
	for rows.Next() {
		var k, p string
		if err := rows.Scan(&k, &p); err != nil {
			return fmt.Errorf("read links: %w", err)
		}
		found[k] = p
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("read links: %w", err)
	}
	return nil
}

// Person implements StatusStore.
func (s *SQL) Person(ctx context.Context, keys []string) (string, error) {
	p, err := s.linkedPerson(ctx, keys)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if p == "" {
		return "", ErrNotFound
	}
	return p, nil
}

// Persons implements StatusStore.
func (s *SQL) Persons(ctx context.Context, keys []string) ([]string, error) {
	found, err := s.lookupLinks(ctx, keys)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	var out []string
	for _, k := range keys {
		if p, ok := found[k]; ok && !slices.Contains(out, p) {
			out = append(out, p)
		}
	}
	return out, nil
}

// inTx runs fn in a transaction and returns once its commit is durable.
func (s *SQL) inTx(ctx context.Context, fn func(*txx) error) error {
	gen, err := s.inTxDeferred(ctx, fn)
	if err != nil {
		return err
	}
	return s.durable(gen)
}

// inTxDeferred runs fn in a transaction and commits it, returning before
// the commit is durable: durable(gen) waits for that. On SQLite it first
// waits while too many person links are queued (sqlite_links.go).
func (s *SQL) inTxDeferred(ctx context.Context, fn func(*txx) error) (uint64, error) {
	if s.links != nil {
		if err := s.links.waitRoom(ctx); err != nil {
			return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	return s.writeTx(ctx, fn)
}

// writeTx is inTxDeferred without the wait, for the mover of the link
// queue.
func (s *SQL) writeTx(ctx context.Context, fn func(*txx) error) (gen uint64, err error) {
	if s.links != nil {
		// The queue must have this transaction's links before the next
		// transaction looks them up.
		s.wmu.Lock()
		defer s.wmu.Unlock()
	}
	if err := s.wal.health(); err != nil {
		return 0, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fmt.Errorf("%w: begin: %w", ErrUnavailable, err)
	}
	tx.links = s.links
	tx.subs = s.subs
	tx.linkSrc = s.linkSrc()
	if s.pg {
		tx.linkSrc = sqlLinks{tx}
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return 0, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	gen = s.wal.begin()
	if err := tx.Commit(); err != nil {
		s.wal.end()
		return 0, fmt.Errorf("%w: commit: %w", ErrUnavailable, err)
	}
	// Memory has the links before the commit counts as finished, so a
	// reader that settles after this commit finds them.
	if len(tx.fresh) > 0 {
		s.links.add(tx.fresh, tx.head.seq)
	}
	s.db.parts.markStored(tx.partsWritten)
	s.wal.end()
	return gen, nil
}

// settled is err, or, if the read went well, waits until what it read is
// durable: readers call it once they have read their rows.
func (s *SQL) settled(err error) error {
	if err != nil {
		return err
	}
	return s.r.settle()
}

// durable waits until the commit of generation gen is durable.
func (s *SQL) durable(gen uint64) error {
	if s.wal == nil {
		return nil
	}
	return s.wal.wait(gen)
}

// Inbox implements Store.
func (s *SQL) Inbox(ctx context.Context, destination string, limit int) ([]Message, error) {
	rows, err := s.r.QueryContext(ctx,
		`SELECT o.id, o.source, o.destination, o.purpose, o.decision_id, o.created_at,
		        o.payload, o.payload_at, pp.body, o.proof, o.proof_at, qp.body, o.sealed
		 FROM outbox o LEFT JOIN parts pp ON pp.hash = o.payload_part LEFT JOIN parts qp ON qp.hash = o.proof_part
		 WHERE o.destination = ? AND o.acked_at IS NULL ORDER BY o.seq LIMIT ?`, destination, limit)
	if err != nil {
		return nil, fmt.Errorf("%w: read inbox: %w", ErrUnavailable, err)
	}
	defer rows.Close()
	var out []Message
	for rows.Next() {
		var (
			m       Message
			created string
		)
		var (
			payloadAt, proofAt     sql.NullInt64
			payloadPart, proofPart []byte
			err                    error
		)
		if err := rows.Scan(&m.ID, &m.Source, &m.Destination, &m.Purpose, &m.DecisionID, &created,
			&m.Payload, &payloadAt, &payloadPart, &m.Proof, &proofAt, &proofPart, &m.Sealed); err != nil {
			return nil, fmt.Errorf("%w: read inbox: %w", ErrUnavailable, err)
		}
		if m.Payload, err = joinPart(m.Payload, payloadAt, payloadPart); err != nil {
			return nil, fmt.Errorf("read inbox: message %s: %w", m.ID, err)
		}
		if m.Proof, err = joinPart(m.Proof, proofAt, proofPart); err != nil {
			return nil, fmt.Errorf("read inbox: proof of message %s: %w", m.ID, err)
		}
		m.CreatedAt = parseTS(created)
		out = append(out, m)
	}
	if err := s.settled(rows.Err()); err != nil {
		return nil, fmt.Errorf("%w: read inbox: %w", ErrUnavailable, err)
	}
	return out, nil
}

// Ack implements Store.
func (s *SQL) Ack(ctx context.Context, destination string, ids []string) (int, error) {
	if len(ids) == 0 {
		return 0, nil
	}
	// The list is padded with repeats of its last id to one of a few sizes
	// (8, 32, 128 ... ids), so that acknowledgements of any length share a
	// handful of prepared statements rather than filling the statement
	// cache with one per length, which would leave every statement first
	// seen after it, the release path's among them, unprepared.
	size := paddedListSize(len(ids))
	args := make([]any, 0, size+2)
	args = append(args, ts(time.Now()), destination)
	for i := range size {
		args = append(args, ids[min(i, len(ids)-1)])
	}
	res, err := s.db.ExecContext(ctx,
		`UPDATE outbox SET acked_at = ? WHERE destination = ? AND acked_at IS NULL AND id IN (`+placeholders(size)+`)`, args...)
	if err != nil {
		return 0, fmt.Errorf("%w: ack: %w", ErrUnavailable, err)
	}
	n, _ := res.RowsAffected()
	return int(n), nil
}

// paddedListSize is the length an IN list of n values is padded to, with
// repeats of its last value, so that lists of any length share a few
// prepared statements: 8, 32, 128, 512, 2,048 ...
func paddedListSize(n int) int {
	size := 8
	for size < n {
		size *= 4
	}
	return size
}

// AuditLog implements Store.
func (s *SQL) AuditLog(ctx context.Context, after int64, limit int) ([]audit.Entry, error) {
	raws, err := s.AuditLogRaw(ctx, after, limit)
	out := make([]audit.Entry, 0, len(raws))
	for _, r := range raws {
		e, derr := decodeEntry(r)
		if derr != nil {
			return out, derr // with the entries before it, for audit.VerifyLog
		}
		out = append(out, *e)
	}
	return out, err
}

// AuditLogRaw implements audit.RawLog: entries as stored, their shared
// part put back, not decoded. A damaged entry ends the page, with an
// *audit.DamagedError and the entries before it.
func (s *SQL) AuditLogRaw(ctx context.Context, after int64, limit int) ([]audit.RawEntry, error) {
	rows, err := s.r.QueryContext(ctx, `SELECT `+entryColumns+` WHERE a.seq > ? ORDER BY a.seq LIMIT ?`, after, limit)
	if err != nil {
		return nil, fmt.Errorf("%w: read audit: %w", ErrUnavailable, err)
	}
	defer rows.Close()
	var out []audit.RawEntry
	for rows.Next() {
		e, err := scanRaw(rows)
		var damaged *audit.DamagedError
		if errors.As(err, &damaged) {
			if serr := s.settled(nil); serr != nil {
				return nil, serr
			}
			return out, err
		}
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
	return out, s.settled(rows.Err())
}

var _ audit.RawLog = (*SQL)(nil)

// Ping implements Store.
func (s *SQL) Ping(ctx context.Context) error {
	if err := s.db.PingContext(ctx); err != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	if s.r != s.db {
		if err := s.r.PingContext(ctx); err != nil {
			return fmt.Errorf("%w: readers: %w", ErrUnavailable, err)
		}
	}
	if err := s.wal.health(); err != nil {
		return err
	}
	if s.links != nil {
		if err := s.links.health(); err != nil {
			return fmt.Errorf("%w: %w", ErrUnavailable, err)
		}
	}
	if s.ckpt != nil {
		return s.ckpt.health()
	}
	return nil
}

// Close implements Store.
func (s *SQL) Close() error {
	var flushErr error
	if s.links != nil && s.links.stop != nil {
		s.stopLinkWriter()
		flushErr = s.flushLinks(context.Background()) // else the next open does it
	}
	return errors.Join(s.closeHandles(), flushErr)
}

// closeHandles closes the database handles.
func (s *SQL) closeHandles() error {
	var idxErr error
	if s.idx != nil {
		idxErr = s.idx.close()
		s.idx = nil
	}
	if s.r != s.db { // readers first, so that the last checkpoint can empty the WAL
		s.r.stmts.close()
		s.r.Close()
	}
	if s.ckpt != nil {
		s.ckpt.close()
	}
	var syncErr error
	if s.wal != nil {
		syncErr = s.wal.close()
	}
	s.db.stmts.close()
	err := s.db.Close()
	if s.closePool != nil {
		s.closePool()
	}
	return errors.Join(syncErr, err, idxErr)
}

// AuditBatch appends entries in one transaction: one durable commit for many
// entries (group commit).
func (s *SQL) AuditBatch(ctx context.Context, entries []*audit.Entry) error {
	return s.inTx(ctx, func(tx *txx) error {
		for _, e := range entries {
			if err := appendAudit(ctx, tx, e); err != nil {
				return err
			}
		}
		return nil
	})
}

// Release is one message with its audit entry, for ReleaseBatch.
type Release struct {
	Message *Message
	Entry   *audit.Entry
}

// ReleaseBatch commits many releases in one transaction (group commit): one
// durable write for all of them. Each release is still all-or-nothing on its
// own. The batch is first tried as it comes; if any release in it fails (a
// duplicate, a person conflict), that attempt is rolled back whole and the
// batch is written again with each release under a savepoint, so the failed
// one is rolled back alone and reported in its slot of the returned errors.
// If the transaction itself fails, every slot has the error.
func (s *SQL) ReleaseBatch(ctx context.Context, rs []Release) []error {
	errs, durable := s.ReleaseBatchDeferred(ctx, rs)
	if err := durable(); err != nil {
		for i := range errs {
			errs[i] = err // a duplicate's receipt would name a release that may be lost
		}
	}
	return errs
}

// ReleaseBatchDeferred is ReleaseBatch returning as soon as the batch is
// committed, before it is durable, so that the next batch can be written
// meanwhile: durable waits until it is, and no release may be acknowledged
// before durable has returned nil. On PostgreSQL, and for an in-memory
// SQLite database, a commit is all there is and durable returns nil.
func (s *SQL) ReleaseBatchDeferred(ctx context.Context, rs []Release) (errs []error, durable func() error) {
	errs, gen := s.releaseBatch(ctx, rs)
	return errs, func() error { return s.durable(gen) }
}

func (s *SQL) releaseBatch(ctx context.Context, rs []Release) ([]error, uint64) {
	saved := make([]Release, len(rs))
	for i, r := range rs {
		m, e := *r.Message, *r.Entry
		saved[i] = Release{Message: &m, Entry: &e}
	}
	errs := make([]error, len(rs))
	failed := errors.New("a release in the batch failed")
	gen, err := s.inTxDeferred(ctx, func(tx *txx) error {
		if i, err := releaseAll(ctx, tx, rs, len(rs)); err != nil {
			if i >= 0 {
				errs[i] = err
			}
			return failed
		}
		return nil
	})
	if errors.Is(err, failed) {
		for i, r := range rs { // undo what the rolled-back attempt set
			*r.Message, *r.Entry = *saved[i].Message, *saved[i].Entry
		}
		errs, gen = s.releaseEach(ctx, rs)
	} else if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	for i, e := range errs {
		if e != nil {
			errs[i] = s.duplicateOf(ctx, rs[i].Message, e)
		}
	}
	return errs, gen
}

// releaseAll writes releases (a whole batch, or one) with as few statements
// as it can: the outbox rows (with their source records' versions, each
// after the version before it), audit entries and new person links in
// multi-row inserts.
// Persons are resolved against the stored links and the batch's own. Any
// failure (index i, or -1 when it is not one release's) fails the batch.
// committing is how many releases the commit holds, rs or more.
func releaseAll(ctx context.Context, tx *txx, rs []Release, committing int) (int, error) {
	if tx.withoutLinks() {
		return -1, errNoLinks
	}
	if tx.pg {
		if _, err := tx.ExecContext(ctx, `SELECT pg_advisory_xact_lock(7277)`); err != nil {
			return -1, fmt.Errorf("lock the audit chain: %w", err)
		}
	}
	head := tx.head
	if head == nil {
		h, err := readHead(ctx, tx)
		if err != nil {
			return -1, err
		}
		head = h
	}
	var (
		// The rows of a table share one backing array.
		outbox, audits        = make([][]any, 0, len(rs)), make([][]any, 0, len(rs))
		outboxVals, auditVals = make([]any, 0, outboxColumns*len(rs)), make([]any, 0, auditColumns*len(rs))
		batchLinks            = map[string]string{}
		keys                  []string
		used                  = map[string][]byte{} // shared parts (parts.go)
	)
	for _, r := range rs {
		keys = append(keys, r.Entry.SubjectKeys...)
	}
	// Nothing is inserted before the end, so one read serves the batch.
	stored, err := lookupLinks(ctx, tx.linkSrc, tx.links, tx.own, keys)
	if err != nil {
		return -1, err
	}
	latest, err := latestSubmissions(ctx, tx, rs)
	if err != nil {
		return -1, err
	}
	// The rows' cut bytes are built in one arena, sized for the batch.
	size := 0
	for _, r := range rs {
		m := r.Message
		size += len(m.Payload) - len(m.PayloadCut.Part) + len(m.Proof) - len(m.ProofCut.Part) + 1024
	}
	arena := getArena(size)
	defer putArena(arena)
	for i, r := range rs {
		m, e := r.Message, r.Entry
		// An exchange's message and entry carry one time: formatted once.
		created, at := ts(m.CreatedAt), ""
		if e.Time.Equal(m.CreatedAt) {
			at = created
		} else {
			at = ts(e.Time)
		}
		// A source record's submission goes in its release's outbox row.
		var srcID, version, contentHash any
		if m.SourceRecordID != "" {
			if dup := nextSubmission(m, latest); dup != nil {
				return i, dup
			}
			srcID, version, contentHash = m.SourceRecordID, int64(m.Version), m.ContentHash
			tx.subs.add(m.Source, m.SourceRecordID)
		}
		newKeys, err := resolvePerson(e, stored, batchLinks)
		if err != nil {
			return i, err
		}
		for _, k := range newKeys {
			batchLinks[k] = e.Subject
		}
		entry, err := sealEntry(tx, e, head, used, arena)
		if err != nil {
			return i, err
		}
		if err := queueLinks(ctx, tx, e.Seq, e.Subject, newKeys); err != nil {
			return i, err
		}
		head = &auditHead{seq: e.Seq, hash: e.Hash}
		payload := cutRow{rest: m.Payload}
		if !m.Sealed { // an envelope is opaque, and sealed to one recipient
			payload = tx.parts.cutAt(m.Payload, m.PayloadCut, fieldsMarker, used, arena)
		}
		// A commit's batch signature is a part for the rows that share it;
		// a commit of one keeps it in its row: a part would cost the parts
		// table a write at a random place, for nothing shared.
		proof := cutRow{rest: m.Proof}
		if committing > 1 {
			proof = tx.parts.cutAt(m.Proof, m.ProofCut, batchMarker, used, arena)
		}
		n := len(outboxVals)
		outboxVals = append(outboxVals, m.Destination, m.Source, m.Purpose, m.Sealed, payload.hash, proof.hash, m.ID, m.DecisionID, created,
			payload.rest, payload.at, proof.rest, proof.at, srcID, version, contentHash)
		outbox = append(outbox, outboxVals[n:len(outboxVals):len(outboxVals)])
		n = len(auditVals)
		auditVals = append(auditVals, e.Source, e.Destination, e.Purpose, string(e.Outcome), entry.hash, e.Seq, e.DecisionID, at,
			entry.rest, e.Hash, e.Subject, entry.at)
		audits = append(audits, auditVals[n:len(auditVals):len(auditVals)])
	}
	if err := writeParts(ctx, tx, used); err != nil {
		return -1, err
	}
	if err := insertRowsSharing(ctx, tx, insertOutbox, "", outboxShared, outbox); err != nil {
		return -1, fmt.Errorf("write outbox: %w", err)
	}
	if err := insertRowsSharing(ctx, tx, insertAudit, "", auditShared, audits); err != nil {
		return -1, fmt.Errorf("write audit entries: %w", err)
	}
	if err := writePending(ctx, tx); err != nil {
		return -1, err
	}
	tx.head = head
	return -1, nil
}

// sealEntry seals an entry after head, its body built in arena with the
// field decisions it shares with other entries cut out.
func sealEntry(tx *txx, e *audit.Entry, head *auditHead, used map[string][]byte, arena *[]byte) (cutRow, error) {
	start := len(*arena)
	b, at, err := e.SealShared(*arena, head.seq+1, head.hash)
	if err != nil {
		return cutRow{}, err
	}
	*arena = b
	body := b[start:len(b):len(b)]
	if at < 0 { // no encoding shared with the entry: any part is looked for
		return tx.parts.cut(body, fieldsMarker, used), nil
	}
	at -= start
	// Too short to be worth a reference, as cut judges, or a hash not the
	// bytes': whole again, and looked for.
	if len(e.Encoded.JSON) < minPart || !fileShared(used, e.Encoded.JSON, &e.Encoded.Sum) {
		whole, err := joinPart(body, sql.NullInt64{Int64: int64(at), Valid: true}, e.Encoded.JSON)
		if err != nil {
			return cutRow{}, err
		}
		return tx.parts.cut(whole, fieldsMarker, used), nil
	}
	return cutRow{rest: body, at: int64(at), hash: e.Encoded.Sum[:]}, nil
}

// resolvePerson sets the entry's subject from its match keys, looking in the
// stored links (read beforehand) and the batch's, and returns the keys not
// linked yet.
func resolvePerson(e *audit.Entry, stored, batch map[string]string) ([]string, error) {
	if len(e.SubjectKeys) == 0 {
		return nil, nil
	}
	person := ""
	for _, k := range e.SubjectKeys { // the first key that is linked decides
		if p, ok := stored[k]; ok {
			person = p
			break
		}
		if p, ok := batch[k]; ok {
			person = p
			break
		}
	}
	switch {
	case person != "" && e.Subject != "" && person != e.Subject:
		return nil, ErrOtherPerson
	case person == "" && e.Subject != "":
		person = e.Subject // a person already known, from a status token
	case person == "":
		person = e.SubjectKeys[0]
	}
	e.Subject = person
	var fresh []string
	for _, k := range e.SubjectKeys {
		_, inStore := stored[k]
		_, inBatch := batch[k]
		if !inStore && !inBatch && !slices.Contains(fresh, k) {
			fresh = append(fresh, k)
		}
	}
	return fresh, nil
}

// The release path's inserts, their widths, and how many of their first
// columns a batch's rows usually share (insertRowsSharing).
const (
	insertOutbox  = `INSERT INTO outbox (destination, source, purpose, sealed, payload_part, proof_part, id, decision_id, created_at, payload, payload_at, proof, proof_at, source_record_id, version, content_hash) VALUES `
	outboxColumns = 16
	insertAudit   = `INSERT INTO audit (source, destination, purpose, outcome, entry_part, seq, decision_id, time, entry, hash, subject, entry_at) VALUES `
	auditColumns  = 12
)

// How many leading columns of the outbox and audit rows insertRowsSharing
// tries to bind once: with the shared parts' hashes (the same in every row
// of a batch when its records share a decision, parts.go), or without.
var (
	outboxShared = []int{6, 4}
	auditShared  = []int{5, 4}
)

// insertRows inserts rows in multi-row statements of a few fixed sizes, so
// that the statements stay few enough to be prepared once.
func insertRows(ctx context.Context, tx *txx, prefix, suffix string, rows [][]any) error {
	return insertRowsSharing(ctx, tx, prefix, suffix, nil, rows)
}

// insertRowsSharing is insertRows where the first columns (a batch's
// source, destination and purpose, say) are bound once on SQLite, as
// numbered parameters every row names, when each of them holds one value in
// every row of a statement: binding costs about a quarter of a microsecond
// a value, and a []byte's a copy into SQLite's memory. The shared columns
// come first so that every other placeholder can stay a plain ?, which
// SQLite numbers after them and the driver binds without reading a name.
// shared lists how many leading columns to try sharing, most first: a
// table has one statement of each size for each, not one per pattern.
func insertRowsSharing(ctx context.Context, tx *txx, prefix, suffix string, shared []int, rows [][]any) error {
	for len(rows) > 0 {
		n := 1
		for _, size := range []int{64, 32, 16, 8, 4, 2} {
			if len(rows) >= size {
				n = size
				break
			}
		}
		k := 0
		for _, try := range shared {
			if !tx.pg && sameLeading(rows[:n], try) {
				k = try
				break
			}
		}
		args := make([]any, 0, k+n*(len(rows[0])-k))
		args = append(args, rows[0][:k]...)
		for _, r := range rows[:n] {
			args = append(args, r[k:]...)
		}
		q := insertStatement(prefix, suffix, len(rows[0]), n, k)
		if _, err := tx.ExecContext(ctx, q, args...); err != nil {
			return err
		}
		rows = rows[n:]
	}
	return nil
}

// sameLeading reports whether each of the first k columns holds one value
// in every row, a []byte byte for byte (and nil only where nil); never for
// a single row.
func sameLeading(rows [][]any, k int) bool {
	if len(rows) < 2 || len(rows[0]) < k {
		return false
	}
	for c, v := range rows[0][:k] {
		switch v := v.(type) {
		case string, int64, int, bool, nil:
			for _, r := range rows[1:] {
				if r[c] != v { // v's type is comparable: never a panic
					return false
				}
			}
		case []byte:
			for _, r := range rows[1:] {
				if w, ok := r[c].([]byte); !ok || (w == nil) != (v == nil) || !bytes.Equal(w, v) {
					return false
				}
			}
		default:
			return false
		}
	}
	return true
}

// insertStatements keeps the text of each multi-row insert made, so that a
// batch does not write it out again for every statement.
var insertStatements sync.Map // insertShape → string

type insertShape struct {
	prefix, suffix      string
	width, rows, shared int
}

// insertStatement is prefix, rows groups of width placeholders, and suffix.
// The first shared placeholders of every row are ?1 to ?shared; the others
// are plain ?, which SQLite numbers from shared+1 on.
func insertStatement(prefix, suffix string, width, rows, shared int) string {
	k := insertShape{prefix, suffix, width, rows, shared}
	if q, ok := insertStatements.Load(k); ok {
		return q.(string)
	}
	var b strings.Builder
	b.WriteString(prefix)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for c := range width {
			if c > 0 {
				b.WriteByte(',')
			}
			b.WriteByte('?')
			if c < shared {
				b.WriteString(strconv.Itoa(c + 1))
			}
		}
		b.WriteByte(')')
	}
	b.WriteString(suffix)
	q := b.String()
	insertStatements.Store(k, q)
	return q
}

// releaseEach writes a batch with each release under its own savepoint.
func (s *SQL) releaseEach(ctx context.Context, rs []Release) ([]error, uint64) {
	errs := make([]error, len(rs))
	gen, err := s.inTxDeferred(ctx, func(tx *txx) error {
		for i, r := range rs {
			if _, err := tx.ExecContext(ctx, `SAVEPOINT release`); err != nil {
				return err
			}
			head, linked, parts := tx.head, len(tx.fresh), len(tx.partsWritten)
			if _, errs[i] = releaseAll(ctx, tx, []Release{r}, len(rs)); errs[i] != nil {
				if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT release`); err != nil {
					return err
				}
				tx.head = head
				tx.forgetSince(linked)
				tx.partsWritten = tx.partsWritten[:parts] // rolled back with it
			}
			if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT release`); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		for i := range errs {
			errs[i] = err
		}
	}
	return errs, gen
}

// entryColumns selects what scanEntry reads, from audit a.
const entryColumns = `a.seq, a.entry, a.hash, a.entry_at, ep.body FROM audit a LEFT JOIN parts ep ON ep.hash = a.entry_part`

// scanRaw reads an entry as stored, its shared part put back: the columns
// of entryColumns.
func scanRaw(row interface{ Scan(...any) error }) (audit.RawEntry, error) {
	var (
		e          audit.RawEntry
		rest, part []byte
		at         sql.NullInt64
	)
	if err := row.Scan(&e.Seq, &rest, &e.Hash, &at, &part); err != nil {
		return e, fmt.Errorf("%w: read audit: %w", ErrUnavailable, err)
	}
	body, err := joinPart(rest, at, part)
	if err != nil {
		return e, &audit.DamagedError{Seq: e.Seq, Err: err}
	}
	e.Body = body
	return e, nil
}

// scanEntry reads and decodes an entry: the columns of entryColumns.
func scanEntry(row interface{ Scan(...any) error }) (*audit.Entry, error) {
	r, err := scanRaw(row)
	if err != nil {
		return nil, err
	}
	return decodeEntry(r)
}

// decodeEntry decodes an entry as stored.
func decodeEntry(r audit.RawEntry) (*audit.Entry, error) {
	var e audit.Entry
	if err := json.Unmarshal(r.Body, &e); err != nil {
		return nil, &audit.DamagedError{Seq: r.Seq, Err: err}
	}
	e.Hash = r.Hash
	return &e, nil
}
