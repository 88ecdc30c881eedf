// Package consular carries cases from consulates abroad, over poor links or
// none: a consulate packs canonical records into an offline bundle, signed
// with its own key and encrypted to the gateway; the gateway imports it once,
// checking signature, trust, freshness, sequence and every record's hash.
package consular

import (
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/google/uuid"

	"github.com/tumarproject/tumar/gateway/htcds"
)

// Line is one case in a bundle: a canonical record and where it goes.
type Line struct {
	SourceRecordID string          `json:"source_record_id"`
	Destination    string          `json:"destination"`
	Purpose        string          `json:"purpose"`
	LegalBasis     string          `json:"legal_basis"`
	Record         json.RawMessage `json:"record"`
}

// Manifest describes a bundle; its hashes cover every line.
type Manifest struct {
	BundleID  string    `json:"bundle_id"`
	Consulate string    `json:"consulate"` // the agency id of the consulate
	Sequence  uint64    `json:"sequence"`
	Created   time.Time `json:"created"`
	Count     int       `json:"count"`
	Hashes    []string  `json:"hashes"` // SHA-256 of each line's JSON, in order
}

type content struct {
	Manifest Manifest          `json:"manifest"`
	Lines    []json.RawMessage `json:"lines"`
}

// Errors of bundle checking, each with its own reason.
var (
	ErrMalformed  = errors.New("consular: bundle is malformed or truncated")
	ErrDecrypt    = errors.New("consular: bundle is not encrypted to this gateway's key")
	ErrUntrusted  = errors.New("consular: bundle is signed by a key not on the trust list")
	ErrSignature  = errors.New("consular: bundle signature does not verify")
	ErrRevoked    = errors.New("consular: bundle was signed after its key was revoked or outside its validity")
	ErrStale      = errors.New("consular: bundle is too old or dated in the future")
	ErrManifest   = errors.New("consular: bundle's manifest does not match its records")
	ErrWrongAgent = errors.New("consular: bundle comes from another consulate than its manifest names")
)

// Limits on what is opened at all.
const (
	MaxBundleBytes = 64 << 20
	MaxLines       = 100000
)

// Pack builds a bundle with no network: the lines are validated as HTCDS,
// hashed into a manifest, signed with the consulate's Ed25519 key (JWS,
// kid) and encrypted to the gateway's P-256 key (JWE ECDH-ES+A256KW,
// A256GCM).
func Pack(lines []Line, consulate, kid string, seq uint64, signer ed25519.PrivateKey, gateway *ecdsa.PublicKey, now time.Time) ([]byte, *Manifest, error) {
	if len(lines) == 0 || len(lines) > MaxLines {
		return nil, nil, fmt.Errorf("consular: a bundle holds 1 to %d records, not %d", MaxLines, len(lines))
	}
	c := content{Manifest: Manifest{BundleID: uuid.Must(uuid.NewV7()).String(), Consulate: consulate, Sequence: seq,
		Created: now.UTC().Truncate(time.Second), Count: len(lines)}}
	for i, l := range lines {
		var rec htcds.Record
		if err := rec.UnmarshalJSON(l.Record); err != nil {
			return nil, nil, fmt.Errorf("consular: record %d: %w", i+1, err)
		}
		raw, err := json.Marshal(l)
		if err != nil {
			return nil, nil, err
		}
		c.Lines = append(c.Lines, raw)
		c.Manifest.Hashes = append(c.Manifest.Hashes, hash(raw))
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return nil, nil, err
	}
	sig, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: signer}, (&jose.SignerOptions{}).WithHeader("kid", kid).WithContentType("tumar-bundle+json"))
	if err != nil {
		return nil, nil, err
	}
	jws, err := sig.Sign(payload)
	if err != nil {
		return nil, nil, err
	}
	signed, err := jws.CompactSerialize()
	if err != nil {
		return nil, nil, err
	}
	enc, err := jose.NewEncrypter(jose.A256GCM, jose.Recipient{Algorithm: jose.ECDH_ES_A256KW, Key: gateway},
		(&jose.EncrypterOptions{}).WithContentType("JWT"))
	if err != nil {
		return nil, nil, err
	}
	jwe, err := enc.Encrypt([]byte(signed))
	if err != nil {
		return nil, nil, err
	}
	out, err := jwe.CompactSerialize()
	return []byte(out), &c.Manifest, err
}

