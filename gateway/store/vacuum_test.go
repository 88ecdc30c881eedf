package store

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tumarproject/tumar/gateway/audit"
)

// makeOldStore makes a store of 4 KiB pages, as versions before pageSize
// made, holding n linked releases, and returns its path and persons.
func makeOldStore(t *testing.T, n int) (string, map[string]string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "tumar.db")
	db, err := sql.Open("sqlite", "file:"+path+"?_pragma=page_size(4096)&_journal_mode=WAL")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(`CREATE TABLE earlier (a)`); err != nil {
		t.Fatal(err)
	}
	db.Close()
	s := openAt(t, path)
	persons := map[string]string{}
	releasePersons(t, s, 0, n, persons)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, persons
}

func pageSizeOf(t *testing.T, s *SQL) int {
	t.Helper()
	var n int
	if err := s.db.QueryRowContext(context.Background(), `PRAGMA page_size`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// A vacuum gives an earlier database the page size of a new one, and keeps
// every message, entry and link: the links index is not rebuilt, since the
// log's rows keep their ids.
func TestVacuumGivesOldDatabasesNewPagesAndKeepsEverything(t *testing.T) {
	ctx := context.Background()
	path, persons := makeOldStore(t, 300)
	rep, err := VacuumSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	if rep.PageSizeBefore != 4096 || rep.PageSizeAfter != pageSize || rep.BytesBefore <= 0 || rep.BytesAfter <= 0 {
		t.Fatalf("report %+v, want 4096 → %d bytes a page", rep, pageSize)
	}
	s := openAt(t, path)
	defer s.Close()
	if got := pageSizeOf(t, s); got != pageSize {
		t.Fatalf("page size %d after vacuum, want %d", got, pageSize)
	}
	var mode string
	if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
		t.Fatalf("journal mode %q (%v), want wal", mode, err)
	}
	if s.links.rebuilt {
		t.Error("the links index was rebuilt: the vacuum moved the log's rows")
	}
	checkPersons(t, s, persons)
	got, err := s.Inbox(ctx, "errp", 1000)
	if err != nil {
		t.Fatal(err)
	}
	log, err := s.AuditLog(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 300 || len(log) != 300 || audit.Verify(nil, log) != nil {
		t.Fatalf("after vacuum: %d messages, %d audit entries (verify: %v)", len(got), len(log), audit.Verify(nil, log))
	}
}

// Nothing may have the database open during a vacuum: the gateway (which
// holds the links index) and any other process are refused, and the
// database is left as it was.
func TestVacuumRefusesADatabaseInUse(t *testing.T) {
	ctx := context.Background()
	path, _ := makeOldStore(t, 10)
	for name, open := range map[string]func(context.Context, string) (*SQL, error){
		"the gateway's store": OpenSQLite,
		"a store beside it":   OpenSQLiteWithoutLinks,
	} {
		s, err := open(ctx, path)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := VacuumSQLite(ctx, path); !errors.Is(err, ErrInUse) {
			t.Errorf("with %s open: %v, want ErrInUse", name, err)
		}
		if got := pageSizeOf(t, s); got != 4096 {
			t.Errorf("with %s open: page size %d, want it left at 4096", name, got)
		}
		var mode string
		if err := s.db.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil || mode != "wal" {
			t.Errorf("with %s open: journal mode %q (%v), want it left in wal", name, mode, err)
		}
		s.Close()
	}
	for _, path := range []string{":memory:", "file:x.db", filepath.Join(t.TempDir(), "none.db")} {
		if _, err := VacuumSQLite(ctx, path); err == nil {
			t.Errorf("%s: vacuumed, want an error", path)
		}
	}
}

// The links index's lock alone, held by a gateway starting up, is enough
// to refuse a vacuum.
func TestVacuumRefusesALockedLinksIndex(t *testing.T) {
	path, _ := makeOldStore(t, 1)
	lock, err := pebble.LockDirectory(indexDir(path), vfs.Default)
	if err != nil {
		t.Fatal(err)
	}
	defer lock.Close()
	if _, err := VacuumSQLite(context.Background(), path); !errors.Is(err, ErrInUse) {
		t.Fatalf("with the links index locked: %v, want ErrInUse", err)
	}
}

// A process that opens the database while it is out of WAL mode waits for
// the vacuum, which still rewrites it with new pages, and then opens it.
func TestVacuumKeepsTheDatabaseFromLateOpeners(t *testing.T) {
	ctx := context.Background()
	path, persons := makeOldStore(t, 50)
	opened := make(chan error, 1)
	var late *SQL
	vacuumOutOfWAL = func() {
		go func() {
			var err error
			late, err = OpenSQLiteWithoutLinks(ctx, path)
			opened <- err
		}()
		time.Sleep(200 * time.Millisecond) // the opener is waiting on the lock by now
	}
	t.Cleanup(func() { vacuumOutOfWAL = nil })
	rep, err := VacuumSQLite(ctx, path)
	if err != nil || rep.PageSizeAfter != pageSize {
		t.Fatalf("vacuum with a late opener: %+v, %v; want %d-byte pages", rep, err, pageSize)
	}
	if err := <-opened; err != nil {
		t.Fatalf("the late opener: %v", err)
	}
	late.Close()
	s := openAt(t, path)
	defer s.Close()
	if got := pageSizeOf(t, s); got != pageSize {
		t.Fatalf("page size %d, want %d", got, pageSize)
	}
	checkPersons(t, s, persons)
}
