package consular

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

type fixture struct {
	gwKey   *ecdsa.PrivateKey
	signKey ed25519.PrivateKey
	checker *Checker
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	gw, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pub, priv, _ := ed25519.GenerateKey(rand.Reader)
	return &fixture{gwKey: gw, signKey: priv, checker: &Checker{Key: gw, Now: func() time.Time { return now },
		Trust: []TrustedKey{{Consulate: "consulate-moscow", KeyID: "moscow-2026", Key: pub, NotBefore: now.Add(-365 * 24 * time.Hour)}}}}
}

func lines(n int) []Line {
	out := make([]Line, n)
	for i := range out {
		out[i] = Line{SourceRecordID: "MSK-" + string(rune('A'+i)), Destination: "ngo-sezim", Purpose: "support-services", LegalBasis: "victim-consent",
			Record: json.RawMessage(`{"prs_FirstName": "Айгүл", "prs_SecondName": "Токтосунова", "prs_Birthdate": "1996-03-14", "cas_Status": "Active"}`)}
	}
	return out
}

func (f *fixture) pack(t testing.TB, seq uint64, at time.Time) []byte {
	t.Helper()
	b, _, err := Pack(lines(3), "consulate-moscow", "moscow-2026", seq, f.signKey, &f.gwKey.PublicKey, at)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenChecksEverything(t *testing.T) {
	f := newFixture(t)
	good := f.pack(t, 1, now)
	opened, err := f.checker.Open(good, "consulate-moscow")
	if err != nil || len(opened.Lines) != 3 || opened.Manifest.Sequence != 1 {
		t.Fatalf("a good bundle: %v", err)
	}
	if strings.Contains(string(good), "Айгүл") || strings.Contains(string(good), "MSK-") {
		t.Fatal("the bundle is readable without the gateway's key")
	}
	otherGW, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, otherSign, _ := ed25519.GenerateKey(rand.Reader)
	forged, _, _ := Pack(lines(3), "consulate-moscow", "moscow-2026", 2, otherSign, &f.gwKey.PublicKey, now)
	unknownKid, _, _ := Pack(lines(3), "consulate-moscow", "moscow-2099", 2, f.signKey, &f.gwKey.PublicKey, now)
	otherTarget, _, _ := Pack(lines(3), "consulate-moscow", "moscow-2026", 2, f.signKey, &otherGW.PublicKey, now)
	// Change one character of the ciphertext, keeping it valid base64url.
	parts := strings.Split(string(good), ".")
	c := []byte(parts[3])
	if c[0] == 'A' {
		c[0] = 'B'
	} else {
		c[0] = 'A'
	}
	parts[3] = string(c)
	tampered := []byte(strings.Join(parts, "."))

	for _, tc := range []struct {
		name   string
		bundle []byte
		from   string
		want   error
	}{
		{"truncated", good[:len(good)/2], "consulate-moscow", ErrMalformed},
		{"tampered", tampered, "consulate-moscow", ErrDecrypt},
		{"for another gateway", otherTarget, "consulate-moscow", ErrDecrypt},
		{"signed with another key", forged, "consulate-moscow", ErrSignature},
		{"unknown key id", unknownKid, "consulate-moscow", ErrUntrusted},
		{"sent by another consulate", good, "consulate-bishkek", ErrUntrusted},
		{"too old", f.pack(t, 3, now.Add(-200*24*time.Hour)), "consulate-moscow", ErrStale},
		{"from the future", f.pack(t, 3, now.Add(time.Hour)), "consulate-moscow", ErrStale},
		{"garbage", []byte("not a bundle"), "consulate-moscow", ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := f.checker.Open(tc.bundle, tc.from); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
}

func TestRevokedKey(t *testing.T) {
	f := newFixture(t)
	before := f.pack(t, 1, now.Add(-2*time.Hour))
	after := f.pack(t, 2, now.Add(-30*time.Minute))
	f.checker.Trust[0].RevokedAt = now.Add(-time.Hour)
	if _, err := f.checker.Open(before, "consulate-moscow"); err != nil {
		t.Fatalf("a bundle signed before the revocation: %v", err)
	}
	if _, err := f.checker.Open(after, "consulate-moscow"); !errors.Is(err, ErrRevoked) {
		t.Fatalf("a bundle signed after the revocation: %v", err)
	}
}

func TestManifestMustMatch(t *testing.T) {
	f := newFixture(t)
	// A consulate's own software with a bug: the hashes do not cover the records.
	c := content{Manifest: Manifest{BundleID: "b", Consulate: "consulate-moscow", Sequence: 1, Created: now, Count: 1, Hashes: []string{"00"}},
		Lines: []json.RawMessage{json.RawMessage(`{"source_record_id":"x"}`)}}
	payload, _ := json.Marshal(c)
	sig, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: f.signKey}, (&jose.SignerOptions{}).WithHeader("kid", "moscow-2026"))
	jws, _ := sig.Sign(payload)
	signed, _ := jws.CompactSerialize()
	enc, _ := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: &f.gwKey.PublicKey}, nil)
	jwe, _ := enc.Encrypt([]byte(signed))
	b, _ := jwe.CompactSerialize()
	if _, err := f.checker.Open([]byte(b), "consulate-moscow"); !errors.Is(err, ErrManifest) {
		t.Fatalf("got %v", err)
	}
}

