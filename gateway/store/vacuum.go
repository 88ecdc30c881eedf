package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// VacuumReport is what VacuumSQLite did: the database's page size and its
// size on disk (with its WAL) before and after.
type VacuumReport struct {
	PageSizeBefore, PageSizeAfter int
	BytesBefore, BytesAfter       int64
}

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

	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
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
	var mode string
	if err := conn.QueryRowContext(ctx, `PRAGMA journal_mode=DELETE`).Scan(&mode); err != nil || mode != "delete" {
		return rep, fmt.Errorf("%w (a connector run, tumar audit or xroad, or a gateway): stop it first (%s: journal mode %q, %v)", ErrInUse, path, mode, err)
	}
	// From here on the database is out of WAL mode: whatever fails, it goes
	// back in (the gateway would also put it back when it opens it).
	defer func() {
		if _, werr := conn.ExecContext(context.WithoutCancel(ctx), `PRAGMA journal_mode=WAL`); werr != nil && err == nil {
			err = fmt.Errorf("%w: back to WAL mode: %w", ErrUnavailable, werr)
		}
	}()
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`PRAGMA page_size=%d`, pageSize)); err != nil {
		return rep, fmt.Errorf("%w: %w", ErrUnavailable, err)
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
	rep.BytesAfter = sqliteBytes(path)
	return rep, nil
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