func hash(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TrustedKey is a consulate's signing key on the gateway's trust list.
type TrustedKey struct {
	Consulate string // agency id
	KeyID     string
	Key       ed25519.PublicKey
	NotBefore time.Time
	NotAfter  time.Time
	RevokedAt time.Time // zero when not revoked
}

// Opened is a bundle that passed every check.
type Opened struct {
	Manifest Manifest
	Lines    []Line
	Digest   string // SHA-256 of the bundle as received
}

// Checker opens bundles for one gateway.
type Checker struct {
	Key    *ecdsa.PrivateKey // the gateway's bundle decryption key
	Trust  []TrustedKey
	MaxAge time.Duration // default 180 days
	Now    func() time.Time
}

// Open decrypts and checks a bundle sent by the agency from. A bad bundle is
// refused whole, with the reason.
func (c *Checker) Open(bundle []byte, from string) (*Opened, error) {
	if len(bundle) > MaxBundleBytes || strings.Count(string(bundle), ".") != 4 {
		return nil, ErrMalformed
	}
	jwe, err := jose.ParseEncrypted(string(bundle), []jose.KeyAlgorithm{jose.ECDH_ES_A256KW}, []jose.ContentEncryption{jose.A256GCM})
	if err != nil {
		return nil, ErrMalformed
	}
	signed, err := jwe.Decrypt(c.Key)
	if err != nil {
		return nil, ErrDecrypt
	}
	jws, err := jose.ParseSignedCompact(string(signed), []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return nil, ErrMalformed
	}
	kid := jws.Signatures[0].Header.KeyID
	tk := c.trusted(from, kid)
	if tk == nil {
		return nil, fmt.Errorf("%w (consulate %s, key %q)", ErrUntrusted, from, kid)
	}
	payload, err := jws.Verify(tk.Key)
	if err != nil {
		return nil, ErrSignature
	}
	var ct content
	if err := json.Unmarshal(payload, &ct); err != nil {
		return nil, ErrMalformed
	}
	if err := c.checkManifest(&ct, tk, from); err != nil {
		return nil, err
	}
	out := &Opened{Manifest: ct.Manifest, Digest: hash(bundle), Lines: make([]Line, len(ct.Lines))}
	for i, raw := range ct.Lines {
		if err := json.Unmarshal(raw, &out.Lines[i]); err != nil {
			return nil, fmt.Errorf("%w: record %d", ErrMalformed, i+1)
		}
	}
	return out, nil
}

func (c *Checker) trusted(consulate, kid string) *TrustedKey {
	for i := range c.Trust {
		if c.Trust[i].Consulate == consulate && c.Trust[i].KeyID == kid {
			return &c.Trust[i]
		}
	}
	return nil
}

func (c *Checker) checkManifest(ct *content, tk *TrustedKey, from string) error {
	m := &ct.Manifest
	if m.Consulate != from {
		return ErrWrongAgent
	}
	now := time.Now
	if c.Now != nil {
		now = c.Now
	}
	maxAge := c.MaxAge
	if maxAge == 0 {
		maxAge = 180 * 24 * time.Hour
	}
	if m.Created.After(now().Add(5*time.Minute)) || m.Created.Before(now().Add(-maxAge)) {
		return ErrStale
	}
	if m.Created.Before(tk.NotBefore) || (!tk.NotAfter.IsZero() && m.Created.After(tk.NotAfter)) ||
		(!tk.RevokedAt.IsZero() && !m.Created.Before(tk.RevokedAt)) {
		return ErrRevoked
	}
	if m.Count != len(ct.Lines) || len(m.Hashes) != len(ct.Lines) || m.BundleID == "" {
		return fmt.Errorf("%w: %d records, %d hashes, count %d", ErrManifest, len(ct.Lines), len(m.Hashes), m.Count)
	}
	for i, raw := range ct.Lines {
		if hash(raw) != m.Hashes[i] {
			return fmt.Errorf("%w: record %d", ErrManifest, i+1)
		}
	}
	return nil
}
