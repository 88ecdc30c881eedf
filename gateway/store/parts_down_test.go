package store_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"

	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
	"github.com/tumarproject/tumar/gateway/store/storetest"
)

// Migrating below the shared parts puts every part back into its rows, byte
// for byte; with a part missing it refuses and changes nothing.
func TestPartsMigrationDown(t *testing.T) {
	for _, pg := range []bool{false, true} {
		t.Run(map[bool]string{false: "sqlite", true: "postgres"}[pg], func(t *testing.T) {
			d := newMigrationDB(t, pg)
			s := d.open(t)
			checkPartsDown(t, s, func() *sql.DB {
				s.Close()
				return d.raw(t)
			}, d.dialect, pg, map[bool]int64{false: 14, true: 5}[pg])
		})
	}
}

func checkPartsDown(t *testing.T, s *store.SQL, reopen func() *sql.DB, dialect goose.Dialect, pg bool, below int64) {
	ctx := context.Background()
	fields := storetest.RealisticFields()
	list, _ := json.Marshal(fields)
	var rs []store.Release
	for i := range 4 {
		rs = append(rs, store.Release{
			Message: &store.Message{ID: fmt.Sprintf("m%d", i), Source: "ngo", Destination: "errp", Purpose: "p", DecisionID: fmt.Sprintf("d%d", i),
				CreatedAt: time.Now(), Payload: fmt.Appendf(nil, `{"id":"Айгүл %d","fields":%s}`, i, list),
				Proof: fmt.Appendf(nil, `{"batch":"%s","index":%d}`, strings.Repeat("s", 200), i)},
			Entry: &audit.Entry{DecisionID: fmt.Sprintf("d%d", i), Time: time.Now(), Event: "exchange", Source: "ngo", Destination: "errp",
				Purpose: "p", Outcome: audit.Released, Fields: fields},
		})
	}
	for _, err := range s.ReleaseBatch(ctx, rs) {
		if err != nil {
			t.Fatal(err)
		}
	}
	inbox, err := s.Inbox(ctx, "errp", 10)
	if err != nil || len(inbox) != 4 {
		t.Fatalf("inbox: %d, %v", len(inbox), err)
	}
	db := reopen()
	defer db.Close()
	p, err := goose.NewProvider(dialect, db, store.MigrationsFS(pg))
	if err != nil {
		t.Fatal(err)
	}
	var cut int
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM audit WHERE entry_at IS NOT NULL`).Scan(&cut); err != nil || cut != 4 {
		t.Fatalf("%d audit entries refer to a part (%v); the test needs all 4", cut, err)
	}

	// A missing part: the migration refuses and leaves the rows as they are.
	tx, _ := db.BeginTx(ctx, nil)
	var hash []byte
	if err := tx.QueryRowContext(ctx, `SELECT proof_part FROM outbox WHERE proof_part IS NOT NULL LIMIT 1`).Scan(&hash); err != nil {
		t.Fatal(err)
	}
	var body []byte
	tx.QueryRowContext(ctx, rebind(pg, `SELECT body FROM parts WHERE hash = ?`), hash).Scan(&body)
	if _, err := tx.ExecContext(ctx, rebind(pg, `DELETE FROM parts WHERE hash = ?`), hash); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, below); err == nil {
		t.Fatal("went down with a part missing")
	}
	if err := db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE proof_at IS NOT NULL`).Scan(&cut); err != nil || cut != 4 {
		t.Fatalf("a refused migration changed the rows: %d proofs still cut, %v", cut, err)
	}
	if _, err := db.ExecContext(ctx, rebind(pg, `INSERT INTO parts (hash, body) VALUES (?, ?)`), hash, body); err != nil {
		t.Fatal(err)
	}

	if _, err := p.DownTo(ctx, below); err != nil {
		t.Fatalf("down: %v", err)
	}
	rows, err := db.QueryContext(ctx, `SELECT payload, proof FROM outbox ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	i := 0
	for rows.Next() {
		var payload, proof []byte
		if err := rows.Scan(&payload, &proof); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(payload, inbox[i].Payload) || !bytes.Equal(proof, inbox[i].Proof) {
			t.Errorf("row %d after going down:\n got %s %s\nwant %s %s", i, payload, proof, inbox[i].Payload, inbox[i].Proof)
		}
		i++
	}
	rows.Close()
	rows, err = db.QueryContext(ctx, `SELECT entry, hash FROM audit ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var entry, h []byte
		if err := rows.Scan(&entry, &h); err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(entry); !bytes.Equal(sum[:], h) {
			t.Errorf("an audit entry after going down does not match its hash: %s", entry)
		}
	}
	rows.Close()
	if i != 4 {
		t.Fatalf("%d outbox rows after going down", i)
	}
}

func rebind(pg bool, q string) string {
	if !pg {
		return q
	}
	for n := 1; strings.Contains(q, "?"); n++ {
		q = strings.Replace(q, "?", fmt.Sprintf("$%d", n), 1)
	}
	return q
}
