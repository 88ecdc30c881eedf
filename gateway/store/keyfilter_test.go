package store

import (
	"strconv"
	"testing"
)

// TestKeyFilterNeverMissesAKeyAndRarelyInventsOne: a filter that missed a
// key would let a returning person through as new, and a submitted record
// through as fresh.
func TestKeyFilterNeverMissesAKeyAndRarelyInventsOne(t *testing.T) {
	const n = 200_000
	f := newKeyFilter(n, 0.01)
	for i := range n {
		if i%2 == 0 {
			f.addString("tumar.internal:v1:" + strconv.Itoa(i))
		} else {
			f.add([]byte("tumar.internal:v1:" + strconv.Itoa(i)))
		}
	}
	for i := range n {
		k := "tumar.internal:v1:" + strconv.Itoa(i)
		if !f.hasString(k) || !f.has([]byte(k)) {
			t.Fatalf("key %d added and not found", i)
		}
	}
	invented := 0
	for i := n; i < 2*n; i++ {
		if f.hasString("tumar.internal:v1:" + strconv.Itoa(i)) {
			invented++
		}
	}
	if rate := float64(invented) / n; rate > 0.02 {
		t.Fatalf("false positives %.4f at capacity, want about 0.01", rate)
	}
}
