package store

import (
	"context"
	"database/sql"
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// dbx and txx run statements written with ? placeholders on either
// database: for PostgreSQL the placeholders become $1, $2 ...
type dbx struct {
	*sql.DB
	pg bool
}

type txx struct {
	*sql.Tx
	pg bool
}

func (d *dbx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return d.DB.ExecContext(ctx, rebind(q, d.pg), args...)
}

func (d *dbx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return d.DB.QueryContext(ctx, rebind(q, d.pg), args...)
}

func (d *dbx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return d.DB.QueryRowContext(ctx, rebind(q, d.pg), args...)
}

func (t *txx) ExecContext(ctx context.Context, q string, args ...any) (sql.Result, error) {
	return t.Tx.ExecContext(ctx, rebind(q, t.pg), args...)
}

func (t *txx) QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error) {
	return t.Tx.QueryContext(ctx, rebind(q, t.pg), args...)
}

func (t *txx) QueryRowContext(ctx context.Context, q string, args ...any) *sql.Row {
	return t.Tx.QueryRowContext(ctx, rebind(q, t.pg), args...)
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
