// Package token builds and checks victim-status tokens: compact JWS (EdDSA)
// that say "this person has this trafficking status, decided by this kind of
// organisation on this date", addressed to one agency for one purpose, and
// carrying no personal data. The subject is the audience's own pseudonym of
// the person.
//
// One algorithm allow-list serves issuing and checking: EdDSA for the
// signature; ECDH-ES+A256KW with A256GCM (P-256) for the optional encryption
// to the recipient. Every way a token can be wrong has its own error, so a
// caller can tell an expired token from a forged one.
package token

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"

	"github.com/tumarproject/tumar/crypto/keys"
)

// The allow-lists.
var (
	SignatureAlgs = []jose.SignatureAlgorithm{jose.EdDSA}
	KeyAlgs       = []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}
	ContentAlgs   = []jose.ContentEncryption{jose.A256GCM}
)

// Limits on what is parsed at all.
const (
	MaxTokenBytes = 8 << 10 // a status token is a few hundred bytes
	MaxDepth      = 4       // JSON nesting of header and claims
)

// Errors, one per way a token can be refused.
var (
	ErrMalformed   = errors.New("token: malformed")
	ErrTooLarge    = errors.New("token: too large or too deeply nested")
	ErrAlgorithm   = errors.New("token: algorithm not allowed")
	ErrUnknownKey  = errors.New("token: unknown or missing key id (kid)")
	ErrSignature   = errors.New("token: signature does not verify")
	ErrExpired     = errors.New("token: expired")
	ErrNotYetValid = errors.New("token: not yet valid")
	ErrAudience    = errors.New("token: addressed to another agency")
	ErrIssuer      = errors.New("token: from another issuer")
	ErrClaims      = errors.New("token: claims missing or invalid")
	ErrDecrypt     = errors.New("token: cannot be decrypted with this key")
)

// Claims are a status token's claims. Nothing in them identifies the person
// outside the audience's own pseudonym domain.
type Claims struct {
	jwt.Claims
	Status       string `json:"status"`        // HTCDS vic_TraffickingStatus
	DecisionOrg  string `json:"decision_org"`  // HTCDS vic_TraffickingStatusDecisionMakingOrg
	DecisionDate string `json:"decision_date"` // YYYY-MM-DD
	Purpose      string `json:"purpose"`
}

// Issue signs the claims with the named signing key of a keys.Signer.
func Issue(ctx context.Context, signer keys.Signer, keyName string, c *Claims) (string, error) {
	op, err := signer.SigningKey(ctx, keyName)
	if err != nil {
		return "", fmt.Errorf("token: signing key: %w", err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: op},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader(jose.HeaderKey("kid"), op.Public().KeyID))
	if err != nil {
		return "", fmt.Errorf("token: signer: %w", err)
	}
	tok, err := jwt.Signed(s).Claims(c).Serialize()
	if err != nil {
		return "", fmt.Errorf("token: sign: %w", err)
	}
	return tok, nil
}

// Verifier checks tokens against a key set. Its zero leeway is one minute.
type Verifier struct {
	Keys   jose.JSONWebKeySet
	Issuer string
	Now    func() time.Time
	Leeway time.Duration
}

// Verify checks a compact JWS status token addressed to audience and returns
// its claims. It checks, in order: size and nesting, the algorithm, the key
// id, the signature, the issuer, the audience, the times and the claims.
func (v *Verifier) Verify(tok, audience string) (*Claims, error) {
	if err := checkShape(tok, 3); err != nil {
		return nil, err
	}
	obj, err := jose.ParseSignedCompact(tok, SignatureAlgs)
	if err != nil {
		if strings.Contains(err.Error(), "unexpected signature algorithm") {
			return nil, ErrAlgorithm
		}
		return nil, fmt.Errorf("%w: not a compact JWS", ErrMalformed)
	}
	kid := obj.Signatures[0].Header.KeyID
	if kid == "" {
		return nil, ErrUnknownKey
	}
	ks := v.Keys.Key(kid)
	if len(ks) != 1 {
		return nil, ErrUnknownKey
	}
	payload, err := obj.Verify(ks[0].Key)
	if err != nil {
		return nil, ErrSignature
	}
	var c Claims
	if err := json.Unmarshal(payload, &c); err != nil {
		return nil, fmt.Errorf("%w: claims are not a JSON object of the expected shape", ErrClaims)
	}
	if err := v.check(&c, audience); err != nil {
		return nil, err
	}
	return &c, nil
}

