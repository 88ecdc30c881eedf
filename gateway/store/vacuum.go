package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// VacuumReport is what VacuumSQLite did: the database's page size and its
// size on disk (with its WAL) before and after.
type VacuumReport struct {
	PageSizeBefore, PageSizeAfter int
	BytesBefore, BytesAfter       int64
}

// vacuumOutOfWAL, when set by a test, runs once VacuumSQLite has taken the
// database out of WAL mode.
var vacuumOutOfWAL func()

// ErrInUse means another process has the database open.
var ErrInUse = errors.New("store: another process has the database open")

// VacuumSQLite rewrites the SQLite database at path compactly, with the
// page size a new database gets (pageSize): a database made before keeps
// its 4 KiB pages otherwise, and one whose audit log was truncated keeps
// the space of the entries removed. Nothing else may have the database
// open: the gateway's links index is locked for the duration, and the
// database is taken out of WAL mode, which SQLite refuses while another
// connection has it. VACUUM runs as one transaction under a rollback
// journal, so a crash leaves the database as it was; it needs up to twice
// the database's size free, beside it and in the temporary directory.
// Row ids are kept, so the links index stays in step with the log.
func VacuumSQLite(ctx context.Context, path string) (rep VacuumReport, err error) {
	if err := checkSQLitePath(path); err != nil {
		return rep, err
	}
	if path == ":memory:" {
		return rep, errors.New("store: a database in memory has nothing to vacuum")
	}
	if _, err := os.Stat(path); err != nil {
		return rep, fmt.Errorf("store: no database at %s: %w", path, err)
	}
	if dir := indexDir(path); dirExists(dir) {
		lock, err := pebble.LockDirectory(dir, vfs.Default)
		if err != nil {
			if lockedByAnother(err) {
				return rep, fmt.Errorf("%w: its links index %s is locked (%w): stop the gateway first", ErrInUse, dir, err)
			}
			return rep, fmt.Errorf("%w: lock the links index %s: %w", ErrUnavailable, dir, err)
		}
		defer lock.Close()
	}
	rep.BytesBefore = sqliteBytes(path)

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(1000)")
	if err != nil {
		return rep, fmt.Errorf("%w: open %s: %w", ErrUnavailable, path, err)
	}
	defer db.Close()
	conn, err := db.Conn(ctx) // one connection: the pragmas below are its own
	if err != nil {
		return rep, fmt.Errorf("%w: open %s: %w", ErrUnavailable, path, err)
	}
	defer conn.Close()
	if err := conn.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&rep.PageSizeBefore); err != nil {
		return rep, fmt.Errorf("%w: read %s: %w", ErrUnavailable, path, err)
	}
	// The connection keeps its lock from the switch out of WAL mode to the
	// end: in rollback-journal mode it would drop it between statements,
	// and a process opening the database meanwhile would put it back in WAL
	// mode, where the page size cannot change.
	if _, err := conn.ExecContext(ctx, `PRAGMA locking_mode=EXCLUSIVE`); err != nil {
		return rep, fmt.Errorf("%w: %s: exclusive locking: %w", ErrUnavailable, path, err)
	}
	var mode string
	err = conn.QueryRowContext(ctx, `PRAGMA journal_mode=DELETE`).Scan(&mode)
	switch {
	case busy(err) || err == nil && mode != "delete":
		return rep, fmt.Errorf("%w (a gateway, a connector run, tumar audit or xroad): stop it first", ErrInUse)
	case err != nil:
		return rep, fmt.Errorf("%w: %s: leave WAL mode: %w", ErrUnavailable, path, err)
	}
	if vacuumOutOfWAL != nil {
		vacuumOutOfWAL()
	}
	// From here on the database is out of WAL mode: whatever fails, it goes
	// back in (the gateway would also put it back when it opens it).
	defer func() {
		bg := context.WithoutCancel(ctx)
		_, lerr := conn.ExecContext(bg, `PRAGMA locking_mode=NORMAL`)
		_, werr := conn.ExecContext(bg, `PRAGMA journal_mode=WAL`)
		if werr = errors.Join(lerr, werr); werr != nil {
			err = errors.Join(err, fmt.Errorf("%w: %s: back to WAL mode: %w", ErrUnavailable, path, werr))
		}
	}()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA page_size=%d`, pageSize)); err != nil {
		return rep, fmt.Errorf("%w: %s: page size: %w", ErrUnavailable, path, err)
	}
	if _, err := conn.ExecContext(ctx, `VACUUM`); err != nil {
		return rep, fmt.Errorf("%w: vacuum %s: %w", ErrUnavailable, path, err)
	}
	var check string
	if err := conn.QueryRowContext(ctx, `PRAGMA quick_check`).Scan(&check); err != nil || check != "ok" {
		return rep, fmt.Errorf("%w: %s after vacuum: quick_check %q, %v", ErrUnavailable, path, check, err)
	}
	if err := conn.QueryRowContext(ctx, `PRAGMA page_size`).Scan(&rep.PageSizeAfter); err != nil {
		return rep, fmt.Errorf("%w: read %s: %w", ErrUnavailable, path, err)
	}
	if rep.PageSizeAfter != pageSize {
		return rep, fmt.Errorf("%w: %s: %d-byte pages after vacuum, want %d", ErrUnavailable, path, rep.PageSizeAfter, pageSize)
	}
	rep.BytesAfter = sqliteBytes(path)
	return rep, nil
}

// busy reports whether err is SQLite's "database is locked" (SQLITE_BUSY)
// or "table is locked" (SQLITE_LOCKED), extended codes included.
func busy(err error) bool {
	var e *sqlite.Error
	if !errors.As(err, &e) {
		return false
	}
	c := e.Code() & 0xff
	return c == sqlite3.SQLITE_BUSY || c == sqlite3.SQLITE_LOCKED
}

func dirExists(dir string) bool {
	fi, err := os.Stat(dir)
	return err == nil && fi.IsDir()
}

// sqliteBytes is the size of a database file and its WAL.
func sqliteBytes(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}
