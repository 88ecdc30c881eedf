package oprf

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/tumarproject/tumar/crypto/keys"
)

func testKey(t testing.TB, domain string, epoch uint32) *Key {
	t.Helper()
	k, err := DeriveKey(bytes.Repeat([]byte{7}, SeedSize), domain, epoch)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func testClient(t testing.TB, k *Key) *Client {
	t.Helper()
	c, err := NewClient(k.Domain, k.Epoch, k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var inputs = [][]byte{[]byte("nb\x00aibek|ulan uulu|1990-01-02"), []byte("doc\x00ID1234567"), []byte("tel\x00+996555123456")}

func TestBlindPseudonymsEqualTheGatewaysOwn(t *testing.T) {
	t.Parallel()
	k := testKey(t, "tumar.lookup", 1)
	c := testClient(t, k)
	b, err := c.Blind(inputs)
	if err != nil {
		t.Fatal(err)
	}
	ev, err := k.Evaluate(b.Elements)
	if err != nil {
		t.Fatal(err)
	}
	got, err := c.Finalize(b, ev)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		want, err := k.Pseudonym(in)
		if err != nil {
			t.Fatal(err)
		}
		if got[i] != want {
			t.Errorf("input %d: blind pseudonym %s, the gateway computes %s", i, got[i], want)
		}
		if !strings.HasPrefix(got[i].String(), "tumar.lookup:v1:") {
			t.Errorf("input %d: %s is not in the pseudonym form", i, got[i])
		}
	}
	// Blinding is randomised: the same inputs never travel the same way twice.
	b2, err := c.Blind(inputs)
	if err != nil {
		t.Fatal(err)
	}
	for i := range b.Elements {
		if b.Elements[i] == b2.Elements[i] {
			t.Errorf("element %d was blinded the same way twice", i)
		}
	}
}

func TestDomainsAndEpochsAreSeparate(t *testing.T) {
	t.Parallel()
	in := inputs[0]
	seen := map[[32]byte]string{}
	for _, k := range []*Key{testKey(t, "tumar.lookup", 1), testKey(t, "tumar.lookup", 2), testKey(t, "ngo-sezim", 1)} {
		p, err := k.Pseudonym(in)
		if err != nil {
			t.Fatal(err)
		}
		name := k.Domain + "@" + p.String()[:len(k.Domain)+3]
		if prev, dup := seen[p.MAC]; dup {
			t.Fatalf("%s and %s give the same pseudonym", prev, name)
		}
		seen[p.MAC] = name
	}
}

func TestAnswerWithAnotherKeyIsRefused(t *testing.T) {
	t.Parallel()
	published, other := testKey(t, "tumar.lookup", 1), testKey(t, "tumar.lookup", 2)
	c := testClient(t, published)
	b, err := c.Blind(inputs[:1])
	if err != nil {
		t.Fatal(err)
	}
	ev, err := other.Evaluate(b.Elements)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Finalize(b, ev); !errors.Is(err, ErrProof) {
		t.Fatalf("answer under an unpublished key: got %v, want ErrProof", err)
	}
	// A tampered evaluated element fails the proof too.
	good, err := published.Evaluate(b.Elements)
	if err != nil {
		t.Fatal(err)
	}
	good.Elements[0] = ev.Elements[0]
	if _, err := c.Finalize(b, good); !errors.Is(err, ErrProof) {
		t.Fatalf("tampered element: got %v, want ErrProof", err)
	}
}

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// respell writes the same 32 bytes another way: the last of the 43
// characters carries 4 bits of data and 2 unused bits.
func respell(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last^1])
}

func TestRespellingDecodesToTheSameBytesLeniently(t *testing.T) {
	t.Parallel()
	s := enc(bytes.Repeat([]byte{0x5a}, 32))
	a, errA := base64.RawURLEncoding.DecodeString(s)
	b, errB := base64.RawURLEncoding.DecodeString(respell(s))
	if errA != nil || errB != nil || !bytes.Equal(a, b) || s == respell(s) {
		t.Fatal("respell does not make another spelling of the same bytes")
	}
}

