package store

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// makeOldStore makes a store of 4 KiB pages, as versions before pageSize
// made, holding n linked releases, and returns its path and persons.
func makeOldStore(t *testing.T, n int) (string, map[string]string) {
	t.Helper()
	path := makeOldDatabase(t)
	s := openAt(t, path)
	persons := map[string]string{}
	releasePersons(t, s, 0, n, persons)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	return path, persons
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
	if size, mode := pageAndMode(t, s); size != pageSize || mode != "wal" {
		t.Fatalf("after vacuum: %d-byte pages, journal %q; want %d, wal", size, mode, pageSize)
	}
	if s.links.rebuilt {
		t.Error("the links index was rebuilt: the vacuum moved the log's rows")
	}
	checkPersons(t, s, persons)
	checkReleased(t, s, 300, "after vacuum")
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
		if size, mode := pageAndMode(t, s); size != 4096 || mode != "wal" {
			t.Errorf("with %s open: %d-byte pages, journal %q; want them left at 4096, wal", name, size, mode)
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
	if size, _ := pageAndMode(t, s); size != pageSize {
		t.Fatalf("page size %d, want %d", size, pageSize)
	}
	checkPersons(t, s, persons)
}
