package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/gateway/audit"
)

// partsFields are field decisions as long as a real record's.
func partsFields() []audit.FieldAction {
	var out []audit.FieldAction
	for _, f := range []string{"prs_FirstName", "prs_SecondName", "prs_MobilePhone", "prs_IdentityNumber"} {
		out = append(out, audit.FieldAction{Field: f, Action: "pseudonymise", Rule: "criminal-referral/class/direct_identifier"})
	}
	return out
}

// releaseParts releases batches of records that share their field decisions
// and, within a batch, their batch signature.
func releaseParts(t *testing.T, s *SQL, batches, size int) (payloads, proofs int) {
	t.Helper()
	fields := partsFields()
	list, _ := json.Marshal(fields)
	for b := range batches {
		var rs []Release
		for i := range size {
			n := b*size + i
			m := &Message{ID: fmt.Sprintf("m%d", n), Source: "ngo", Destination: "errp", Purpose: "criminal-referral",
				DecisionID: fmt.Sprintf("d%d", n), CreatedAt: time.Now(),
				Payload: fmt.Appendf(nil, `{"exchange_id":"m%d","record":{"prs_FirstName":"errp:v1:%d"},"fields":%s}`, n, n, list),
				Proof:   fmt.Appendf(nil, `{"batch":"%s","index":%d,"size":%d,"path":null}`, strings.Repeat(fmt.Sprint(b), 300), i, size)}
			payloads += len(m.Payload)
			proofs += len(m.Proof)
			rs = append(rs, Release{Message: m, Entry: &audit.Entry{DecisionID: m.DecisionID, Time: time.Now(), Event: "exchange",
				Source: "ngo", Destination: "errp", Purpose: "criminal-referral", Outcome: audit.Released, Fields: fields}})
		}
		for i, err := range s.ReleaseBatch(context.Background(), rs) {
			if err != nil {
				t.Fatalf("batch %d, release %d: %v", b, i, err)
			}
		}
	}
	return payloads, proofs
}

// The field decisions and batch signatures are stored once, not per row.
func TestSharedPartsAreStoredOnce(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	payloads, proofs := releaseParts(t, s, 2, 50)
	var parts, stored int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM parts`).Scan(&parts); err != nil {
		t.Fatal(err)
	}
	if parts != 3 { // one list of field decisions, two batch signatures
		t.Errorf("%d shared parts stored, want 3", parts)
	}
	if err := s.db.QueryRowContext(ctx, `SELECT sum(length(payload) + length(proof)) FROM outbox`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored*2 > payloads+proofs {
		t.Errorf("the outbox keeps %d bytes of %d: the shared parts are not cut out", stored, payloads+proofs)
	}
	var whole int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM audit WHERE instr(entry, 'direct_identifier') > 0 OR entry_part IS NULL`).Scan(&whole); err != nil {
		t.Fatal(err)
	}
	if whole != 0 {
		t.Errorf("%d audit entries keep their field decisions in the row", whole)
	}
}

// A row whose shared part is missing is an error, never a shorter record.
func TestMissingSharedPartFailsTheRead(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	releaseParts(t, s, 1, 3)
	if _, err := s.db.ExecContext(ctx, `DELETE FROM parts`); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Inbox(ctx, "errp", 10); !errors.Is(err, errPartMissing) {
		t.Fatalf("inbox without its parts: %d messages, %v; want errPartMissing", len(got), err)
	}
	if got, err := s.Claim(ctx, "errp", "me", 10, time.Minute); !errors.Is(err, errPartMissing) {
		t.Fatalf("claim without its parts: %d messages, %v; want errPartMissing", len(got), err)
	}
	var damaged *audit.DamagedError
	if got, err := s.AuditLog(ctx, 0, 10); !errors.As(err, &damaged) || damaged.Seq != 1 || len(got) != 0 {
		t.Fatalf("audit log without its parts: %d entries, %v; want entry 1 damaged", len(got), err)
	}
}

// Rows written before shared parts existed, whole, are read as they are.
func TestWholeRowsAreRead(t *testing.T) {
	ctx := context.Background()
	s := openAt(t, filepath.Join(t.TempDir(), "tumar.db"))
	defer s.Close()
	releaseParts(t, s, 1, 2)
	inbox, err := s.Inbox(ctx, "errp", 10)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range inbox {
		if _, err := s.db.ExecContext(ctx, `UPDATE outbox SET payload = ?, payload_part = NULL, payload_at = NULL, proof = ?, proof_part = NULL, proof_at = NULL WHERE id = ?`,
			m.Payload, m.Proof, m.ID); err != nil {
			t.Fatal(err)
		}
	}
	again, err := s.Inbox(ctx, "errp", 10)
	if err != nil || len(again) != len(inbox) {
		t.Fatalf("whole rows: %d messages, %v", len(again), err)
	}
	for i := range again {
		if !bytes.Equal(again[i].Payload, inbox[i].Payload) || !bytes.Equal(again[i].Proof, inbox[i].Proof) {
			t.Errorf("message %s read whole differs", again[i].ID)
		}
	}
}