func TestBadBatchesAreRefusedByName(t *testing.T) {
	t.Parallel()
	k := testKey(t, "tumar.lookup", 1)
	c := testClient(t, k)
	b, err := c.Blind(inputs)
	if err != nil {
		t.Fatal(err)
	}
	good := b.Elements[0]
	many := make([]string, MaxBatch+1)
	for i := range many {
		many[i] = good
	}
	tests := []struct {
		name  string
		batch []string
		want  error
	}{
		{"empty", nil, ErrBatch},
		{"too many", many, ErrBatch},
		{"repeated element", []string{good, b.Elements[1], good}, ErrBatch},
		{"not base64url", []string{strings.Repeat("*", 43)}, ErrMalformed},
		{"standard base64 padding", []string{good + "="}, ErrMalformed},
		{"short", []string{good[:40]}, ErrMalformed},
		{"long", []string{enc(make([]byte, 33))}, ErrMalformed},
		{"not on the group", []string{enc(bytes.Repeat([]byte{0xff}, 32))}, ErrMalformed},
		{"non-canonical", []string{enc(append([]byte{1}, make([]byte, 31)...))}, ErrMalformed},
		{"identity", []string{enc(make([]byte, 32))}, ErrIdentity},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := k.Evaluate(tt.batch)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	// A re-spelled element (the same bytes, other unused trailing bits) is
	// refused, so it cannot pass as a new element or a new request.
	t.Run("re-spelled", func(t *testing.T) {
		if _, err := k.Evaluate([]string{good, respell(good)}); !errors.Is(err, ErrMalformed) {
			t.Fatalf("got %v, want ErrMalformed", err)
		}
	})
	// The error names the position, never the element.
	_, err = k.Evaluate([]string{good, enc(make([]byte, 32))})
	if err == nil || !strings.Contains(err.Error(), "element 1") {
		t.Fatalf("error %v does not name element 1", err)
	}
}

func TestClientRefusesBadAnswers(t *testing.T) {
	t.Parallel()
	k := testKey(t, "tumar.lookup", 1)
	c := testClient(t, k)
	b, err := c.Blind(inputs[:2])
	if err != nil {
		t.Fatal(err)
	}
	ev, err := k.Evaluate(b.Elements)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		ev   Evaluation
		want error
	}{
		{"one element short", Evaluation{Elements: ev.Elements[:1], Proof: ev.Proof}, ErrBatch},
		{"malformed element", Evaluation{Elements: []string{ev.Elements[0], "x"}, Proof: ev.Proof}, ErrMalformed},
		{"malformed proof", Evaluation{Elements: ev.Elements, Proof: "x"}, ErrMalformed},
		{"zero proof", Evaluation{Elements: ev.Elements, Proof: enc(make([]byte, ProofSize))}, ErrProof},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := c.Finalize(b, &tt.ev); !errors.Is(err, tt.want) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
	if _, err := NewClient("tumar.lookup", 1, "not a key"); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad public key: got %v", err)
	}
	if _, err := c.Blind(nil); !errors.Is(err, ErrBatch) {
		t.Fatalf("no inputs: got %v", err)
	}
}

func TestKeyringDerivesFromTheKeyStore(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem, err := keys.NewMemory("tumar.lookup", "ngo-sezim")
	if err != nil {
		t.Fatal(err)
	}
	r := NewKeyring(mem, time.Minute)
	k1, err := r.Key(ctx, "tumar.lookup", 0)
	if err != nil {
		t.Fatal(err)
	}
	if k1.Epoch != 1 {
		t.Fatalf("current epoch %d, want 1", k1.Epoch)
	}
	// The same seed gives the same key in another process.
	again, err := NewKeyring(mem, 0).Key(ctx, "tumar.lookup", 1)
	if err != nil {
		t.Fatal(err)
	}
	if again.PublicKey() != k1.PublicKey() {
		t.Fatal("the key is not derived deterministically from the key store")
	}
	if _, err := mem.Rotate(ctx, "tumar.lookup"); err != nil {
		t.Fatal(err)
	}
	k2, err := r.Key(ctx, "tumar.lookup", 0)
	if err != nil {
		t.Fatal(err)
	}
	if k2.Epoch != 2 || k2.PublicKey() == k1.PublicKey() {
		t.Fatalf("after a rotation: epoch %d, same key %v", k2.Epoch, k2.PublicKey() == k1.PublicKey())
	}
	old, err := r.Key(ctx, "tumar.lookup", 1)
	if err != nil || old.PublicKey() != k1.PublicKey() {
		t.Fatalf("epoch 1 after rotation: %v", err)
	}
	if _, err := r.Key(ctx, "nowhere", 0); !errors.Is(err, keys.ErrUnknownDomain) {
		t.Fatalf("unknown domain: got %v", err)
	}
	if _, err := r.Key(ctx, "tumar.lookup", 9); !errors.Is(err, keys.ErrUnknownEpoch) {
		t.Fatalf("unknown epoch: got %v", err)
	}
}

