package gateway

import (
	"context"
	"testing"
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