// Cutting a part out and putting it back gives the bytes cut, whatever they
// are.
func FuzzCutAndJoin(f *testing.F) {
	list, _ := json.Marshal(partsFields())
	f.Add([]byte(`{"seq":1,"fields":` + string(list) + `,"prev_hash":null}`))
	f.Add([]byte(`{"a":{"fields":[1]},"fields":` + string(list) + `}`))
	f.Add([]byte(`{"batch":"` + strings.Repeat("x", 200) + `","index":0}`))
	f.Add([]byte(`{"fields":["` + strings.Repeat(`\"`, 100) + `"]}`))
	c := &partCache{}
	f.Fuzz(func(t *testing.T, b []byte) {
		for _, marker := range []string{fieldsMarker, batchMarker} {
			used := map[string][]byte{}
			r := c.cut(b, marker, used)
			var at sql.NullInt64
			var body []byte
			if r.at != nil {
				at = sql.NullInt64{Int64: r.at.(int64), Valid: true}
				body = used[string(r.hash.([]byte))]
				if len(used) != 1 || body == nil {
					t.Fatalf("a cut part is not among the parts to store: %d", len(used))
				}
			}
			got, err := joinPart(r.rest, at, body)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("cut and joined %q gives %q, %v", b, got, err)
			}
		}
	})
}

// A cut told by the maker of the bytes is taken where it says, and only
// when it is true: whatever the cut tells, the row reads back as written,
// and every part is filed under its own hash.
func FuzzCutAtAndJoin(f *testing.F) {
	list, _ := json.Marshal(partsFields())
	b := []byte(`{"seq":1,"fields":` + string(list) + `,"prev_hash":null}`)
	f.Add(b, 18, len(list), true)
	f.Add(b, 17, len(list), true)
	f.Add(b, 18, len(list), false)
	f.Add([]byte(`{"batch":"`+strings.Repeat("x", 200)+`","index":0}`), 9, 202, true)
	c := &partCache{}
	f.Fuzz(func(t *testing.T, b []byte, at, n int, rightSum bool) {
		var k Cut
		if at >= 0 && n >= 0 && at <= len(b) && n <= len(b)-at {
			sum := sha256.Sum256(b[at : at+n])
			if !rightSum {
				sum[0] ^= 1
			}
			k = Cut{At: at, Part: bytes.Clone(b[at : at+n]), Sum: &sum}
		}
		for _, marker := range []string{fieldsMarker, batchMarker} {
			used := map[string][]byte{}
			arena := []byte("an arena already in use")
			r := c.cutAt(b, k, marker, used, &arena)
			if !bytes.HasPrefix(arena, []byte("an arena already in use")) {
				t.Fatal("cutAt overwrote what its arena held")
			}
			for h, body := range used {
				if sum := sha256.Sum256(body); string(sum[:]) != h {
					t.Fatalf("a part is filed under a hash not its own")
				}
			}
			var at sql.NullInt64
			var body []byte
			if r.at != nil {
				at = sql.NullInt64{Int64: r.at.(int64), Valid: true}
				body = used[string(r.hash.([]byte))]
			}
			got, err := joinPart(r.rest, at, body)
			if err != nil || !bytes.Equal(got, b) {
				t.Fatalf("cut at %d (%d bytes, right sum %v) and joined %q gives %q, %v", k.At, len(k.Part), rightSum, b, got, err)
			}
			if k.Sum != nil && rightSum && len(k.Part) >= minPart && (r.at == nil || r.at.(int64) != int64(k.At)) {
				t.Fatalf("a true cut at %d was not taken there (cut at %v)", k.At, r.at)
			}
		}
	})
}

