package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5/pgconn"
)

// dbx and txx run statements written with ? placeholders on either
// database: for PostgreSQL the placeholders become $1, $2 ... On SQLite they
// run prepared statements from the cache, once a statement has been seen.
type dbx struct {
	*sql.DB
	pg    bool
	stmts *stmtCache // nil: no cache (PostgreSQL's driver caches its own)
	// wal, on a SQLite file, makes commits durable after the fact
	// (sqlite_sync.go): a single-row read settles after it has read (the
	// callers of QueryContext call settle after their rows), and the
	// writer's statements outside a transaction, each its own commit,
	// return once theirs is durable.
	wal    *walSyncer
	writer bool
	parts  *partCache // the writer's recent shared parts (parts.go); nil: none remembered
}

// row is a *sql.Row whose Scan, on a reader, waits until what it read is
// durable.
type row struct {
	*sql.Row
	settle func() error
}

func (r row) Scan(dest ...any) error {
	err := r.Row.Scan(dest...)
	if r.settle != nil && (err == nil || errors.Is(err, sql.ErrNoRows)) {
		if serr := r.settle(); serr != nil {
			return serr
		}
	}
	return err
}

type txx struct {
	*sql.Tx
	pg    bool
	stmts *stmtCache
	parts *partCache
	// head is the audit chain's last entry as this transaction has written
	// it, so a batch reads the head once.
	head *auditHead
	// links is SQLite's queue of links not yet in the links table (nil on
	// PostgreSQL); pending, fresh and own are this transaction's new links
	// (sqlite_links.go).
	links   *linkQueue
	subs    *submitted // SQLite's filter of records ever submitted; nil: none
	linkSrc linkSource // where links past memory are read
	pending [][]any
	fresh   []link
	own     map[string]string
	// partsWritten are the shared parts this transaction wrote (parts.go).
	partsWritten []string
}

type auditHead struct {
	seq  int64
	hash []byte
}

// stmt returns the prepared form of q, preparing it on first sight: outside
// a transaction no caller holds a connection, so preparing is safe here.
func (d *dbx) stmt(ctx context.Context, q string) *sql.Stmt {
	if d.stmts == nil {
		return nil
	}
	if st := d.stmts.lookup(q); st != nil {
		return st
	}
	d.stmts.prepare(ctx, d.DB)
	return d.stmts.lookup(q)
}

// ExecContext runs a statement. On the writer it is a commit of its own,
// and returns once that is durable.
func (d *dbx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if d.writer {
		if err := d.wal.health(); err != nil {
			return nil, err
		}
	}
	var (
		res sql.Result
		err error
		gen uint64
	)
	if d.writer {
		gen = d.wal.begin()
	}
	if st := d.stmt(ctx, q); st != nil {
		res, err = st.ExecContext(ctx, args...)
	} else {
		res, err = d.DB.ExecContext(ctx, rebind(q, d.pg), args...)
	}
	if d.writer {
		d.wal.end()
		if err == nil {
			err = d.wal.wait(gen)
		}
	}
	return res, err
}

// QueryContext runs a query. A reader's caller calls settle once it has
// read the rows. On the writer, a query that writes (UPDATE ... RETURNING)
// commits when its rows are closed: the caller brackets it with begin and
// end, and waits.
func (d *dbx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := d.stmt(ctx, q); st != nil {
		return st.QueryContext(ctx, args...)
	}
	return d.DB.QueryContext(ctx, rebind(q, d.pg), args...)
}

func (d *dbx) QueryRowContext(ctx context.Context, q string, args ...any) row {
	r := row{}
	if d.wal != nil && !d.writer {
		r.settle = d.wal.settle
	}
	if st := d.stmt(ctx, q); st != nil {
		r.Row = st.QueryRowContext(ctx, args...)
	} else {
		r.Row = d.DB.QueryRowContext(ctx, rebind(q, d.pg), args...)
	}
	return r
}

// unsettled reads a row without waiting until it is durable: the caller
// settles when it must.
type unsettled struct{ d *dbx }

func (u unsettled) QueryRowContext(ctx context.Context, q string, args ...any) row {
	r := u.d.QueryRowContext(ctx, q, args...)
	r.settle = nil
	return r
}

