// Package keystest is the contract every key backend must meet. Each backend's
// tests call Run with a constructor; the same suite will run against Vault.
package keystest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/crypto/keys"
)

// Backend is a fresh backend with keys for the given domains and the
// signing keys named in keys.SigningKeyNames.
type Backend interface {
	keys.Pseudonymizer
	keys.Rotator
	keys.Signer
	keys.SigningRotator
	keys.Sealer
}

// Run runs the contract suite. newBackend must return a new, independent
// backend holding epoch 1 of each domain it is given.
func Run(t *testing.T, newBackend func(t *testing.T, domains ...string) Backend) {
	t.Helper()
	ctx := context.Background()
	in := [][]byte{[]byte("nb\x00asanbekova jyldyz\x001990-05-12"), []byte("doc\x00AN1234567")}

	t.Run("deterministic", func(t *testing.T) {
		b := newBackend(t, "errp")
		p1, err := b.Pseudonymize(ctx, "errp", in)
		if err != nil {
			t.Fatal(err)
		}
		p2, err := b.Pseudonymize(ctx, "errp", in)
		if err != nil {
			t.Fatal(err)
		}
		if len(p1) != 2 || p1[0] != p2[0] || p1[1] != p2[1] {
			t.Fatal("the same input must give the same pseudonym")
		}
		if p1[0] == p1[1] {
			t.Fatal("different inputs gave the same pseudonym")
		}
		if p1[0].Domain != "errp" || p1[0].Epoch != 1 {
			t.Fatalf("pseudonym carries domain %q epoch %d", p1[0].Domain, p1[0].Epoch)
		}
	})

	t.Run("domain separation", func(t *testing.T) {
		b := newBackend(t, "errp", "consulate-moscow")
		a, err := b.Pseudonymize(ctx, "errp", in[:1])
		if err != nil {
			t.Fatal(err)
		}
		c, err := b.Pseudonymize(ctx, "consulate-moscow", in[:1])
		if err != nil {
			t.Fatal(err)
		}
		if a[0].MAC == c[0].MAC {
			t.Fatal("two domains gave the same MAC for one person: recipients could join on it")
		}
	})

	t.Run("unknown domain", func(t *testing.T) {
		b := newBackend(t, "errp")
		if _, err := b.Pseudonymize(ctx, "nobody", in); !errors.Is(err, keys.ErrUnknownDomain) {
			t.Fatalf("want ErrUnknownDomain, got %v", err)
		}
	})

	t.Run("many inputs keep their order", func(t *testing.T) {
		b := newBackend(t, "errp")
		many := make([][]byte, 2500)
		for i := range many {
			many[i] = []byte(fmt.Sprintf("doc\x00AN%07d", i))
		}
		all, err := b.Pseudonymize(ctx, "errp", many)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{0, 999, 1000, 2499} {
			one, err := b.Pseudonymize(ctx, "errp", many[i:i+1])
			if err != nil {
				t.Fatal(err)
			}
			if one[0] != all[i] {
				t.Fatalf("input %d got another input's pseudonym in a large call", i)
			}
		}
	})

	t.Run("signing", func(t *testing.T) {
		b := newBackend(t, "errp")
		signer, err := b.SigningKey(ctx, keys.SigningKeyTokens)
		if err != nil {
			t.Fatal(err)
		}
		if signer.Public().KeyID != keys.KeyID(keys.SigningKeyTokens, 1) {
			t.Fatalf("kid %q", signer.Public().KeyID)
		}
		jws := sign(t, signer, "claims v1")
		if _, err := b.RotateSigningKey(ctx, keys.SigningKeyTokens); err != nil {
			t.Fatal(err)
		}
		signer2, err := b.SigningKey(ctx, keys.SigningKeyTokens)
		if err != nil {
			t.Fatal(err)
		}
		jws2 := sign(t, signer2, "claims v2")
		pubs, err := b.PublicKeys(ctx, keys.SigningKeyTokens)
		if err != nil || len(pubs) != 2 {
			t.Fatalf("public keys after rotation: %d, %v", len(pubs), err)
		}
		set := jose.JSONWebKeySet{Keys: pubs}
		for _, c := range []struct{ jws, want string }{{jws, "claims v1"}, {jws2, "claims v2"}} {
			obj, err := jose.ParseSigned(c.jws, []jose.SignatureAlgorithm{jose.EdDSA})
			if err != nil {
				t.Fatal(err)
			}
			kid := obj.Signatures[0].Header.KeyID
			ks := set.Key(kid)
			if len(ks) != 1 {
				t.Fatalf("no public key for kid %q", kid)
			}
			payload, err := obj.Verify(ks[0])
			if err != nil || string(payload) != c.want {
				t.Fatalf("verify %s: %v", kid, err)
			}
		}
		if _, err := b.SigningKey(ctx, "no-such-key"); !errors.Is(err, keys.ErrUnknownKey) {
			t.Fatalf("want ErrUnknownKey, got %v", err)
		}
	})

	t.Run("sealing", func(t *testing.T) {
		b := newBackend(t, "errp")
		secret := []byte("row 12: Асанбекова Жылдыз, 12.05.1990")
		sealed, err := b.Seal(ctx, keys.SealingKeyQuarantine, secret, []byte("ngo-csv row 12"))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(sealed), "Асанбекова") {
			t.Fatal("sealed data shows its content")
		}
		got, err := b.Open(ctx, keys.SealingKeyQuarantine, sealed, []byte("ngo-csv row 12"))
		if err != nil || string(got) != string(secret) {
			t.Fatalf("open: %v", err)
		}
		if _, err := b.Open(ctx, keys.SealingKeyQuarantine, sealed, []byte("ngo-csv row 13")); !errors.Is(err, keys.ErrSealed) {
			t.Fatalf("opened under another context: %v", err)
		}
	})

	t.Run("rotation keeps old epochs", func(t *testing.T) {
		b := newBackend(t, "errp")
		old, err := b.Pseudonymize(ctx, "errp", in[:1])
		if err != nil {
			t.Fatal(err)
		}
		epoch, err := b.Rotate(ctx, "errp")
		if err != nil {
			t.Fatal(err)
		}
		if epoch != 2 {
			t.Fatalf("rotation gave epoch %d, want 2", epoch)
		}
		cur, err := b.Pseudonymize(ctx, "errp", in[:1])
		if err != nil {
			t.Fatal(err)
		}
		if cur[0].Epoch != 2 || cur[0].MAC == old[0].MAC {
			t.Fatal("after rotation new pseudonyms must use the new epoch and key")
		}
		again, err := b.PseudonymizeAt(ctx, "errp", 1, in[:1])
		if err != nil {
			t.Fatal(err)
		}
		if again[0] != old[0] {
			t.Fatal("an epoch-1 pseudonym is no longer reproducible after rotation")
		}
		if _, err := b.PseudonymizeAt(ctx, "errp", 9, in[:1]); !errors.Is(err, keys.ErrUnknownEpoch) {
			t.Fatalf("want ErrUnknownEpoch, got %v", err)
		}
		doms, err := b.Domains(ctx)
		if err != nil || doms["errp"] != 2 {
			t.Fatalf("Domains = %v, %v", doms, err)
		}
	})
}

func sign(t *testing.T, s jose.OpaqueSigner, payload string) string {
	t.Helper()
	js, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: s}, (&jose.SignerOptions{}).WithHeader(jose.HeaderKey("kid"), s.Public().KeyID))
	if err != nil {
		t.Fatal(err)
	}
	obj, err := js.Sign([]byte(payload))
	if err != nil {
		t.Fatal(err)
	}
	out, err := obj.CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return out
}