// Releases whose makers tell where the shared parts are store them once,
// as releases that do not; a cut that lies is not believed.
func TestToldCutsAreTakenAndChecked(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	fields := partsFields()
	enc := audit.EncodeFields(fields)
	sig := []byte(`"` + strings.Repeat("s", 300) + `"`)
	sigSum := sha256.Sum256(sig)
	lie := sha256.Sum256([]byte("another part"))
	var rs []Release
	for i := range 6 {
		payload := fmt.Appendf(nil, `{"exchange_id":"m%d","fields":%s}`, i, enc.JSON)
		proof := fmt.Appendf(nil, `{"batch":%s,"index":%d}`, sig, i)
		m := &Message{ID: fmt.Sprintf("m%d", i), Source: "ngo", Destination: "errp", Purpose: "criminal-referral",
			DecisionID: fmt.Sprintf("d%d", i), CreatedAt: time.Now(), Payload: payload, Proof: proof,
			PayloadCut: Cut{At: len(payload) - 1 - len(enc.JSON), Part: enc.JSON, Sum: &enc.Sum},
			ProofCut:   Cut{At: len(`{"batch":`), Part: sig, Sum: &sigSum}}
		switch i {
		case 3:
			m.PayloadCut.At-- // the wrong place
		case 4:
			m.ProofCut.Sum = &lie // the wrong hash
		case 5:
			m.PayloadCut = Cut{} // nothing told
		}
		rs = append(rs, Release{Message: m, Entry: &audit.Entry{DecisionID: m.DecisionID, Time: time.Now(), Event: "exchange",
			Source: "ngo", Destination: "errp", Purpose: "criminal-referral", Outcome: audit.Released, Fields: fields, Encoded: enc}})
	}
	for i, err := range s.ReleaseBatch(ctx, rs) {
		if err != nil {
			t.Fatalf("release %d: %v", i, err)
		}
	}
	rows, err := s.db.QueryContext(ctx, `SELECT hash, body FROM parts`)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for rows.Next() {
		var h, body []byte
		if err := rows.Scan(&h, &body); err != nil {
			t.Fatal(err)
		}
		if sum := sha256.Sum256(body); !bytes.Equal(sum[:], h) {
			t.Errorf("a part is filed under a hash not its own: %.20s", body)
		}
		n++
	}
	rows.Close()
	if n != 2 {
		t.Errorf("%d shared parts stored, want 2 (the field decisions, the signature)", n)
	}
	var whole int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM outbox WHERE payload_part IS NULL OR proof_part IS NULL`).Scan(&whole); err != nil {
		t.Fatal(err)
	}
	if whole != 0 {
		t.Errorf("%d rows keep a shared part whole", whole)
	}
	inbox, err := s.Inbox(ctx, "errp", 10)
	if err != nil || len(inbox) != len(rs) {
		t.Fatalf("inbox: %d messages, %v", len(inbox), err)
	}
	for i, m := range inbox {
		if !bytes.Equal(m.Payload, rs[i].Message.Payload) || !bytes.Equal(m.Proof, rs[i].Message.Proof) {
			t.Errorf("message %s reads back changed", m.ID)
		}
	}
	if rep, err := audit.VerifyLog(ctx, s, jose.JSONWebKeySet{}); err != nil || !rep.OK || rep.LastSeq != int64(len(rs)) {
		t.Fatalf("audit: %+v, %v", rep, err)
	}
}

// Field decisions too short to be worth a reference stay in the audit
// entry, as cut leaves them, even when they are shared.
func TestShortSharedFieldsStayInTheEntry(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	fields := []audit.FieldAction{{Field: "cas_Status", Action: "keep", Rule: "r"}}
	enc := audit.EncodeFields(fields)
	if len(enc.JSON) >= minPart {
		t.Fatalf("the test wants field decisions under %d bytes, has %d", minPart, len(enc.JSON))
	}
	m := &Message{ID: "m", Source: "ngo", Destination: "errp", Purpose: "p", DecisionID: "d", CreatedAt: time.Now(), Payload: []byte(`{"id":"m"}`)}
	e := &audit.Entry{DecisionID: "d", Time: time.Now(), Event: "exchange", Source: "ngo", Destination: "errp", Purpose: "p",
		Outcome: audit.Released, Fields: fields, Encoded: enc}
	for _, err := range s.ReleaseBatch(ctx, []Release{{Message: m, Entry: e}}) {
		if err != nil {
			t.Fatal(err)
		}
	}
	var cut int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM audit WHERE entry_part IS NOT NULL`).Scan(&cut); err != nil || cut != 0 {
		t.Fatalf("%d entries refer to a part of %d bytes (%v)", cut, len(enc.JSON), err)
	}
	if rep, err := audit.VerifyLog(ctx, s, jose.JSONWebKeySet{}); err != nil || !rep.OK || rep.LastSeq != 1 {
		t.Fatalf("audit: %+v, %v", rep, err)
	}
}

