package storetest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
)

// runParts checks that what the store keeps once for many rows (a record's
// field decisions, a commit's batch signature) comes back byte for byte in
// the inbox, in a claim and in the audit log.
func runParts(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := newStore(t)
	b := batcher(t, s)
	fields := RealisticFields()
	list, _ := json.Marshal(fields)
	want := map[string]*store.Message{}
	var entries []*audit.Entry
	for batch, size := range []int{3, 2} {
		signature := `"` + strings.Repeat(fmt.Sprint(batch), 300) + `"`
		var rs []store.Release
		for i := range size {
			n := len(want)
			m := message(n, "errp")
			m.Payload = fmt.Appendf(nil, `{"exchange_id":"m%d","record":{"prs_FirstName":"errp:v1:%d","fields":[1]},"fields":%s}`, n, n, list)
			m.Proof = fmt.Appendf(nil, `{"batch":%s,"index":%d,"size":%d,"path":null}`, signature, i, size)
			if n == 4 { // an envelope is kept whole
				m.Sealed = true
			}
			e := entry(n, "errp")
			e.Fields = fields
			want[m.ID] = m
			entries = append(entries, e)
			rs = append(rs, store.Release{Message: m, Entry: e})
		}
		for i, err := range b.ReleaseBatch(ctx, rs) {
			if err != nil {
				t.Fatalf("batch %d, release %d: %v", batch, i, err)
			}
		}
	}
	single := entry(9, "consulate") // and one written on its own, denied
	single.Outcome, single.Fields = audit.Denied, fields
	if err := s.Audit(ctx, single); err != nil {
		t.Fatal(err)
	}
	entries = append(entries, single)

	inbox, err := s.Inbox(ctx, "errp", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(inbox) != len(want) {
		t.Fatalf("inbox has %d messages, want %d", len(inbox), len(want))
	}
	for _, m := range inbox {
		w := want[m.ID]
		if !bytes.Equal(m.Payload, w.Payload) || !bytes.Equal(m.Proof, w.Proof) || m.Sealed != w.Sealed {
			t.Errorf("message %s comes back changed:\n got %s\n     %s\nwant %s\n     %s", m.ID, m.Payload, m.Proof, w.Payload, w.Proof)
		}
	}
	if c, ok := s.(store.Claimer); ok {
		claimed, err := c.Claim(ctx, "errp", "deliverer", 10, time.Minute)
		if err != nil || len(claimed) != len(want) {
			t.Fatalf("claimed %d messages, %v; want %d", len(claimed), err, len(want))
		}
		for _, m := range claimed {
			if !bytes.Equal(m.Payload, want[m.ID].Payload) {
				t.Errorf("claimed message %s comes back changed:\n got %s\nwant %s", m.ID, m.Payload, want[m.ID].Payload)
			}
		}
	}
	log, err := s.AuditLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != len(entries) {
		t.Fatalf("audit has %d entries, want %d", len(log), len(entries))
	}
	if err := audit.Verify(nil, log); err != nil {
		t.Fatalf("the chain does not verify: %v", err)
	}
	for i, e := range log {
		if !slices.Equal(e.Fields, fields) || !bytes.Equal(e.Hash, entries[i].Hash) {
			t.Errorf("entry %d comes back changed: %+v", e.Seq, e.Fields)
		}
	}
	found, err := s.(store.AuditStore).SearchAudit(ctx, store.AuditQuery{Field: "vic_TraffickingStatus", Outcome: string(audit.Denied)})
	if err != nil || len(found) != 1 || found[0].DecisionID != single.DecisionID {
		t.Fatalf("search by field found %d entries, %v; want the denial", len(found), err)
	}
}

// RealisticFields are field decisions as long as a real record's.
func RealisticFields() []audit.FieldAction {
	var out []audit.FieldAction
	for _, f := range []string{"prs_FirstName", "prs_SecondName", "prs_Birthdate", "vic_TraffickingStatus", "cco_CaseComment"} {
		out = append(out, audit.FieldAction{Field: f, Action: "pseudonymise", Rule: "criminal-referral/class/direct_identifier"})
	}
	return out
}

// runRolledBackPart checks that a shared part written by a release that
// was then rolled back (its batch went release by release, and its own
// row failed) is not taken for stored: the next release that refers to it
// writes it again, and every row reads back whole.
func runRolledBackPart(t *testing.T, newStore func(t *testing.T) store.Store) {
	ctx := context.Background()
	s := newStore(t)
	b := batcher(t, s)
	part := []byte(`["` + strings.Repeat("a rolled-back part ", 20) + `"]`)
	sum := sha256.Sum256(part)
	withPart := func(i int) store.Release {
		m := message(i, "errp")
		m.Payload = fmt.Appendf(nil, `{"exchange_id":"m%d","fields":%s}`, i, part)
		m.PayloadCut = store.Cut{At: len(m.Payload) - 1 - len(part), Part: part, Sum: &sum}
		return store.Release{Message: m, Entry: entry(i, "errp")}
	}
	if err := s.Release(ctx, message(0, "errp"), entry(0, "errp")); err != nil {
		t.Fatal(err)
	}
	// m0 again, now with the part: its outbox row fails after its part is
	// written, and the batch goes release by release.
	errs := b.ReleaseBatch(ctx, []store.Release{withPart(0), {Message: message(1, "errp"), Entry: entry(1, "errp")}})
	if errs[0] == nil || errs[1] != nil {
		t.Fatalf("the batch: %v", errs)
	}
	later := withPart(2)
	if err := s.Release(ctx, later.Message, later.Entry); err != nil {
		t.Fatal(err)
	}
	inbox, err := s.Inbox(ctx, "errp", 10)
	if err != nil || len(inbox) != 3 {
		t.Fatalf("inbox: %d messages, %v", len(inbox), err)
	}
	if !bytes.Equal(inbox[2].Payload, later.Message.Payload) {
		t.Fatalf("m2 reads back as %.60s", inbox[2].Payload)
	}
}
