package gateway

import (
	"context"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/policy"
)

// The gateway's decision cache changes nothing: over generated exchanges
// (parties, purposes, legal bases and sets of fields), its decision is the
// one a fresh evaluation of the full policy input gives, on a miss and on a
// hit; and a policy swapped in is asked, not the old one's cache.
func TestCachedDecisionsAreTheFreshOnes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	fresh := f.ex.policy.WithoutCache()
	rng := rand.New(rand.NewPCG(3, 4))
	agencies := f.ex.cfg.Agencies
	purposes := []string{"criminal-referral", "prosecution", "consular-assistance", "support-services", "marketing"}
	bases := []string{"victim-consent", "kg-law-trafficking-in-persons", "court-order", "kg-law-consular-service", "none"}
	sample := sampleSubmission(t, "errp").Record.Entries()
	same := func(got, want *policy.Decision) bool {
		return got.Allow == want.Allow && got.Rule == want.Rule && got.Revision == want.Revision &&
			reflect.DeepEqual(got.Reasons, want.Reasons) && reflect.DeepEqual(got.Fields, want.Fields)
	}
	// A few sets of fields, so that exchanges differing in one part of the
	// key alone meet often.
	var records []*htcds.Record
	for range 5 {
		rec := &htcds.Record{}
		for _, e := range sample {
			if rng.IntN(3) > 0 {
				rec.Set(e.ID, e.Value)
			}
		}
		records = append(records, rec)
	}
	allowed := 0
	for i := range 2000 {
		rec := records[rng.IntN(len(records))]
		src, dst := &agencies[rng.IntN(len(agencies))], &agencies[rng.IntN(len(agencies))]
		sub := &Submission{Source: src.ID, Destination: dst.ID, Purpose: purposes[rng.IntN(len(purposes))],
			LegalBasis: bases[rng.IntN(len(bases))], Record: rec}
		want, err := fresh.Decide(ctx, policyInput(src, dst, sub))
		if err != nil {
			t.Fatal(err)
		}
		for range 2 { // the first may fill the cache, the second reads it
			got, err := f.ex.decisions.decide(ctx, f.ex.policy, src, dst, sub)
			if err != nil {
				t.Fatal(err)
			}
			if !same(got, want) {
				t.Fatalf("exchange %d: the cached decision differs from the fresh one:\n%+v\n%+v", i, got, want)
			}
		}
		if want.Allow {
			allowed++
		}
	}
	if allowed == 0 || allowed == 2000 {
		t.Fatalf("%d of 2000 generated exchanges allowed: the test wants both outcomes", allowed)
	}

	// Another policy: its own decisions, although the key is otherwise the same.
	sub := sampleSubmission(t, "errp")
	src, dst, err := f.ex.parties(sub)
	if err != nil {
		t.Fatal(err)
	}
	before, err := f.ex.decisions.decide(ctx, f.ex.policy, src, dst, sub)
	if err != nil || !before.Allow {
		t.Fatalf("the sample is not allowed: %+v, %v", before, err)
	}
	withPolicy(t, f, func(src string) string {
		return strings.Replace(src, `"fields": {},`, `"fields": {"prs_IdentityNumber": "redact"},`, 1)
	})
	after, err := f.ex.decisions.decide(ctx, f.ex.policy, src, dst, sub)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := before.Fields["prs_IdentityNumber"].Action, after.Fields["prs_IdentityNumber"].Action; a == b || b != policy.Redact {
		t.Fatalf("a policy swapped in: the document's action went from %v to %v; want redact, from its own decision", a, b)
	}
}