// A commit's batch signature is a shared part when the commit holds more
// than one release, even one written release by release after a duplicate,
// and stays in its row when the commit holds one: a part nobody shares
// would cost the parts table a write.
func TestBatchSignaturesArePartsOnlyWhenShared(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	fields := partsFields()
	batch := func(first, n int, srcIDs ...string) []Release {
		sig := fmt.Appendf(nil, `"%s"`, strings.Repeat(fmt.Sprint(first), 300))
		sum := sha256.Sum256(sig)
		var rs []Release
		for i := range n {
			id := first + i
			proof := fmt.Appendf(nil, `{"batch":%s,"index":%d}`, sig, i)
			m := &Message{ID: fmt.Sprintf("m%d", id), Source: "ngo", Destination: "errp", Purpose: "criminal-referral",
				DecisionID: fmt.Sprintf("d%d", id), CreatedAt: time.Now(), Payload: fmt.Appendf(nil, `{"exchange_id":"m%d"}`, id),
				Proof: proof, ProofCut: Cut{At: len(`{"batch":`), Part: sig, Sum: &sum}}
			if i < len(srcIDs) {
				m.SourceRecordID, m.ContentHash = srcIDs[i], "same"
			}
			rs = append(rs, Release{Message: m, Entry: &audit.Entry{DecisionID: m.DecisionID, Time: time.Now(), Event: "exchange",
				Source: "ngo", Destination: "errp", Purpose: "criminal-referral", Outcome: audit.Released, Fields: fields}})
		}
		return rs
	}
	sent := map[string][]byte{} // proofs by message, as released
	release := func(rs []Release) []error {
		for _, r := range rs {
			sent[r.Message.ID] = r.Message.Proof
		}
		return s.ReleaseBatch(ctx, rs)
	}
	inline := func(ids ...string) (n int) {
		for _, id := range ids {
			var at sql.NullInt64
			if err := s.db.QueryRowContext(ctx, `SELECT proof_at FROM outbox WHERE id = ?`, id).Scan(&at); err != nil {
				t.Fatal(err)
			}
			if !at.Valid {
				n++
			}
		}
		return n
	}
	if errs := release(batch(0, 1, "CASE-1")); errs[0] != nil {
		t.Fatal(errs[0])
	}
	if n := inline("m0"); n != 1 {
		t.Fatal("a commit of one release cut its signature out")
	}
	one := batch(1, 1)[0]
	sent["m1"] = one.Message.Proof
	if err := s.Release(ctx, one.Message, one.Entry); err != nil {
		t.Fatal(err)
	}
	if n := inline("m1"); n != 1 {
		t.Fatal("a release on its own cut its signature out")
	}
	for _, err := range release(batch(10, 4)) {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := inline("m10", "m11", "m12", "m13"); n != 0 {
		t.Fatalf("%d releases of a batch of 4 keep their signature whole", n)
	}
	// A duplicate sends the batch down release by release: the others
	// still share their signature.
	errs := release(batch(20, 4, "CASE-1"))
	if !errors.Is(errs[0], ErrDuplicate) {
		t.Fatalf("the duplicate: %v", errs[0])
	}
	for _, err := range errs[1:] {
		if err != nil {
			t.Fatal(err)
		}
	}
	if n := inline("m21", "m22", "m23"); n != 0 {
		t.Fatalf("%d releases of a batch written one by one keep their signature whole", n)
	}
	inbox, err := s.Inbox(ctx, "errp", 20)
	if err != nil || len(inbox) != 9 {
		t.Fatalf("inbox: %d messages, %v", len(inbox), err)
	}
	for _, m := range inbox {
		if !bytes.Equal(m.Proof, sent[m.ID]) {
			t.Errorf("message %s's proof reads back changed", m.ID)
		}
	}
}

// A part is remembered as stored once the transaction that wrote it has
// committed, not before, and not when it rolled back; a part remembered is
// not written again.
func TestCommittedPartsAreRememberedAsStored(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	body := []byte(`["` + strings.Repeat("a part ", 30) + `"]`)
	sum := sha256.Sum256(body)
	h := string(sum[:])
	write := func(fail bool) (written []string, rememberedEarly bool) {
		_, err := s.writeTx(ctx, func(tx *txx) error {
			if err := writeParts(ctx, tx, map[string][]byte{h: body}); err != nil {
				return err
			}
			written = tx.partsWritten
			rememberedEarly = len(written) > 0 && s.db.parts.isStored(h)
			if fail {
				return errors.New("rolled back")
			}
			return nil
		})
		if (err != nil) != fail {
			t.Fatalf("transaction: %v", err)
		}
		return written, rememberedEarly
	}
	if w, early := write(true); len(w) != 1 || early || s.db.parts.isStored(h) {
		t.Fatalf("a rolled-back part: written %d, remembered %v", len(w), s.db.parts.isStored(h))
	}
	var n int
	if err := s.db.QueryRowContext(ctx, `SELECT count(*) FROM parts`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d parts after a rollback, %v", n, err)
	}
	if w, early := write(false); len(w) != 1 || early || !s.db.parts.isStored(h) {
		t.Fatalf("a committed part: written %d, remembered before its commit %v, after %v", len(w), early, s.db.parts.isStored(h))
	}
	if w, _ := write(false); len(w) != 0 {
		t.Fatalf("a part remembered as stored was written again")
	}
}
