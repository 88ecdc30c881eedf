package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tumarproject/tumar/crypto/keys"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func claims() *Claims {
	return &Claims{
		Claims: jwt.Claims{Issuer: "tumar", Subject: "errp:v1:abc", Audience: jwt.Audience{"errp"}, ID: "jti-1",
			IssuedAt: jwt.NewNumericDate(now), NotBefore: jwt.NewNumericDate(now), Expiry: jwt.NewNumericDate(now.Add(72 * time.Hour))},
		Status: "ActualVictimOfTrafficking", DecisionOrg: "CourtOrProsecution", DecisionDate: "2026-11-20", Purpose: "support-services",
	}
}

func setup(t testing.TB) (*keys.Memory, *Verifier, string) {
	t.Helper()
	m, err := keys.NewMemory("errp")
	if err != nil {
		t.Fatal(err)
	}
	pubs, _ := m.PublicKeys(context.Background(), keys.SigningKeyTokens)
	v := &Verifier{Keys: jose.JSONWebKeySet{Keys: pubs}, Issuer: "tumar", Now: func() time.Time { return now }}
	tok, err := Issue(context.Background(), m, keys.SigningKeyTokens, claims())
	if err != nil {
		t.Fatal(err)
	}
	return m, v, tok
}

func TestIssueAndVerify(t *testing.T) {
	_, v, tok := setup(t)
	c, err := v.Verify(tok, "errp")
	if err != nil {
		t.Fatal(err)
	}
	if c.Subject != "errp:v1:abc" || c.Status != "ActualVictimOfTrafficking" || c.ID != "jti-1" || c.Purpose != "support-services" {
		t.Fatalf("claims %+v", c)
	}
}

// sign makes a compact JWS with any header, payload and key, as an attacker would.
func rawToken(header, payload, sig string) string {
	enc := base64.RawURLEncoding.EncodeToString
	return enc([]byte(header)) + "." + enc([]byte(payload)) + "." + sig
}

