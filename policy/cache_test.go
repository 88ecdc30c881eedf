package policy

import (
	"context"
	"math/rand/v2"
	"reflect"
	"testing"

	"github.com/tumarproject/tumar/gateway/htcds"
)

// The cache changes nothing: over generated inputs, a cached decision is
// the fresh decision.
func TestCachedDecisionsEqualFreshOnes(t *testing.T) {
	e := newEngine(t)
	fresh := e.WithoutCache()
	ctx := context.Background()
	rng := rand.New(rand.NewPCG(1, 2))
	parties := []Party{{ID: "ngo-1", Type: "NGO"}, {ID: "errp", Type: "LawEnforcement"}, {ID: "consulate-1", Type: "CentralGovernmentOrganisation"}, {ID: "health-1", Type: "HealthServiceOrganisation"}, {ID: "x", Type: "CorporateBusiness"}}
	purposes := []string{"criminal-referral", "prosecution", "consular-assistance", "support-services", "marketing"}
	bases := []string{"victim-consent", "kg-law-trafficking-in-persons", "court-order", "kg-law-consular-service", "none"}
	fields := htcds.Fields()
	for i := range 3000 {
		in := &Input{Source: parties[rng.IntN(len(parties))], Destination: parties[rng.IntN(len(parties))],
			Purpose: purposes[rng.IntN(len(purposes))], LegalBasis: bases[rng.IntN(len(bases))]}
		for _, f := range fields {
			if rng.IntN(4) == 0 {
				in.Fields = append(in.Fields, FieldRef{Name: f.Name, Class: f.Class.String(), Kind: f.Kind.String(), Generalization: f.Gen.String()})
			}
		}
		want, err := fresh.Decide(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		// Twice: the first fills the cache, the second reads it.
		for range 2 {
			got, err := e.Decide(ctx, in)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, want) {
				t.Fatalf("input %d: the cached decision differs from the fresh one:\n%+v\n%+v", i, got, want)
			}
		}
	}
}

func BenchmarkDecideCached(b *testing.B) {
	e, _ := New(context.Background(), Default())
	in := referral(police, "criminal-referral", "kg-law-trafficking-in-persons")
	ctx := context.Background()
	e.Decide(ctx, in)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Decide(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}
