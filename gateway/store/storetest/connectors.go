package storetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/tumarproject/tumar/gateway/store"
)

// RunConnectors runs the contract for idempotent submissions and the
// quarantine; newStore must return an empty store.
func RunConnectors(t *testing.T, newStore func(t *testing.T) Full) {
	t.Helper()
	ctx := context.Background()

	t.Run("idempotent submissions", func(t *testing.T) {
		s := newStore(t)
		send := func(i int, hash string) error {
			m := message(i, "errp")
			m.SourceRecordID, m.ContentHash = "CASE-1", hash
			return s.Release(ctx, m, entry(i, "errp"))
		}
		if err := send(0, "A"); err != nil {
			t.Fatal(err)
		}
		var dup *store.DuplicateError
		if err := send(1, "A"); !errors.As(err, &dup) || dup.Existing.ExchangeID != "m0" || !errors.Is(err, store.ErrDuplicate) {
			t.Fatalf("the same content twice: %v", err)
		}
		if err := send(2, "B"); err != nil {
			t.Fatalf("changed content: %v", err)
		}
		if err := send(3, "A"); err != nil {
			t.Fatalf("content changed back is a new version: %v", err)
		}
		latest, err := s.LatestSubmission(ctx, "ngo", "CASE-1", "errp", "criminal-referral")
		if err != nil || latest.Version != 3 || latest.ExchangeID != "m3" {
			t.Fatalf("latest %+v %v", latest, err)
		}
		msgs, _ := s.Inbox(ctx, "errp", 10)
		log, _ := s.AuditLog(ctx, 0, 10)
		if len(msgs) != 3 || len(log) != 3 {
			t.Fatalf("a duplicate left %d messages and %d audit entries, want 3 and 3", len(msgs), len(log))
		}
		if _, err := s.LatestSubmission(ctx, "ngo", "CASE-2", "errp", "criminal-referral"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown record: %v", err)
		}
	})

	t.Run("idempotent submissions within a batch", func(t *testing.T) {
		s := newStore(t)
		b := batcher(t, s)
		release := func(i int, id, dest, hash string) store.Release {
			m := message(i, dest)
			m.SourceRecordID, m.ContentHash = id, hash
			return store.Release{Message: m, Entry: entry(i, dest)}
		}
		// Versions counted within the batch, with no duplicate in it.
		first := []store.Release{
			release(0, "CASE-1", "errp", "A"), release(1, "CASE-2", "errp", "A"), release(2, "CASE-1", "errp", "B"),
			release(3, "CASE-1", "errp", "A"), release(4, "CASE-1", "consulate", "A"),
		}
		for i, err := range b.ReleaseBatch(ctx, first) {
			if err != nil {
				t.Fatalf("release %d: %v", i, err)
			}
		}
		for i, want := range []int{1, 1, 2, 3, 1} {
			if got := first[i].Message.Version; got != want {
				t.Errorf("release %d got version %d, want %d", i, got, want)
			}
		}
		// Duplicates of a stored version and of one earlier in the batch.
		second := []store.Release{
			release(5, "CASE-2", "errp", "A"), release(6, "CASE-2", "errp", "C"), release(7, "CASE-2", "errp", "C"),
			release(8, "CASE-1", "errp", "A"),
		}
		errs := b.ReleaseBatch(ctx, second)
		var dup *store.DuplicateError
		if !errors.As(errs[0], &dup) || dup.Existing.ExchangeID != "m1" || dup.Existing.Version != 1 {
			t.Errorf("the stored content again: %v", errs[0])
		}
		if errs[1] != nil || second[1].Message.Version != 2 {
			t.Errorf("changed content: %v, version %d", errs[1], second[1].Message.Version)
		}
		if !errors.As(errs[2], &dup) || dup.Existing.ExchangeID != "m6" || dup.Existing.Version != 2 {
			t.Errorf("content sent twice in one batch: %v", errs[2])
		}
		if !errors.As(errs[3], &dup) || dup.Existing.ExchangeID != "m3" {
			t.Errorf("the latest version again: %v", errs[3])
		}
		for _, c := range []struct {
			id, dest, exchange string
			version            int
		}{{"CASE-1", "errp", "m3", 3}, {"CASE-1", "consulate", "m4", 1}, {"CASE-2", "errp", "m6", 2}} {
			latest, err := s.LatestSubmission(ctx, "ngo", c.id, c.dest, "criminal-referral")
			if err != nil || latest.Version != c.version || latest.ExchangeID != c.exchange {
				t.Errorf("latest of %s to %s: %+v, %v; want version %d, %s", c.id, c.dest, latest, err, c.version, c.exchange)
			}
		}
	})

	t.Run("claims", func(t *testing.T) {
		s := newStore(t)
		for i := range 5 {
			if err := s.Release(ctx, message(i, "errp"), entry(i, "errp")); err != nil {
				t.Fatal(err)
			}
		}
		a, err := s.Claim(ctx, "errp", "replica-a", 3, time.Minute)
		if err != nil || len(a) != 3 || a[0].ID != "m0" {
			t.Fatalf("replica a claimed %d: %v", len(a), err)
		}
		b, _ := s.Claim(ctx, "errp", "replica-b", 10, time.Minute)
		if len(b) != 2 || b[0].ID != "m3" {
			t.Fatalf("replica b claimed %+v: records held by a were handed out again", b)
		}
		if none, _ := s.Claim(ctx, "errp", "replica-c", 10, time.Minute); len(none) != 0 {
			t.Fatal("a third replica got claimed records")
		}
		// Replica a dies: its lease runs out and its records are handed out again.
		short, _ := s.Claim(ctx, "errp", "replica-a", 3, -time.Second)
		if len(short) != 3 {
			t.Fatalf("replica a could not take its own claims again: %d", len(short))
		}
		again, _ := s.Claim(ctx, "errp", "replica-c", 10, time.Minute)
		if len(again) != 3 {
			t.Fatalf("expired claims: %d handed out, want 3", len(again))
		}
		s.Ack(ctx, "errp", []string{again[0].ID})
		if left, _ := s.Claim(ctx, "errp", "replica-c", 10, time.Minute); len(left) != 2 {
			t.Fatalf("an acknowledged record was claimed again: %d", len(left))
		}
	})

	t.Run("quarantine", func(t *testing.T) {
		s := newStore(t)
		q := &store.Quarantined{ID: "q1", Connector: "ngo-csv", Position: "row 12", SourceRecordID: "CASE-7", Reason: "field prs_Birthdate: not a date",
			Sealed: []byte("sealed bytes"), CreatedAt: time.Now()}
		if err := s.Quarantine(ctx, q); err != nil {
			t.Fatal(err)
		}
		list, err := s.QuarantineList(ctx, "ngo-csv")
		if err != nil || len(list) != 1 || list[0].Position != "row 12" || list[0].Sealed != nil {
			t.Fatalf("list %+v %v (sealed content must not be listed)", list, err)
		}
		if other, _ := s.QuarantineList(ctx, "other"); len(other) != 0 {
			t.Fatal("another connector's quarantine listed")
		}
		got, err := s.QuarantineGet(ctx, "q1")
		if err != nil || string(got.Sealed) != "sealed bytes" {
			t.Fatalf("get %v", err)
		}
		if err := s.QuarantineDelete(ctx, "q1"); err != nil {
			t.Fatal(err)
		}
		if err := s.QuarantineDelete(ctx, "q1"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("second delete: %v", err)
		}
	})
}
