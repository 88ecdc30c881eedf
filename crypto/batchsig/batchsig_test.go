package batchsig_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/crypto/batchsig"
	"github.com/tumarproject/tumar/crypto/keys"
)

func setup(t testing.TB) (*keys.Memory, jose.JSONWebKeySet) {
	t.Helper()
	m, err := keys.NewMemory("errp")
	if err != nil {
		t.Fatal(err)
	}
	pubs, err := m.PublicKeys(context.Background(), keys.SigningKeyAudit)
	if err != nil {
		t.Fatal(err)
	}
	return m, jose.JSONWebKeySet{Keys: pubs}
}

func records(n int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, `{"exchange_id":"x-%d","record":{"cas_Status":"Active"}}`, i)
	}
	return out
}

// Every record of batches of every size up to 70 verifies on its own, and
// only at its own index.
func TestEveryRecordVerifies(t *testing.T) {
	m, set := setup(t)
	ctx := context.Background()
	for n := 1; n <= 70; n++ {
		rs := records(n)
		proofs, err := batchsig.Sign(ctx, m, keys.SigningKeyAudit, rs, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for i := range rs {
			if err := batchsig.Verify(rs[i], &proofs[i], set); err != nil {
				t.Fatalf("size %d, record %d: %v", n, i, err)
			}
			if n > 1 {
				other := (i + 1) % n
				if err := batchsig.Verify(rs[other], &proofs[i], set); !errors.Is(err, batchsig.ErrInvalid) {
					t.Fatalf("size %d: record %d verified with the proof of %d", n, other, i)
				}
			}
		}
	}
}

func TestTamperingFails(t *testing.T) {
	m, set := setup(t)
	ctx := context.Background()
	rs := records(9)
	proofs, _ := batchsig.Sign(ctx, m, keys.SigningKeyAudit, rs, time.Now())
	stranger, strangerSet := setup(t)
	strangerProofs, _ := batchsig.Sign(ctx, stranger, keys.SigningKeyAudit, rs, time.Now())
	for name, tc := range map[string]struct {
		record []byte
		p      batchsig.Proof
		set    jose.JSONWebKeySet
		want   string
	}{
		"changed record":        {append([]byte(nil), `{"exchange_id":"x-3","record":{"cas_Status":"Closed"}}`...), proofs[3], set, "not the one signed"},
		"another index":         {rs[3], withIndex(proofs[3], 4), set, "not the one signed"},
		"another size":          {rs[3], withSize(proofs[3], 10), set, "not the signed size"},
		"a path hash off":       {rs[3], withPathFlip(proofs[3]), set, "not the one signed"},
		"another gateway's key": {rs[3], strangerProofs[3], set, "signature"},
		"another gateway's set": {rs[3], proofs[3], strangerSet, "signature"},
		"out of range":          {rs[3], withIndex(proofs[3], 9), set, "not a proof"},
	} {
		err := batchsig.Verify(tc.record, &tc.p, tc.set)
		if !errors.Is(err, batchsig.ErrInvalid) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", name, err, tc.want)
		}
	}
}

// An audit checkpoint of the same key is not a batch root.
func TestAnotherStatementIsNotABatch(t *testing.T) {
	m, set := setup(t)
	op, _ := m.SigningKey(context.Background(), keys.SigningKeyAudit)
	s, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: op}, (&jose.SignerOptions{}).WithHeader("kid", op.Public().KeyID))
	obj, _ := s.Sign([]byte(`{"root":"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=","size":1}`))
	jws, _ := obj.CompactSerialize()
	err := batchsig.Verify([]byte("x"), &batchsig.Proof{Batch: jws, Index: 0, Size: 1}, set)
	if !errors.Is(err, batchsig.ErrInvalid) || !strings.Contains(err.Error(), "type") {
		t.Fatalf("err = %v", err)
	}
}

func FuzzParseAndVerify(f *testing.F) {
	m, set := setup(f)
	rs := records(5)
	proofs, _ := batchsig.Sign(context.Background(), m, keys.SigningKeyAudit, rs, time.Now())
	good, _ := json.Marshal(proofs[2])
	f.Add(good, rs[2])
	f.Add([]byte(`{"batch":"a.b.c","index":1,"size":1,"path":[]}`), []byte("x"))
	f.Add([]byte(`{"batch":"","index":18446744073709551615,"size":0}`), []byte{})
	f.Fuzz(func(t *testing.T, b, record []byte) {
		p, err := batchsig.Parse(b)
		if err != nil {
			if !errors.Is(err, batchsig.ErrInvalid) {
				t.Fatalf("Parse error without ErrInvalid: %v", err)
			}
			return
		}
		if err := batchsig.Verify(record, p, set); err != nil && !errors.Is(err, batchsig.ErrInvalid) {
			t.Fatalf("Verify error without ErrInvalid: %v", err)
		}
	})
}

func withIndex(p batchsig.Proof, i uint64) batchsig.Proof { p.Index = i; return p }
func withSize(p batchsig.Proof, n uint64) batchsig.Proof  { p.Size = n; return p }
func withPathFlip(p batchsig.Proof) batchsig.Proof {
	path := make([][]byte, len(p.Path))
	for i, h := range p.Path {
		path[i] = append([]byte(nil), h...)
	}
	path[0][0] ^= 1
	p.Path = path
	return p
}

// BenchmarkSign signs a batch of 256 records: the largest group commit.
func BenchmarkSign(b *testing.B) {
	m, _ := setup(b)
	rs := records(256)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := batchsig.Sign(ctx, m, keys.SigningKeyAudit, rs, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rs))/b.Elapsed().Seconds(), "records/s")
}

// Leaves hashed beforehand sign a batch whose proofs verify against the
// records themselves; a leaf that is not a hash is refused.
func TestSignLeavesTakesLeafHashes(t *testing.T) {
	m, set := setup(t)
	ctx := context.Background()
	rs := records(9)
	leaves := make([][]byte, len(rs))
	for i, r := range rs {
		leaves[i] = batchsig.Leaf(r)
	}
	proofs, err := batchsig.SignLeaves(ctx, m, keys.SigningKeyAudit, leaves, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for i := range rs {
		if err := batchsig.Verify(rs[i], &proofs[i], set); err != nil {
			t.Fatalf("record %d: %v", i, err)
		}
	}
	leaves[3] = rs[3] // a record, not its hash
	if _, err := batchsig.SignLeaves(ctx, m, keys.SigningKeyAudit, leaves, time.Now()); err == nil || !strings.Contains(err.Error(), "leaf 3") {
		t.Fatalf("a leaf that is not a hash: %v", err)
	}
}

// A proof's path is null in a batch of one, as it always was, and a list
// in a larger batch: the JSON a recipient gets does not change with how the
// tree is built.
func TestAPathIsNullOnlyInABatchOfOne(t *testing.T) {
	m, _ := setup(t)
	for n, want := range map[int]string{1: `"path":null`, 2: `"path":["`, 3: `"path":["`} {
		proofs, err := batchsig.Sign(context.Background(), m, keys.SigningKeyAudit, records(n), time.Now())
		if err != nil {
			t.Fatal(err)
		}
		for i := range proofs {
			b, err := json.Marshal(proofs[i])
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), want) {
				t.Fatalf("batch of %d, proof %d: %s, want %s", n, i, b, want)
			}
		}
	}
}
