package gateway

import (
	"context"
	"testing"

	"github.com/tumarproject/tumar/gateway/htcds"
)

// BenchmarkExchange is one referral through the whole in-process pipeline:
// match keys, internal pseudonym, policy (uncached), transformation with
// destination pseudonyms, and a durable SQLite commit of outbox row and
// hash-chained audit entry (synchronous=FULL).
func BenchmarkExchange(b *testing.B) {
	f := newFixture(b)
	sub := sampleSubmission(b, "errp")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.ex.Exchange(ctx, sub); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRedeem is one status-token redemption: signature and claims
// check, policy authorisation, and the durable single-use transition with
// its audit entry.
func BenchmarkRedeem(b *testing.B) {
	svc, cfg := statusFixtureTB(b)
	ctx := context.Background()
	ngo, _ := cfg.Agency("ngo-sezim")
	health, _ := cfg.Agency("health-bishkek")
	var rec htcds.Record
	rec.UnmarshalJSON([]byte(`{"prs_FirstName": "Айгүл", "prs_SecondName": "Токтосунова", "prs_Birthdate": "1996-03-14", "vic_TraffickingStatus": "PossibleVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "NGO"}`))
	if _, err := svc.Record(ctx, ngo, &rec, "2026-11-01"); err != nil {
		b.Fatal(err)
	}
	toks := make([]string, b.N)
	for i := range toks {
		t, err := svc.Issue(ctx, ngo, &rec, &IssueRequest{Audience: "health-bishkek", Purpose: "support-services"})
		if err != nil {
			b.Fatal(err)
		}
		toks[i] = t.Token
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		if _, err := svc.Redeem(ctx, health, toks[i], ""); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkExchangeParallel is the in-process exchange with 32 goroutines
// per core and group commit: every exchange is durable and audited before it
// is acknowledged, but concurrent ones share transactions.
func BenchmarkExchangeParallel(b *testing.B) {
	f := newFixture(b)
	f.ex.store = f.store.Store // the real store, which commits batches
	f.ex.release = f.store.Store.Release
	f.ex.GroupCommit()
	defer f.ex.Close()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetParallelism(32)
	b.RunParallel(func(pb *testing.PB) {
		sub := sampleSubmission(b, "errp")
		for pb.Next() {
			if _, err := f.ex.Exchange(ctx, sub); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
}
