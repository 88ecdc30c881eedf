package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
	"github.com/tumarproject/tumar/gateway/store/storetest"
)

// Submissions moved into the outbox rows (SQLite 17, PostgreSQL 7) go back
// into their own table going down and come back going up, each version and
// content hash where it was; a submission without its release in the outbox
// makes the move refuse, changing nothing.
func TestSubmissionsMoveIntoTheOutbox(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) {
			checkSubmissionsMove(t, newMigrationDB(t, pg), map[bool]int64{false: 16, true: 6}[pg])
		})
	}
}

// migrationDB is a new database for a migration test: a file of its own,
// or, when the test has PostgreSQL, a database of its own.
type migrationDB struct {
	pg      bool
	dialect goose.Dialect
	name    string // the SQLite file, or the PostgreSQL DSN
}

func newMigrationDB(t *testing.T, pg bool) migrationDB {
	if pg {
		return migrationDB{pg: true, dialect: goose.DialectPostgres, name: storetest.PostgresDSN(t)}
	}
	return migrationDB{dialect: goose.DialectSQLite3, name: filepath.Join(t.TempDir(), "tumar.db")}
}

// open opens the store on it, migrating it up.
func (d migrationDB) open(t *testing.T) *store.SQL {
	t.Helper()
	open := store.OpenSQLite
	if d.pg {
		open = store.OpenPostgres
	}
	s, err := open(context.Background(), d.name)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// raw opens it bare, for goose.
func (d migrationDB) raw(t *testing.T) *sql.DB {
	t.Helper()
	driver, name := "sqlite", "file:"+d.name
	if d.pg {
		driver, name = "pgx", d.name
	}
	db, err := sql.Open(driver, name)
	if err != nil {
		t.Fatal(err)
	}
	return db
}

func checkSubmissionsMove(t *testing.T, d migrationDB, below int64) {
	ctx := context.Background()
	pg := d.pg
	release := func(i int, srcID, dest, hash string) store.Release {
		return store.Release{
			Message: &store.Message{ID: fmt.Sprintf("m%d", i), Source: "ngo", Destination: dest, Purpose: "p", DecisionID: fmt.Sprintf("d%d", i),
				CreatedAt: time.Now(), Payload: fmt.Appendf(nil, `{"n":%d}`, i), SourceRecordID: srcID, ContentHash: hash},
			Entry: &audit.Entry{DecisionID: fmt.Sprintf("d%d", i), Time: time.Now(), Event: "exchange", Source: "ngo", Destination: dest,
				Purpose: "p", Outcome: audit.Released},
		}
	}
	s := d.open(t)
	rs := []store.Release{release(0, "CASE-1", "errp", "A"), release(1, "CASE-1", "errp", "B"), release(2, "CASE-1", "consul", "A"),
		release(3, "", "errp", ""), release(4, "CASE-2", "errp", "C")}
	for i, err := range s.ReleaseBatch(ctx, rs) {
		if err != nil {
			t.Fatalf("release %d: %v", i, err)
		}
	}
	s.Close()

	db := d.raw(t)
	defer db.Close()
	p, err := goose.NewProvider(d.dialect, db, store.MigrationsFS(pg))
	if err != nil {
		t.Fatal(err)
	}
	top, err := p.GetDBVersion(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, below); err != nil {
		t.Fatalf("down: %v", err)
	}
	want := map[string]string{"CASE-1 errp 1": "A m0", "CASE-1 errp 2": "B m1", "CASE-1 consul 1": "A m2", "CASE-2 errp 1": "C m4"}
	got := map[string]string{}
	rows, err := db.QueryContext(ctx, `SELECT source_record_id, destination, version, content_hash, exchange_id FROM submissions`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var id, dest, hash, ex string
		var v int
		if err := rows.Scan(&id, &dest, &v, &hash, &ex); err != nil {
			t.Fatal(err)
		}
		got[fmt.Sprintf("%s %s %d", id, dest, v)] = hash + " " + ex
	}
	rows.Close()
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("submissions after going down: %v, want %v", got, want)
	}

	// A submission whose release is not in the outbox: the move refuses.
	if _, err := db.ExecContext(ctx, rebind(pg, `INSERT INTO submissions (source, source_record_id, destination, purpose, version, content_hash, exchange_id, decision_id, created_at)
		VALUES ('ngo', 'CASE-9', 'errp', 'p', 1, 'Z', 'gone', 'd9', ?)`), time.Now().UTC().Format(time.RFC3339Nano)); err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, top); err == nil {
		t.Fatal("moved a submission without its release")
	}
	var n int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM submissions`).Scan(&n); err != nil || n != 5 {
		t.Fatalf("a refused move changed the submissions: %d rows, %v", n, err)
	}
	if _, err := db.ExecContext(ctx, `DELETE FROM submissions WHERE exchange_id = 'gone'`); err != nil {
		t.Fatal(err)
	}

	// Up again, by opening the store: the same versions, and a duplicate
	// still found as one.
	s = d.open(t)
	defer s.Close()
	for key, w := range want {
		var id, dest string
		var v int
		fmt.Sscanf(key, "%s %s %d", &id, &dest, &v)
		latest, err := s.LatestSubmission(ctx, "ngo", id, dest, "p")
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if id == "CASE-1" && dest == "errp" && v == 1 {
			continue // not the latest
		}
		if got := latest.ContentHash + " " + latest.ExchangeID; got != w || latest.Version != v {
			t.Fatalf("%s after coming back up: version %d, %s; want %d, %s", key, latest.Version, got, v, w)
		}
	}
	var dup *store.DuplicateError
	again := release(5, "CASE-1", "errp", "B")
	if err := s.Release(ctx, again.Message, again.Entry); !errors.As(err, &dup) || dup.Existing.ExchangeID != "m1" {
		t.Fatalf("the latest content again after the move: %v", err)
	}
	changed := release(6, "CASE-1", "errp", "A")
	if err := s.Release(ctx, changed.Message, changed.Entry); err != nil {
		t.Fatalf("changed content after the move: %v", err)
	}
	if latest, err := s.LatestSubmission(ctx, "ngo", "CASE-1", "errp", "p"); err != nil || latest.Version != 3 || latest.ExchangeID != "m6" {
		t.Fatalf("after the move, the next version: %+v, %v", latest, err)
	}
}