func TestAttacksFail(t *testing.T) {
	m, v, good := setup(t)
	payload := strings.Split(good, ".")[1]
	claimsJSON, _ := base64.RawURLEncoding.DecodeString(payload)
	pubs, _ := m.PublicKeys(context.Background(), keys.SigningKeyTokens)
	pub := pubs[0].Key.(ed25519.PublicKey)

	hs256, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.HS256, Key: []byte(pub)}, (&jose.SignerOptions{}).WithHeader("kid", "tokens-v1"))
	hsObj, _ := hs256.Sign(claimsJSON)
	hsTok, _ := hsObj.CompactSerialize()

	_, otherKey, _ := ed25519.GenerateKey(rand.Reader)
	forger, _ := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: otherKey}, (&jose.SignerOptions{}).WithHeader("kid", "tokens-v1"))
	forged, _ := jwt.Signed(forger).Claims(claims()).Serialize()

	sign := func(c *Claims) string {
		tok, err := Issue(context.Background(), m, keys.SigningKeyTokens, c)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	expired := claims()
	expired.Expiry = jwt.NewNumericDate(now.Add(-time.Hour))
	future := claims()
	future.NotBefore = jwt.NewNumericDate(now.Add(time.Hour))
	noJTI := claims()
	noJTI.ID = ""
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + base64.RawURLEncoding.EncodeToString([]byte(strings.Replace(string(claimsJSON), "ActualVictim", "PossibleVictim", 1))) + "." + parts[2]
	nested := rawToken(`{"alg":"EdDSA","kid":"tokens-v1"}`, `{"x":`+strings.Repeat("[", 40)+strings.Repeat("]", 40)+`}`, "AAAA")

	for _, tc := range []struct {
		name, tok, aud string
		want           error
	}{
		{"alg none", rawToken(`{"alg":"none","kid":"tokens-v1"}`, string(claimsJSON), ""), "errp", ErrAlgorithm},
		{"HS256 with the public key as secret", hsTok, "errp", ErrAlgorithm},
		{"unknown kid", rawToken(`{"alg":"EdDSA","kid":"tokens-v9"}`, string(claimsJSON), parts[2]), "errp", ErrUnknownKey},
		{"missing kid", rawToken(`{"alg":"EdDSA"}`, string(claimsJSON), parts[2]), "errp", ErrUnknownKey},
		{"forged with another key", forged, "errp", ErrSignature},
		{"payload tampered", tampered, "errp", ErrSignature},
		{"expired", sign(expired), "errp", ErrExpired},
		{"not yet valid", sign(future), "errp", ErrNotYetValid},
		{"wrong audience", good, "consulate-moscow", ErrAudience},
		{"claims missing", sign(noJTI), "errp", ErrClaims},
		{"oversized", good + strings.Repeat("A", MaxTokenBytes), "errp", ErrTooLarge},
		{"deeply nested", nested, "errp", ErrTooLarge},
		{"garbage", "not a token", "errp", ErrMalformed},
		{"encrypted where signed expected", "a.b.c.d.e", "errp", ErrNotEncryptedHere},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := v.Verify(tc.tok, tc.aud)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	other := &Verifier{Keys: v.Keys, Issuer: "someone-else", Now: v.Now}
	if _, err := other.Verify(good, "errp"); !errors.Is(err, ErrIssuer) {
		t.Fatalf("issuer: %v", err)
	}
}

func TestEncryptedTokens(t *testing.T) {
	_, v, tok := setup(t)
	priv, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	jwe, err := Encrypt(tok, &priv.PublicKey, "errp-enc-1")
	if err != nil {
		t.Fatal(err)
	}
	if !IsEncrypted(jwe) || strings.Contains(jwe, strings.Split(tok, ".")[1]) {
		t.Fatal("the encrypted token shows its claims")
	}
	inner, err := Decrypt(jwe, priv)
	if err != nil || inner != tok {
		t.Fatalf("decrypt: %v", err)
	}
	if _, err := v.Verify(inner, "errp"); err != nil {
		t.Fatal(err)
	}
	wrong, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if _, err := Decrypt(jwe, wrong); !errors.Is(err, ErrDecrypt) {
		t.Fatalf("another key: %v", err)
	}
	for name, enc := range map[string]func() (jose.Encrypter, error){
		"ECDH-ES direct": func() (jose.Encrypter, error) {
			return jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES, Key: &priv.PublicKey}, nil)
		},
		"A128GCM content": func() (jose.Encrypter, error) {
			return jose.NewEncrypter(jose.A128GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: &priv.PublicKey}, nil)
		},
		"symmetric A256KW": func() (jose.Encrypter, error) {
			return jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.A256KW, Key: make([]byte, 32)}, nil)
		},
	} {
		t.Run(name, func(t *testing.T) {
			e, err := enc()
			if err != nil {
				t.Fatal(err)
			}
			obj, _ := e.Encrypt([]byte(tok))
			s, _ := obj.CompactSerialize()
			if _, err := Decrypt(s, priv); !errors.Is(err, ErrAlgorithm) {
				t.Fatalf("a JWE with an algorithm outside the allow-list: %v", err)
			}
		})
	}
}

func TestRotatedKeysStillVerify(t *testing.T) {
	m, _, old := setup(t)
	if _, err := m.RotateSigningKey(context.Background(), keys.SigningKeyTokens); err != nil {
		t.Fatal(err)
	}
	fresh, _ := Issue(context.Background(), m, keys.SigningKeyTokens, claims())
	pubs, _ := m.PublicKeys(context.Background(), keys.SigningKeyTokens)
	v := &Verifier{Keys: jose.JSONWebKeySet{Keys: pubs}, Issuer: "tumar", Now: func() time.Time { return now }}
	for _, tok := range []string{old, fresh} {
		if _, err := v.Verify(tok, "errp"); err != nil {
			t.Fatalf("after rotation: %v", err)
		}
	}
}

func FuzzVerify(f *testing.F) {
	_, v, good := setup(f)
	f.Add(good)
	f.Add(rawToken(`{"alg":"none"}`, `{}`, ""))
	f.Add("a.b.c")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := v.Verify(tok, "errp")
		if err == nil && (c.ID == "" || c.Subject == "") {
			t.Fatal("a token without jti or sub verified")
		}
	})
}

func BenchmarkIssue(b *testing.B) {
	m, _, _ := setup(b)
	c := claims()
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Issue(ctx, m, keys.SigningKeyTokens, c); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkVerify(b *testing.B) {
	_, v, tok := setup(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(tok, "errp"); err != nil {
			b.Fatal(err)
		}
	}
}
