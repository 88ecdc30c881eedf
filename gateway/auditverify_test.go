package gateway

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
)

type auditFixture struct {
	st   *store.SQL
	raw  *sql.DB // the same file, for tampering as an administrator could
	cp   *Checkpointer
	keys jose.JSONWebKeySet
	// decodedSeesLess: the tampering shows in the rows, which decoded
	// entries do not carry; verification from them fails elsewhere.
	decodedSeesLess bool
}

func newAuditFixture(t *testing.T, entries int, checkpointAt ...int) *auditFixture {
	t.Helper()
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "a.db")
	st, err := store.OpenSQLite(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	raw, _ := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(5000)")
	t.Cleanup(func() { raw.Close() })
	mem, _ := keys.NewMemory("errp")
	pubs, _ := mem.PublicKeys(ctx, keys.SigningKeyAudit)
	f := &auditFixture{st: st, raw: raw, cp: &Checkpointer{Store: st, Signer: mem}, keys: jose.JSONWebKeySet{Keys: pubs}}
	base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	// Field decisions as long as a real record's, so that the store keeps
	// them once, as a shared part.
	fields := []audit.FieldAction{
		{Field: "prs_FirstName", Action: "pseudonymise", Rule: "criminal-referral/class/direct_identifier"},
		{Field: "prs_Birthdate", Action: "generalise", Rule: "criminal-referral/class/quasi_identifier"},
		{Field: "vic_TraffickingStatus", Action: "keep", Rule: "criminal-referral/class/sensitive"},
	}
	for i := 1; i <= entries; i++ {
		e := &audit.Entry{DecisionID: fmt.Sprintf("d%d", i), Time: base.Add(time.Duration(i) * time.Hour), Event: "exchange", Source: "ngo",
			Destination: "errp", Purpose: "criminal-referral", Outcome: audit.Released, Fields: fields}
		if err := st.Audit(ctx, e); err != nil {
			t.Fatal(err)
		}
		for _, at := range checkpointAt {
			if at == i {
				if _, err := f.cp.Checkpoint(ctx); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return f
}

func (f *auditFixture) exec(t *testing.T, q string, args ...any) {
	t.Helper()
	if _, err := f.raw.Exec(q, args...); err != nil {
		t.Fatal(err)
	}
}

// decodedOnly hides the store's raw entries, so that VerifyLog decodes
// every entry instead.
type decodedOnly struct{ audit.Log }

// verify verifies the log both ways, from the stored bytes and from decoded
// entries, and checks that both find the same.
func (f *auditFixture) verify(t *testing.T) *audit.Report {
	t.Helper()
	rep, err := audit.VerifyLog(context.Background(), f.st, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	dec, err := audit.VerifyLog(context.Background(), decodedOnly{f.st}, f.keys)
	if err != nil {
		t.Fatal(err)
	}
	// Both find the same first bad entry; they may word it differently
	// (the stored bytes show some changes more directly).
	a, b := *rep, *dec
	a.Problem, b.Problem = "", ""
	if f.decodedSeesLess && !rep.OK && !dec.OK {
		return rep
	}
	if a != b {
		t.Fatalf("from the stored bytes: %+v\ndecoded: %+v", rep, dec)
	}
	return rep
}

func TestVerifyLogFindsTampering(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tamper  func(t *testing.T, f *auditFixture)
		badSeq  int64
		problem string
	}{
		{"intact", func(*testing.T, *auditFixture) {}, 0, ""},
		{"modified", func(t *testing.T, f *auditFixture) {
			f.exec(t, `UPDATE audit SET entry = replace(entry, '"destination":"errp"', '"destination":"exxp"') WHERE seq = 5`)
		}, 5, "content does not match"},
		{"deleted", func(t *testing.T, f *auditFixture) { f.exec(t, `DELETE FROM audit WHERE seq = 4`) }, 4, "entry 4 is missing"},
		{"inserted", func(t *testing.T, f *auditFixture) {
			f.exec(t, `UPDATE audit SET seq = -seq WHERE seq >= 6`)
			f.exec(t, `UPDATE audit SET seq = 1 - seq WHERE seq < 0`)
			f.exec(t, `INSERT INTO audit (seq, decision_id, time, source, destination, purpose, outcome, entry, hash, entry_part, entry_at) SELECT 6, 'forged', time, source, destination, purpose, outcome, entry, hash, entry_part, entry_at FROM audit WHERE seq = 5`)
		}, 6, ""},
		{"shared part altered", func(t *testing.T, f *auditFixture) {
			f.exec(t, `UPDATE parts SET body = CAST(replace(body, '"generalise"', '"keep"') AS BLOB)`)
		}, 1, "content does not match"},
		{"shared part removed", func(t *testing.T, f *auditFixture) { f.exec(t, `DELETE FROM parts`) }, 1, "cannot be read"},
		{"renumbered", func(t *testing.T, f *auditFixture) {
			f.exec(t, `UPDATE audit SET seq = seq + 1000`)
			f.decodedSeesLess = true
		}, 1, "entry 1 is missing"},
		{"shared part moved", func(t *testing.T, f *auditFixture) {
			f.exec(t, `UPDATE audit SET entry_at = entry_at - 1 WHERE seq = 7`)
		}, 7, "entry 7 cannot be read"},
		{"edit that shifts a shared part", func(t *testing.T, f *auditFixture) {
			f.exec(t, `UPDATE audit SET entry = replace(entry, '"purpose":"criminal-referral"', '"purpose":"support"') WHERE seq = 3`)
		}, 3, "cannot be read"},
		{"reordered", func(t *testing.T, f *auditFixture) {
			f.exec(t, `UPDATE audit SET seq = -3 WHERE seq = 3`)
			f.exec(t, `UPDATE audit SET seq = 3 WHERE seq = 4`)
			f.exec(t, `UPDATE audit SET seq = 4 WHERE seq = -3`)
		}, 3, ""},
		{"tail cut off behind a checkpoint", func(t *testing.T, f *auditFixture) { f.exec(t, `DELETE FROM audit WHERE seq > 8`) }, 9, "cut off the end"},
		{"head removed without a signed truncation", func(t *testing.T, f *auditFixture) { f.exec(t, `DELETE FROM audit WHERE seq <= 2`) }, 1, "no signed truncation checkpoint"},
		{"forged checkpoint", func(t *testing.T, f *auditFixture) {
			other, _ := keys.NewMemory("x")
			cp, _ := audit.Sign(context.Background(), other, 10, make([]byte, 32), audit.KindCheckpoint, time.Now())
			f.exec(t, `UPDATE checkpoints SET signed = ? WHERE seq = 10`, cp.Signed)
		}, 10, "forged signature"},
		{"checkpoint moved", func(t *testing.T, f *auditFixture) { f.exec(t, `UPDATE checkpoints SET seq = 9 WHERE seq = 10`) }, 9, "differs from what was signed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newAuditFixture(t, 12, 5, 10)
			tc.tamper(t, f)
			rep := f.verify(t)
			if tc.badSeq == 0 {
				if !rep.OK || rep.Entries != 12 || rep.Checkpoints != 2 || rep.Unsigned != 2 {
					t.Fatalf("an intact log: %+v", rep)
				}
				return
			}
			if rep.OK || rep.BadSeq != tc.badSeq || !strings.Contains(rep.Problem, tc.problem) {
				t.Fatalf("got ok=%v bad=%d %q, want bad=%d %q", rep.OK, rep.BadSeq, rep.Problem, tc.badSeq, tc.problem)
			}
		})
	}
}

// An administrator who edits an entry and recomputes every hash after it
// still cannot match the signed checkpoint.
func TestVerifyLogFindsARewrittenChain(t *testing.T) {
	ctx := context.Background()
	f := newAuditFixture(t, 8, 6)
	entries, _ := f.st.AuditLog(ctx, 0, 100)
	var prev []byte
	for i := range entries {
		if entries[i].Seq == 3 {
			entries[i].Destination = "consulate"
		}
		body, err := entries[i].Seal(entries[i].Seq, prev)
		if err != nil {
			t.Fatal(err)
		}
		prev = entries[i].Hash
		// Whole, as rows written before shared parts are: they are read too.
		f.exec(t, `UPDATE audit SET entry = ?, hash = ?, entry_part = NULL, entry_at = NULL WHERE seq = ?`, body, entries[i].Hash, entries[i].Seq)
	}
	rep := f.verify(t)
	if rep.OK || rep.BadSeq != 6 || !strings.Contains(rep.Problem, "chain was rewritten") {
		t.Fatalf("got %+v", rep)
	}
}

func TestRetentionBehindASignedTruncation(t *testing.T) {
	ctx := context.Background()
	f := newAuditFixture(t, 10, 4)
	n, err := f.cp.Truncate(ctx, time.Date(2026, 1, 1, 6, 30, 0, 0, time.UTC))
	if err != nil || n != 6 {
		t.Fatalf("truncated %d, %v", n, err)
	}
	rep := f.verify(t)
	if !rep.OK || rep.FirstSeq != 7 || rep.TruncatedUpTo != 6 || rep.Entries != 4 {
		t.Fatalf("after retention: %+v", rep)
	}
	// The chain goes on from the truncation.
	if err := f.st.Audit(ctx, &audit.Entry{DecisionID: "after", Time: time.Now(), Event: "exchange", Outcome: audit.Released}); err != nil {
		t.Fatal(err)
	}
	if rep := f.verify(t); !rep.OK || rep.LastSeq != 11 {
		t.Fatalf("after a new entry: %+v", rep)
	}
}