func (v *Verifier) check(c *Claims, audience string) error {
	now := time.Now
	if v.Now != nil {
		now = v.Now
	}
	leeway := v.Leeway
	if leeway == 0 {
		leeway = time.Minute
	}
	err := c.Claims.ValidateWithLeeway(jwt.Expected{Issuer: v.Issuer, AnyAudience: jwt.Audience{audience}, Time: now()}, leeway)
	switch {
	case errors.Is(err, jwt.ErrInvalidIssuer):
		return ErrIssuer
	case errors.Is(err, jwt.ErrInvalidAudience):
		return ErrAudience
	case errors.Is(err, jwt.ErrExpired):
		return ErrExpired
	case errors.Is(err, jwt.ErrNotValidYet), errors.Is(err, jwt.ErrIssuedInTheFuture):
		return ErrNotYetValid
	case err != nil:
		return fmt.Errorf("%w: %v", ErrClaims, err)
	}
	if c.ID == "" || c.Subject == "" || c.Expiry == nil || c.NotBefore == nil || c.IssuedAt == nil || c.Status == "" || c.Purpose == "" {
		return fmt.Errorf("%w: jti, sub, iat, nbf, exp, status and purpose are required", ErrClaims)
	}
	return nil
}

// Encrypt seals a signed token to a recipient's P-256 key (JWE,
// ECDH-ES+A256KW, A256GCM, content type JWT).
func Encrypt(signed string, recipient *ecdsa.PublicKey, kid string) (string, error) {
	if recipient == nil || recipient.Curve != elliptic.P256() {
		return "", errors.New("token: the recipient's encryption key must be a P-256 public key")
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: recipient, KeyID: kid},
		(&jose.EncrypterOptions{}).WithContentType("JWT").WithType("JWT"))
	if err != nil {
		return "", fmt.Errorf("token: encrypter: %w", err)
	}
	obj, err := enc.Encrypt([]byte(signed))
	if err != nil {
		return "", fmt.Errorf("token: encrypt: %w", err)
	}
	return obj.CompactSerialize()
}

// Decrypt opens an encrypted token with the recipient's private key and
// returns the inner signed token, still to be verified. go-jose's jwt
// package refuses asymmetric JWE, so this uses jose.ParseEncrypted with the
// allow-list.
func Decrypt(tok string, key *ecdsa.PrivateKey) (string, error) {
	if err := checkShape(tok, 5); err != nil {
		return "", err
	}
	obj, err := jose.ParseEncrypted(tok, KeyAlgs, ContentAlgs)
	if err != nil {
		if strings.Contains(err.Error(), "unexpected key algorithm") || strings.Contains(err.Error(), "unexpected content encryption") {
			return "", ErrAlgorithm
		}
		return "", fmt.Errorf("%w: not a compact JWE", ErrMalformed)
	}
	inner, err := obj.Decrypt(key)
	if err != nil {
		return "", ErrDecrypt
	}
	return string(inner), nil
}

// IsEncrypted reports whether a compact token is a JWE (five parts).
func IsEncrypted(tok string) bool { return strings.Count(tok, ".") == 4 }

// checkShape refuses, before any parsing, a token that is too large, has the
// wrong number of parts, or whose header or payload nests JSON too deeply.
func checkShape(tok string, parts int) error {
	if len(tok) > MaxTokenBytes {
		return ErrTooLarge
	}
	segs := strings.Split(tok, ".")
	if len(segs) != parts {
		if len(segs) == 5 && parts == 3 {
			return ErrNotEncryptedHere
		}
		return fmt.Errorf("%w: expected %d dot-separated parts, found %d", ErrMalformed, parts, len(segs))
	}
	limit := 2 // a JWS's header and payload; a JWE's header only
	if parts == 5 {
		limit = 1
	}
	for _, seg := range segs[:limit] {
		raw, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			return fmt.Errorf("%w: a part is not base64url", ErrMalformed)
		}
		if depth(raw) > MaxDepth {
			return ErrTooLarge
		}
	}
	return nil
}

// ErrNotEncryptedHere is returned when an encrypted token is given where a
// signed one is expected: decrypt it first.
var ErrNotEncryptedHere = errors.New("token: this is an encrypted token (JWE); decrypt it with the recipient's key first")

// depth is the deepest nesting of JSON objects and arrays in b, outside strings.
func depth(b []byte) int {
	d, deepest, inString, escaped := 0, 0, false, false
	for _, c := range b {
		switch {
		case escaped:
			escaped = false
		case inString && c == '\\':
			escaped = true
		case c == '"':
			inString = !inString
		case inString:
		case c == '{' || c == '[':
			d++
			deepest = max(deepest, d)
		case c == '}' || c == ']':
			d--
		}
	}
	return deepest
}
