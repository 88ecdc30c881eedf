package storetest

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
)

// Full is a store with both halves.
type Full = store.Gateway

// RunStatus runs the status-store contract; newStore must return an empty store.
func RunStatus(t *testing.T, newStore func(t *testing.T) Full) {
	t.Helper()
	ctx := context.Background()
	now := time.Now().UTC()
	record := func(t *testing.T, s Full, id, status string, keys ...string) *store.Status {
		t.Helper()
		st := &store.Status{ID: id, Status: status, DecisionOrg: "NGO", DecisionDate: "2026-11-01", RecordedBy: "ngo", RecordedAt: now}
		e := &audit.Entry{DecisionID: "d-" + id, Time: now, Event: "status", Source: "ngo", Outcome: audit.Recorded, SubjectKeys: keys}
		if err := s.RecordStatus(ctx, st, e); err != nil {
			t.Fatal(err)
		}
		return st
	}
	issue := func(t *testing.T, s Full, jti string, st *store.Status, ttl time.Duration) {
		t.Helper()
		tok := &store.Token{JTI: jti, Person: st.Person, StatusID: st.ID, Issuer: "ngo", Audience: "shelter", Purpose: "support-services",
			Subject: "shelter:v1:x", IssuedAt: now, ExpiresAt: now.Add(ttl)}
		if err := s.IssueToken(ctx, tok, &audit.Entry{DecisionID: "i-" + jti, Time: now, Event: "token_issue", Outcome: audit.Issued}); err != nil {
			t.Fatal(err)
		}
	}
	redeemEntry := func() *audit.Entry {
		return &audit.Entry{DecisionID: "r", Time: now, Event: "token_redeem", Source: "shelter"}
	}

	t.Run("status history and supersession", func(t *testing.T) {
		s := newStore(t)
		first := record(t, s, "s1", "PossibleVictimOfTrafficking", "nb-A", "doc-A")
		second := record(t, s, "s2", "ActualVictimOfTrafficking", "doc-A")
		if second.Person != first.Person {
			t.Fatal("a decision about the same document went to another person")
		}
		cur, err := s.CurrentStatus(ctx, []string{"nb-A"})
		if err != nil || cur.ID != "s2" || cur.Status != "ActualVictimOfTrafficking" {
			t.Fatalf("current status %+v %v", cur, err)
		}
		hist, _ := s.StatusHistory(ctx, first.Person)
		if len(hist) != 2 || hist[0].SupersededBy != "s2" || hist[1].SupersededBy != "" {
			t.Fatalf("history %+v", hist)
		}
		if _, err := s.CurrentStatus(ctx, []string{"nb-nobody"}); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("unknown person: %v", err)
		}
	})

	t.Run("redeemed exactly once", func(t *testing.T) {
		s := newStore(t)
		st := record(t, s, "s1", "ActualVictimOfTrafficking", "nb-A")
		issue(t, s, "j1", st, time.Hour)
		var wg sync.WaitGroup
		results := make([]error, 8)
		for i := range results {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, results[i] = s.RedeemToken(ctx, "j1", now, redeemEntry())
			}()
		}
		wg.Wait()
		ok, replays := 0, 0
		for _, err := range results {
			switch {
			case err == nil:
				ok++
			case errors.Is(err, store.ErrReplay):
				replays++
			default:
				t.Fatalf("unexpected error %v", err)
			}
		}
		if ok != 1 || replays != 7 {
			t.Fatalf("%d redemptions succeeded and %d were replays; want 1 and 7", ok, replays)
		}
		log, _ := s.AuditLog(ctx, 0, 100)
		counts := map[audit.Outcome]int{}
		for _, e := range log {
			counts[e.Outcome]++
		}
		if counts[audit.Redeemed] != 1 || counts[audit.PossibleReplay] != 7 || audit.Verify(nil, log) != nil {
			t.Fatalf("audit outcomes %v", counts)
		}
		tok, _ := s.Token(ctx, "j1")
		if tok.State != store.TokenRedeemed {
			t.Fatalf("state %s", tok.State)
		}
	})

	t.Run("refusals", func(t *testing.T) {
		s := newStore(t)
		st := record(t, s, "s1", "PossibleVictimOfTrafficking", "nb-A")
		issue(t, s, "revoked", st, time.Hour)
		issue(t, s, "expired", st, -time.Minute)
		issue(t, s, "superseded", st, time.Hour)
		if _, err := s.RevokeToken(ctx, "revoked", now, &audit.Entry{DecisionID: "x", Time: now, Event: "token_revoke"}); err != nil {
			t.Fatal(err)
		}
		record(t, s, "s2", "ActualVictimOfTrafficking", "nb-A")
		for jti, want := range map[string]error{"revoked": store.ErrRevoked, "expired": store.ErrExpired, "superseded": store.ErrSuperseded, "unknown": store.ErrNotFound} {
			if _, err := s.RedeemToken(ctx, jti, now, redeemEntry()); !errors.Is(err, want) {
				t.Errorf("%s: got %v, want %v", jti, err, want)
			}
		}
		log, _ := s.AuditLog(ctx, 0, 100)
		refused := 0
		for _, e := range log {
			if e.Outcome == audit.Refused {
				refused++
			}
		}
		if refused != 3 {
			t.Fatalf("%d refusals audited, want 3", refused)
		}
	})
}