// memSink and memBundles stand in for the gateway in these unit tests.
type memSink struct{ seen map[string]bool }

func (m *memSink) Exchange(ctx context.Context, sub *gateway.Submission) (*gateway.Receipt, error) {
	if sub.Destination == "nowhere" {
		return nil, &gateway.Error{Status: 400, Code: "unknown_destination", Message: "destination is not a configured agency"}
	}
	if m.seen[sub.SourceRecordID] {
		return &gateway.Receipt{Outcome: audit.Duplicate}, nil
	}
	m.seen[sub.SourceRecordID] = true
	return &gateway.Receipt{Outcome: audit.Released}, nil
}

type memBundles map[string]*store.Bundle

func (m memBundles) Bundle(ctx context.Context, c string, seq uint64) (*store.Bundle, error) {
	b, ok := m[fmt.Sprint(c, seq)]
	if !ok {
		return nil, store.ErrNotFound
	}
	return b, nil
}

func (m memBundles) RecordBundle(ctx context.Context, b *store.Bundle) error {
	if _, ok := m[fmt.Sprint(b.Consulate, b.Sequence)]; ok {
		return store.ErrDuplicate
	}
	m[fmt.Sprint(b.Consulate, b.Sequence)] = b
	return nil
}

func TestImport(t *testing.T) {
	f := newFixture(t)
	im := &Importer{Checker: f.checker, Sink: &memSink{seen: map[string]bool{}}, Store: memBundles{}}
	ls := lines(3)
	ls[1].Destination = "nowhere"
	b, _, _ := Pack(ls, "consulate-moscow", "moscow-2026", 1, f.signKey, &f.gwKey.PublicKey, now)
	rep, err := im.Import(context.Background(), b, "consulate-moscow")
	if err != nil || rep.Released != 2 || len(rep.Refused) != 1 || rep.Refused[0].Record != 2 {
		t.Fatalf("import: %+v %v", rep, err)
	}
	again, err := im.Import(context.Background(), b, "consulate-moscow")
	if err != nil || !again.Already || again.Released != 0 {
		t.Fatalf("the same bundle again: %+v %v", again, err)
	}
	other := f.pack(t, 1, now)
	if _, err := im.Import(context.Background(), other, "consulate-moscow"); !errors.Is(err, ErrSequence) {
		t.Fatalf("another bundle with a used sequence number: %v", err)
	}
}

func FuzzOpen(f *testing.F) {
	fx := newFixture(f)
	f.Add(fx.pack(f, 1, now))
	f.Add([]byte("a.b.c.d.e"))
	f.Fuzz(func(t *testing.T, b []byte) {
		if o, err := fx.checker.Open(b, "consulate-moscow"); err == nil && len(o.Lines) != o.Manifest.Count {
			t.Fatal("an opened bundle does not match its manifest")
		}
	})
}

// BenchmarkPack and BenchmarkOpen measure bundles of 1,000 records:
// records/s is the figure to read.
func BenchmarkPack(b *testing.B) {
	f := newFixture(b)
	ls := lines(1000)
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := Pack(ls, "consulate-moscow", "moscow-2026", 1, f.signKey, &f.gwKey.PublicKey, now); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "records/s")
}

func BenchmarkOpen(b *testing.B) {
	f := newFixture(b)
	bundle, _, _ := Pack(lines(1000), "consulate-moscow", "moscow-2026", 1, f.signKey, &f.gwKey.PublicKey, now)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := f.checker.Open(bundle, "consulate-moscow"); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(1000*b.N)/b.Elapsed().Seconds(), "records/s")
}