// failing is a key store that has stopped answering.
type failing struct{ keys.Pseudonymizer }

func (failing) PseudonymizeAt(context.Context, string, uint32, [][]byte) ([]keys.Pseudonym, error) {
	return nil, keys.ErrUnavailable
}

func TestKeyringFailsClosedAfterItsTTL(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	mem, err := keys.NewMemory("tumar.lookup")
	if err != nil {
		t.Fatal(err)
	}
	src := &failing{mem}
	r := NewKeyring(mem, time.Second)
	now := time.Unix(1e9, 0)
	r.now = func() time.Time { return now }
	if _, err := r.Key(ctx, "tumar.lookup", 1); err != nil {
		t.Fatal(err)
	}
	r.src = src // the key store goes down
	if _, err := r.Key(ctx, "tumar.lookup", 1); err != nil {
		t.Fatalf("within the TTL the derived key is still used: %v", err)
	}
	now = now.Add(2 * time.Second)
	if _, err := r.Key(ctx, "tumar.lookup", 1); !errors.Is(err, keys.ErrUnavailable) {
		t.Fatalf("after the TTL: got %v, want ErrUnavailable", err)
	}
}

func FuzzParseBatch(f *testing.F) {
	k := testKey(f, "tumar.lookup", 1)
	c := testClient(f, k)
	b, err := c.Blind(inputs)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(strings.Join(b.Elements, ","))
	f.Add(enc(make([]byte, 32)))
	f.Add(enc(bytes.Repeat([]byte{0xff}, 32)) + "," + b.Elements[0])
	f.Fuzz(func(t *testing.T, s string) {
		batch := strings.Split(s, ",")
		ev, err := k.Evaluate(batch)
		if err != nil {
			if !errors.Is(err, ErrBatch) && !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrIdentity) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(ev.Elements) != len(batch) {
			t.Fatalf("%d answers for %d elements", len(ev.Elements), len(batch))
		}
	})
}

// FuzzFinalize is the client's side of outside input: a published public
// key and the gateway's answer. Whatever arrives, the client refuses it with
// one of its errors or, only for the true key's true answer, unblinds.
func FuzzFinalize(f *testing.F) {
	k := testKey(f, "tumar.lookup", 1)
	c := testClient(f, k)
	b, err := c.Blind(inputs[:2])
	if err != nil {
		f.Fatal(err)
	}
	ev, err := k.Evaluate(b.Elements)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(k.PublicKey(), strings.Join(ev.Elements, ","), ev.Proof)
	f.Add(k.PublicKey(), ev.Elements[0], ev.Proof)
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, pub, elements, proof string) {
		fc, err := NewClient("tumar.lookup", 1, pub)
		if err != nil {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("public key: unexpected error kind: %v", err)
			}
			return
		}
		ps, err := fc.Finalize(b, &Evaluation{Elements: strings.Split(elements, ","), Proof: proof})
		if err != nil {
			if !errors.Is(err, ErrMalformed) && !errors.Is(err, ErrProof) && !errors.Is(err, ErrBatch) && !errors.Is(err, ErrIdentity) {
				t.Fatalf("answer: unexpected error kind: %v", err)
			}
			return
		}
		if pub != k.PublicKey() || len(ps) != 2 {
			t.Fatalf("accepted an answer under key %q", pub)
		}
	})
}
