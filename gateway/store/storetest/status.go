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

	t.Run("blind evaluations: replay and limit", func(t *testing.T) {
		s := newStore(t)
		evaluate := func(digest, agency string, n int, at time.Time) error {
			return s.RecordEvaluation(ctx, &store.BlindEvaluation{Digest: digest, Agency: agency, Domain: "tumar.lookup", Elements: n, At: at},
				5, time.Hour, &audit.Entry{DecisionID: "e-" + digest, Time: at, Event: "oprf_evaluate", Source: agency})
		}
		if err := evaluate("a", "ngo", 3, now.Add(-2*time.Hour)); err != nil { // outside the window by now
			t.Fatal(err)
		}
		if err := evaluate("b", "ngo", 3, now.Add(-30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := evaluate("b", "ngo", 1, now); !errors.Is(err, store.ErrReplay) {
			t.Fatalf("replayed digest: got %v", err)
		}
		err := evaluate("c", "ngo", 3, now)
		var rl *store.RateLimitError
		if !errors.As(err, &rl) || !errors.Is(err, store.ErrRateLimited) {
			t.Fatalf("over the limit: got %v", err)
		}
		if rl.RetryAfter < 29*time.Minute || rl.RetryAfter > 31*time.Minute {
			t.Fatalf("retry after %s, want the 30 minutes until the oldest counted evaluation leaves the window", rl.RetryAfter)
		}
		if err := evaluate("d", "ngo", 2, now); err != nil {
			t.Fatalf("a refusal counted against the limit: %v", err)
		}
		// Full now: 3 elements from 30 minutes ago and 2 from now. One more
		// fits when the older 3 leave; six more never fit.
		if err := evaluate("f", "ngo", 1, now); !errors.As(err, &rl) || rl.RetryAfter < 29*time.Minute || rl.RetryAfter > 31*time.Minute {
			t.Fatalf("one more: %v", err)
		}
		if err := evaluate("g", "ngo", 6, now); !errors.As(err, &rl) || rl.RetryAfter != time.Hour {
			t.Fatalf("more than the limit: %v", err)
		}
		if err := evaluate("e", "consulate", 5, now); err != nil {
			t.Fatalf("another agency's limit: %v", err)
		}
		persons, err := s.Persons(ctx, []string{"nobody"})
		if err != nil || len(persons) != 0 {
			t.Fatalf("persons of an unknown key: %v %v", persons, err)
		}
		log, err := s.AuditLog(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		var outcomes []audit.Outcome
		for _, e := range log {
			outcomes = append(outcomes, e.Outcome)
		}
		want := []audit.Outcome{audit.Evaluated, audit.Evaluated, audit.PossibleReplay, audit.Refused, audit.Evaluated, audit.Refused, audit.Refused, audit.Evaluated}
		if len(outcomes) != len(want) {
			t.Fatalf("audit outcomes %v, want %v", outcomes, want)
		}
		for i := range want {
			if outcomes[i] != want[i] {
				t.Fatalf("audit outcomes %v, want %v", outcomes, want)
			}
		}
	})

	t.Run("persons of keys, and a person's status", func(t *testing.T) {
		s := newStore(t)
		a := record(t, s, "s-a", "PossibleVictimOfTrafficking", "k-a1", "k-a2")
		b := record(t, s, "s-b", "ActualVictimOfTrafficking", "k-b1")
		got, err := s.Persons(ctx, []string{"k-b1", "k-zz", "k-a2", "k-a1"})
		if err != nil || len(got) != 2 || got[0] != b.Person || got[1] != a.Person {
			t.Fatalf("persons %v %v, want [%s %s]", got, err, b.Person, a.Person)
		}
		st, err := s.PersonStatus(ctx, b.Person)
		if err != nil || st.ID != "s-b" {
			t.Fatalf("status of b: %+v %v", st, err)
		}
		if _, err := s.PersonStatus(ctx, "nobody"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("status of nobody: %v", err)
		}
	})

	t.Run("no token for a superseded status", func(t *testing.T) {
		s := newStore(t)
		old := record(t, s, "s-old", "PossibleVictimOfTrafficking", "k-x")
		record(t, s, "s-new", "ActualVictimOfTrafficking", "k-x")
		tok := &store.Token{JTI: "late", Person: old.Person, StatusID: old.ID, Issuer: "ngo", Audience: "shelter", Purpose: "support-services",
			Subject: "shelter:v1:x", IssuedAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := s.IssueToken(ctx, tok, &audit.Entry{DecisionID: "late", Time: now, Event: "token_issue", Outcome: audit.Issued}); !errors.Is(err, store.ErrSuperseded) {
			t.Fatalf("a token for a superseded status: got %v, want ErrSuperseded", err)
		}
		if _, err := s.Token(ctx, "late"); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("the refused token was stored: %v", err)
		}
	})

	t.Run("blind evaluations: concurrent requests never pass the limit", func(t *testing.T) {
		s := newStore(t)
		var (
			wg sync.WaitGroup
			mu sync.Mutex
			ok int
		)
		for i := range 12 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := s.RecordEvaluation(ctx, &store.BlindEvaluation{Digest: string(rune('a' + i)), Agency: "ngo", Domain: "tumar.lookup", Elements: 1, At: now},
					5, time.Hour, &audit.Entry{DecisionID: "c", Time: now, Event: "oprf_evaluate", Source: "ngo"})
				switch {
				case err == nil:
					mu.Lock()
					ok++
					mu.Unlock()
				case !errors.Is(err, store.ErrRateLimited):
					t.Error(err)
				}
			}()
		}
		wg.Wait()
		if ok != 5 {
			t.Fatalf("%d of 12 concurrent evaluations passed a limit of 5", ok)
		}
	})

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
