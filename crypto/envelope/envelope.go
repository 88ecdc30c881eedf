// Package envelope seals a released record to its recipient agency with HPKE
// (RFC 9180, cloudflare/circl), so that only the holder of the agency's
// private key can read it: not the gateway's store, not a backup, not a
// relay. The default suite is the post-quantum hybrid X-Wing (X25519 with
// ML-KEM-768), since case files must stay confidential for decades.
//
// The gateway seals a release with it when the destination agency has an
// envelope key (config `envelope_key`).
package envelope

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/cloudflare/circl/hpke"
	"github.com/cloudflare/circl/kem"
)

// Suite names an allowed HPKE suite. Only the suites below are accepted.
type Suite string

const (
	// XWing is X-Wing (X25519 + ML-KEM-768), HKDF-SHA256, AES-256-GCM: the
	// default, safe against a future quantum computer.
	XWing Suite = "xwing-hkdfsha256-aes256gcm"
	// X25519 is DHKEM(X25519), HKDF-SHA256, AES-256-GCM: classical only.
	X25519 Suite = "x25519-hkdfsha256-aes256gcm"
)

var suites = map[Suite]hpke.Suite{
	XWing:  hpke.NewSuite(hpke.KEM_XWING, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES256GCM),
	X25519: hpke.NewSuite(hpke.KEM_X25519_HKDF_SHA256, hpke.KDF_HKDF_SHA256, hpke.AEAD_AES256GCM),
}

var kems = map[Suite]hpke.KEM{XWing: hpke.KEM_XWING, X25519: hpke.KEM_X25519_HKDF_SHA256}

// Errors. Each names what is wrong and never the content.
var (
	ErrMalformed = errors.New("envelope: malformed")
	ErrSuite     = errors.New("envelope: suite not allowed")
	ErrRecipient = errors.New("envelope: sealed to another recipient or key")
	ErrTampered  = errors.New("envelope: does not open (tampered, or other associated data)")
)

// MaxSize bounds an envelope a parser accepts.
const MaxSize = 16 << 20

// PublicKey is a recipient's envelope key, as an agency publishes it.
type PublicKey struct {
	Suite Suite
	ID    string // the key id: a hash of the suite and key bytes
	key   kem.PublicKey
}

// PrivateKey opens envelopes sealed to its public key.
type PrivateKey struct {
	Public PublicKey
	key    kem.PrivateKey
}

// GenerateKey makes a new key pair for the suite.
func GenerateKey(s Suite) (*PrivateKey, error) {
	k, ok := kems[s]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrSuite, s)
	}
	pub, priv, err := k.Scheme().GenerateKeyPair()
	if err != nil {
		return nil, fmt.Errorf("envelope: generate key: %w", err)
	}
	pk, err := newPublic(s, pub)
	if err != nil {
		return nil, err
	}
	return &PrivateKey{Public: *pk, key: priv}, nil
}

func newPublic(s Suite, pub kem.PublicKey) (*PublicKey, error) {
	b, err := pub.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	sum := sha256.Sum256(append([]byte(string(s)+"\x00"), b...))
	return &PublicKey{Suite: s, ID: base64.RawURLEncoding.EncodeToString(sum[:16]), key: pub}, nil
}

// publicJSON is a public key as published.
type publicJSON struct {
	Suite Suite  `json:"suite"`
	ID    string `json:"kid"`
	Key   []byte `json:"key"`
}

// MarshalJSON writes the public key as an agency publishes it.
func (p *PublicKey) MarshalJSON() ([]byte, error) {
	b, err := p.key.MarshalBinary()
	if err != nil {
		return nil, err
	}
	return json.Marshal(publicJSON{Suite: p.Suite, ID: p.ID, Key: b})
}

// ParsePublicKey reads a published key and checks its id.
func ParsePublicKey(b []byte) (*PublicKey, error) {
	var j publicJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return nil, fmt.Errorf("%w: public key is not a key object", ErrMalformed)
	}
	k, ok := kems[j.Suite]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrSuite, j.Suite)
	}
	pub, err := k.Scheme().UnmarshalBinaryPublicKey(j.Key)
	if err != nil {
		return nil, fmt.Errorf("%w: public key bytes", ErrMalformed)
	}
	pk, err := newPublic(j.Suite, pub)
	if err != nil {
		return nil, err
	}
	if pk.ID != j.ID {
		return nil, fmt.Errorf("%w: the key id does not match the key", ErrMalformed)
	}
	return pk, nil
}

