package oprf

import (
	"fmt"
	"testing"
)

// BenchmarkEvaluate is the gateway's cost of one evaluation request of n
// elements: decoding, evaluation and the batch's DLEQ proof. Elements per
// second is n / (time per op).
func BenchmarkEvaluate(b *testing.B) {
	k := testKey(b, "tumar.lookup", 1)
	c := testClient(b, k)
	for _, n := range []int{1, 3, 16, 64} {
		in := make([][]byte, n)
		for i := range in {
			in[i] = fmt.Appendf(nil, "doc\x00ID%07d", i)
		}
		bl, err := c.Blind(in)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := k.Evaluate(bl.Elements); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "elements/s")
		})
	}
}

// BenchmarkClientBlindFinalize is an agency's cost for one person's three
// match keys: blinding, then checking the proof and unblinding.
func BenchmarkClientBlindFinalize(b *testing.B) {
	k := testKey(b, "tumar.lookup", 1)
	c := testClient(b, k)
	bl, err := c.Blind(inputs)
	if err != nil {
		b.Fatal(err)
	}
	ev, err := k.Evaluate(bl.Elements)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("blind", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Blind(inputs); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("finalize", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.Finalize(bl, ev); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkFullEvaluate is the gateway computing a blind pseudonym itself,
// as it does when it records a status and indexes the person for look-ups.
func BenchmarkFullEvaluate(b *testing.B) {
	k := testKey(b, "tumar.lookup", 1)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := k.Pseudonym(inputs[0]); err != nil {
			b.Fatal(err)
		}
	}
}