// settle waits until what a reader has read is durable.
func (d *dbx) settle() error {
	if d.writer {
		return nil
	}
	return d.wal.settle()
}

// BeginTx starts a transaction, first preparing the statements seen since
// the last one: with SQLite's single connection, a statement can only be
// prepared while no transaction holds it.
func (d *dbx) BeginTx(ctx context.Context, opts *sql.TxOptions) (*txx, error) {
	d.stmts.prepare(ctx, d.DB)
	tx, err := d.DB.BeginTx(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &txx{Tx: tx, pg: d.pg, stmts: d.stmts, parts: d.parts}, nil
}

func (t *txx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	if st := t.stmts.lookup(q); st != nil {
		return t.Tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	}
	return t.Tx.ExecContext(ctx, rebind(q, t.pg), args...)
}

func (t *txx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	if st := t.stmts.lookup(q); st != nil {
		return t.Tx.StmtContext(ctx, st).QueryContext(ctx, args...)
	}
	return t.Tx.QueryContext(ctx, rebind(q, t.pg), args...)
}

func (t *txx) QueryRowContext(ctx context.Context, q string, args ...any) row {
	if st := t.stmts.lookup(q); st != nil {
		return row{Row: t.Tx.StmtContext(ctx, st).QueryRowContext(ctx, args...)}
	}
	return row{Row: t.Tx.QueryRowContext(ctx, rebind(q, t.pg), args...)}
}

// stmtCache keeps prepared statements, so SQLite parses each statement once
// rather than on every call (parsing was a sixth of an exchange's CPU). A
// statement is prepared lazily: the first call runs it unprepared and marks
// it wanted, and the next transaction prepares it.
type stmtCache struct {
	mu     sync.Mutex
	stmts  map[string]*sql.Stmt
	wanted map[string]bool
}

// maxStmts bounds the cache; statements beyond it run unprepared.
const maxStmts = 256

func newStmtCache() *stmtCache {
	return &stmtCache{stmts: map[string]*sql.Stmt{}, wanted: map[string]bool{}}
}

func (c *stmtCache) lookup(q string) *sql.Stmt {
	if c == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	st := c.stmts[q]
	if st == nil && len(c.stmts)+len(c.wanted) < maxStmts {
		c.wanted[q] = true
	}
	return st
}

// prepare prepares the wanted statements. It must not be called while the
// caller holds a transaction on a single-connection pool.
func (c *stmtCache) prepare(ctx context.Context, db *sql.DB) {
	if c == nil {
		return
	}
	c.mu.Lock()
	if len(c.wanted) == 0 {
		c.mu.Unlock()
		return
	}
	qs := make([]string, 0, len(c.wanted))
	for q := range c.wanted {
		qs = append(qs, q)
	}
	clear(c.wanted)
	c.mu.Unlock()
	for _, q := range qs {
		// A statement that does not prepare keeps running unprepared, where
		// it reports its own error.
		st, err := db.PrepareContext(ctx, q)
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.stmts[q] == nil {
			c.stmts[q] = st
			st = nil
		}
		c.mu.Unlock()
		if st != nil {
			st.Close()
		}
	}
}

// close closes the prepared statements.
func (c *stmtCache) close() {
	if c == nil {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for q, st := range c.stmts {
		st.Close()
		delete(c.stmts, q)
	}
}

// rebind turns ? placeholders into PostgreSQL's $n. The statements of this
// package have no ? inside string literals.
func rebind(q string, pg bool) string {
	if !pg || !strings.Contains(q, "?") {
		return q
	}
	var b strings.Builder
	b.Grow(len(q) + 16)
	n := 0
	for i := 0; i < len(q); i++ {
		if q[i] == '?' {
			n++
			b.WriteByte('$')
			b.WriteString(strconv.Itoa(n))
			continue
		}
		b.WriteByte(q[i])
	}
	return b.String()
}

// isUniqueViolation reports a unique or primary key conflict on either database.
func isUniqueViolation(err error) bool {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}

// forUpdate locks the selected rows on PostgreSQL; SQLite's writers are
// already serialised by its immediate transactions.
func forUpdate(pg bool) string {
	if pg {
		return " FOR UPDATE"
	}
	return ""
}
