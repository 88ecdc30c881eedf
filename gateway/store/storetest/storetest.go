// Package storetest is the contract every store backend must meet; SQLite and
// PostgreSQL run the same suite.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
)

// Run runs the contract suite; newStore must return an empty store.
func Run(t *testing.T, newStore func(t *testing.T) store.Store) {
	t.Helper()
	ctx := context.Background()

	t.Run("release, inbox and ack", func(t *testing.T) {
		s := newStore(t)
		for i := range 3 {
			dest := "errp"
			if i == 2 {
				dest = "consulate"
			}
			if err := s.Release(ctx, message(i, dest), entry(i, dest)); err != nil {
				t.Fatal(err)
			}
		}
		got, err := s.Inbox(ctx, "errp", 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 2 || got[0].ID != "m0" || got[1].ID != "m1" || string(got[0].Payload) != `{"n":0}` {
			t.Fatalf("inbox = %+v", got)
		}
		if n, err := s.Ack(ctx, "consulate", []string{"m0"}); err != nil || n != 0 {
			t.Fatalf("an agency acknowledged another's message: %d %v", n, err)
		}
		if n, err := s.Ack(ctx, "errp", []string{"m0", "nope"}); err != nil || n != 1 {
			t.Fatalf("ack = %d %v", n, err)
		}
		if n, err := s.Ack(ctx, "errp", []string{"m0"}); err != nil || n != 0 {
			t.Fatalf("second ack = %d %v, want 0", n, err)
		}
		got, _ = s.Inbox(ctx, "errp", 10)
		if len(got) != 1 || got[0].ID != "m1" {
			t.Fatalf("an acknowledged message is served again: %+v", got)
		}
	})

	t.Run("audit chain", func(t *testing.T) {
		s := newStore(t)
		for i := range 5 {
			var err error
			if i%2 == 0 {
				err = s.Release(ctx, message(i, "errp"), entry(i, "errp"))
			} else {
				e := entry(i, "errp")
				e.Outcome = audit.Denied
				err = s.Audit(ctx, e)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		log, err := s.AuditLog(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != 5 || log[0].Seq != 1 || log[4].Seq != 5 {
			t.Fatalf("audit log has %d entries", len(log))
		}
		if err := audit.Verify(nil, log); err != nil {
			t.Fatalf("a fresh chain does not verify: %v", err)
		}
		log[2].Purpose = "something else"
		if err := audit.Verify(nil, log); !errors.Is(err, audit.ErrBroken) {
			t.Fatalf("a modified entry verified: %v", err)
		}
	})

	t.Run("linking", func(t *testing.T) {
		s := newStore(t)
		withKeys := func(i int, keys ...string) *audit.Entry {
			e := entry(i, "errp")
			e.SubjectKeys = keys
			return e
		}
		a := withKeys(0, "nb-A", "doc-A")
		b := withKeys(1, "doc-A", "tel-A") // shares the document with a
		c := withKeys(2, "tel-A")          // shares only the phone, learnt from b
		d := withKeys(3, "nb-Z")           // someone else
		for i, e := range []*audit.Entry{a, b, c, d} {
			if err := s.Release(ctx, message(i, "errp"), e); err != nil {
				t.Fatal(err)
			}
		}
		if a.Subject != "nb-A" || b.Subject != a.Subject || c.Subject != a.Subject {
			t.Fatalf("subjects %q %q %q: records sharing a key must be one person", a.Subject, b.Subject, c.Subject)
		}
		if d.Subject != "nb-Z" {
			t.Fatalf("another person got subject %q", d.Subject)
		}
		log, _ := s.AuditLog(ctx, 0, 10)
		if log[2].Subject != a.Subject || audit.Verify(nil, log) != nil {
			t.Fatal("the stored entry does not carry the linked subject")
		}
	})

	t.Run("group commit keeps each release on its own", func(t *testing.T) {
		s := newStore(t)
		b := batcher(t, s)
		if err := s.Release(ctx, message(0, "errp"), entry(0, "errp")); err != nil {
			t.Fatal(err)
		}
		other := entry(9, "errp")
		other.SubjectKeys, other.Subject = []string{"nb-A"}, "someone-else"
		if err := s.Release(ctx, message(9, "errp"), withSubjectKeys(entry(8, "errp"), "nb-A")); err != nil {
			t.Fatal(err)
		}
		rs := []store.Release{
			{Message: message(1, "errp"), Entry: entry(1, "errp")},
			{Message: message(0, "errp"), Entry: entry(2, "errp")}, // a duplicate id
			{Message: message(3, "errp"), Entry: entry(3, "errp")},
			{Message: message(4, "errp"), Entry: other}, // linked to another person already
			{Message: message(5, "consulate"), Entry: entry(5, "consulate")},
		}
		errs := b.ReleaseBatch(ctx, rs)
		if len(errs) != len(rs) {
			t.Fatalf("%d results for %d releases", len(errs), len(rs))
		}
		for i, want := range []bool{true, false, true, false, true} {
			if (errs[i] == nil) != want {
				t.Errorf("release %d: err = %v, want success %v", i, errs[i], want)
			}
		}
		if !errors.Is(errs[3], store.ErrOtherPerson) {
			t.Errorf("release 3: err = %v, want ErrOtherPerson", errs[3])
		}
		log, err := s.AuditLog(ctx, 0, 100)
		if err != nil {
			t.Fatal(err)
		}
		if len(log) != 5 {
			t.Fatalf("audit has %d entries, want 5 (2 single + 3 from the batch)", len(log))
		}
		if err := audit.Verify(nil, log); err != nil {
			t.Fatalf("the chain after a batch with failures does not verify: %v", err)
		}
		for i, e := range log[2:] {
			if want := rs[[]int{0, 2, 4}[i]].Entry.DecisionID; e.DecisionID != want {
				t.Errorf("entry %d is %s, want %s", e.Seq, e.DecisionID, want)
			}
		}
		inbox, _ := s.Inbox(ctx, "errp", 10)
		if len(inbox) != 4 { // m0, m9, m1, m3
			t.Fatalf("errp inbox has %d messages, want 4", len(inbox))
		}
	})

	t.Run("group commit links persons within the batch", func(t *testing.T) {
		s := newStore(t)
		b := batcher(t, s)
		a := withSubjectKeys(entry(0, "errp"), "nb-A", "doc-A")
		bb := withSubjectKeys(entry(1, "errp"), "doc-A", "tel-A") // shares the document with a
		c := withSubjectKeys(entry(2, "errp"), "tel-A")           // shares only the phone, learnt from bb
		d := withSubjectKeys(entry(3, "errp"), "nb-Z")            // someone else
		other := withSubjectKeys(entry(4, "errp"), "nb-Z")        // claims nb-Z for a third person
		other.Subject = "someone-else"
		rs := []store.Release{{Message: message(0, "errp"), Entry: a}, {Message: message(1, "errp"), Entry: bb},
			{Message: message(2, "errp"), Entry: c}, {Message: message(3, "errp"), Entry: d}, {Message: message(4, "errp"), Entry: other}}
		// The first four commit together, in one pass; the conflict in
		// the second batch sends it through the savepoint pass.
		errs := append(b.ReleaseBatch(ctx, rs[:4]), b.ReleaseBatch(ctx, rs[4:])...)
		for i := range 4 {
			if errs[i] != nil {
				t.Fatalf("release %d: %v", i, errs[i])
			}
		}
		if !errors.Is(errs[4], store.ErrOtherPerson) {
			t.Fatalf("release 4: %v, want ErrOtherPerson", errs[4])
		}
		if a.Subject != "nb-A" || bb.Subject != a.Subject || c.Subject != a.Subject || d.Subject != "nb-Z" {
			t.Fatalf("subjects %q %q %q %q", a.Subject, bb.Subject, c.Subject, d.Subject)
		}
		later := withSubjectKeys(entry(5, "errp"), "tel-A")
		if err := s.Release(ctx, message(5, "errp"), later); err != nil || later.Subject != a.Subject {
			t.Fatalf("the batch's links were not stored: %q %v", later.Subject, err)
		}
		log, _ := s.AuditLog(ctx, 0, 100)
		if len(log) != 5 || audit.Verify(nil, log) != nil {
			t.Fatalf("audit has %d entries or does not verify", len(log))
		}
		for i, e := range log[:4] {
			if e.Subject != []string{a.Subject, a.Subject, a.Subject, "nb-Z"}[i] {
				t.Fatalf("stored entry %d has subject %q", e.Seq, e.Subject)
			}
		}
	})

	t.Run("shared parts come back byte for byte", func(t *testing.T) { runParts(t, newStore) })
	t.Run("a part rolled back with its release is written again", func(t *testing.T) { runRolledBackPart(t, newStore) })

	t.Run("duplicate message id leaves nothing behind", func(t *testing.T) {
		s := newStore(t)
		if err := s.Release(ctx, message(0, "errp"), entry(0, "errp")); err != nil {
			t.Fatal(err)
		}
		if err := s.Release(ctx, message(0, "errp"), entry(1, "errp")); err == nil {
			t.Fatal("a duplicate message id was accepted")
		}
		log, _ := s.AuditLog(ctx, 0, 100)
		if len(log) != 1 {
			t.Fatalf("a failed release left %d audit entries, want 1", len(log))
		}
	})
}

func withSubjectKeys(e *audit.Entry, keys ...string) *audit.Entry {
	e.SubjectKeys = keys
	return e
}

// batcher is s as a store that commits releases in batches, as both
// stores do.
func batcher(t *testing.T, s store.Store) interface {
	ReleaseBatch(context.Context, []store.Release) []error
} {
	t.Helper()
	b, ok := s.(interface {
		ReleaseBatch(context.Context, []store.Release) []error
	})
	if !ok {
		t.Fatalf("%T cannot commit releases in batches", s)
	}
	return b
}

func message(i int, dest string) *store.Message {
	return &store.Message{
		ID: fmt.Sprintf("m%d", i), Source: "ngo", Destination: dest, Purpose: "criminal-referral",
		DecisionID: fmt.Sprintf("d%d", i), CreatedAt: time.Now(), Payload: fmt.Appendf(nil, `{"n":%d}`, i),
	}
}

func entry(i int, dest string) *audit.Entry {
	return &audit.Entry{
		DecisionID: fmt.Sprintf("d%d", i), Time: time.Now(), Event: "exchange", Source: "ngo", Destination: dest,
		Purpose: "criminal-referral", LegalBasis: "victim-consent", PolicyRevision: "sha256:0", Outcome: audit.Released,
		Fields: []audit.FieldAction{{Field: "prs_FirstName", Action: "pseudonymise", Rule: "r"}},
	}
}