// MarshalPrivate returns the private key's bytes, for the recipient to store
// encrypted.
func (k *PrivateKey) MarshalPrivate() ([]byte, error) { return k.key.MarshalBinary() }

// ParsePrivateKey reads a private key of the suite.
func ParsePrivateKey(s Suite, b []byte) (*PrivateKey, error) {
	k, ok := kems[s]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrSuite, s)
	}
	priv, err := k.Scheme().UnmarshalBinaryPrivateKey(b)
	if err != nil {
		return nil, fmt.Errorf("%w: private key bytes", ErrMalformed)
	}
	pk, err := newPublic(s, priv.Public())
	if err != nil {
		return nil, err
	}
	return &PrivateKey{Public: *pk, key: priv}, nil
}

// Envelope is a sealed record.
type Envelope struct {
	Version    int    `json:"v"`
	Suite      Suite  `json:"suite"`
	Recipient  string `json:"recipient"` // the agency it is sealed to
	KeyID      string `json:"kid"`
	Enc        []byte `json:"enc"` // the encapsulated key
	Ciphertext []byte `json:"ct"`
}

// info binds the HPKE context to the format, the recipient agency and key.
func info(recipient, kid string, s Suite) []byte {
	return []byte("tumar envelope v1\x00" + string(s) + "\x00" + recipient + "\x00" + kid)
}

// Seal seals plaintext to the recipient agency's key. aad (an exchange id,
// say) is authenticated but not encrypted, and must be given again to open.
func Seal(to *PublicKey, recipient string, plaintext, aad []byte) ([]byte, error) {
	suite, ok := suites[to.Suite]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrSuite, to.Suite)
	}
	sender, err := suite.NewSender(to.key, info(recipient, to.ID, to.Suite))
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	enc, sealer, err := sender.Setup(rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	ct, err := sealer.Seal(plaintext, aad)
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	return json.Marshal(&Envelope{Version: 1, Suite: to.Suite, Recipient: recipient, KeyID: to.ID, Enc: enc, Ciphertext: ct})
}

// Parse reads an envelope and checks its shape and suite, without opening
// it.
func Parse(b []byte) (*Envelope, error) {
	if len(b) > MaxSize {
		return nil, fmt.Errorf("%w: larger than %d bytes", ErrMalformed, MaxSize)
	}
	var e Envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return nil, fmt.Errorf("%w: not an envelope object", ErrMalformed)
	}
	if e.Version != 1 {
		return nil, fmt.Errorf("%w: version %d", ErrMalformed, e.Version)
	}
	k, ok := kems[e.Suite]
	if !ok {
		return nil, fmt.Errorf("%w: %q", ErrSuite, e.Suite)
	}
	if len(e.Enc) != k.Scheme().CiphertextSize() {
		return nil, fmt.Errorf("%w: the encapsulated key is %d bytes, not %d", ErrMalformed, len(e.Enc), k.Scheme().CiphertextSize())
	}
	if e.Recipient == "" || e.KeyID == "" || len(e.Ciphertext) < 16 {
		return nil, fmt.Errorf("%w: recipient, key id or ciphertext missing", ErrMalformed)
	}
	return &e, nil
}

// Open opens an envelope sealed to this key for the recipient agency.
func Open(k *PrivateKey, recipient string, b, aad []byte) ([]byte, error) {
	e, err := Parse(b)
	if err != nil {
		return nil, err
	}
	if e.Suite != k.Public.Suite || e.KeyID != k.Public.ID || e.Recipient != recipient {
		return nil, ErrRecipient
	}
	receiver, err := suites[e.Suite].NewReceiver(k.key, info(recipient, k.Public.ID, e.Suite))
	if err != nil {
		return nil, fmt.Errorf("envelope: %w", err)
	}
	opener, err := receiver.Setup(e.Enc)
	if err != nil {
		return nil, ErrTampered
	}
	pt, err := opener.Open(e.Ciphertext, aad)
	if err != nil {
		return nil, ErrTampered
	}
	return pt, nil
}
