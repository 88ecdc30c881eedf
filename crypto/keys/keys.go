// Package keys holds every secret key Tumar uses, behind small interfaces, so
// that no other package touches key material.
//
// Pseudonyms are HMAC-SHA256 under a key that belongs to one pseudonym domain
// (one per recipient agency, plus the gateway's internal domain) and one epoch
// (key version). The domain and epoch are written into every pseudonym, so a
// rotation never silently breaks links: a pseudonym made under epoch 1 can
// still be recomputed and compared while epoch 1 is kept.
//
// Backends: Memory (tests), File (an encrypted keyring file, the embedded
// default); a Vault backend plugs into the same interfaces.
package keys

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/go-jose/go-jose/v4"
)

var (
	// ErrUnknownDomain means the backend has no key for the pseudonym domain.
	ErrUnknownDomain = errors.New("keys: unknown pseudonym domain")
	// ErrUnknownEpoch means the domain has no key of that version (never made, or retired).
	ErrUnknownEpoch = errors.New("keys: unknown key epoch")
	// ErrUnavailable means the key store cannot be reached or used now; callers must not
	// fall back to anything weaker.
	ErrUnavailable = errors.New("keys: key store unavailable")
	// ErrBadPassphrase means an encrypted keyring could not be opened.
	ErrBadPassphrase = errors.New("keys: wrong passphrase or damaged keyring")
	// ErrMalformed means a pseudonym string is not in Tumar's format.
	ErrMalformed = errors.New("keys: malformed pseudonym")
	// ErrUnknownKey means the backend has no signing key of that name.
	ErrUnknownKey = errors.New("keys: unknown signing key")
)

// Pseudonymizer computes keyed, domain-separated pseudonyms.
//
// Inputs are opaque bytes (normalised match keys); outputs come in the same
// order. Pseudonymize uses the domain's current epoch; PseudonymizeAt a given
// one, to compare with pseudonyms made before a rotation. Both are
// deterministic: the same domain, epoch and input always give the same
// pseudonym. A domain without a key is ErrUnknownDomain; nothing is created on
// the fly.
type Pseudonymizer interface {
	Pseudonymize(ctx context.Context, domain string, inputs [][]byte) ([]Pseudonym, error)
	PseudonymizeAt(ctx context.Context, domain string, epoch uint32, inputs [][]byte) ([]Pseudonym, error)
	// Domains lists the domains that have keys, with their current epochs.
	Domains(ctx context.Context) (map[string]uint32, error)
}

// Rotator is a backend that can start a new epoch for a domain.
type Rotator interface {
	// Rotate makes a new key for the domain and makes it current; it returns
	// the new epoch. Older epochs stay usable by PseudonymizeAt.
	Rotate(ctx context.Context, domain string) (uint32, error)
}

// Signer holds named Ed25519 signing keys: the status-token issuer key, the
// audit checkpoint key. The private key never leaves the backend: callers get
// a go-jose OpaqueSigner bound to the key's current version, whose JWK key id
// is "<name>-v<version>". PublicKeys returns every version still allowed, for
// a JWKS. An unknown name is ErrUnknownKey.
type Signer interface {
	SigningKey(ctx context.Context, name string) (jose.OpaqueSigner, error)
	PublicKeys(ctx context.Context, name string) ([]jose.JSONWebKey, error)
}

// Sealer encrypts data the gateway must keep but must not be able to read
// casually (quarantined source rows hold identities): AEAD under a named key
// that never leaves the backend. aad binds the ciphertext to its context; the
// same aad must be given to Open.
type Sealer interface {
	Seal(ctx context.Context, name string, plaintext, aad []byte) ([]byte, error)
	Open(ctx context.Context, name string, sealed, aad []byte) ([]byte, error)
}

// SealingKeyQuarantine seals quarantined source records.
const SealingKeyQuarantine = "quarantine"

// SealingKeyNames are the sealing keys every backend is set up with.
var SealingKeyNames = []string{SealingKeyQuarantine}

// ErrSealed means sealed data could not be opened: wrong key, wrong context,
// or tampered.
var ErrSealed = errors.New("keys: sealed data cannot be opened")

// SigningRotator is a backend that can make a new version of a signing key current.
type SigningRotator interface {
	RotateSigningKey(ctx context.Context, name string) (uint32, error)
}

// Signing key names Tumar uses.
const (
	SigningKeyTokens = "tokens" // victim-status tokens
	SigningKeyAudit  = "audit"  // audit checkpoints
)

// SigningKeyNames are the signing keys every backend is set up with.
var SigningKeyNames = []string{SigningKeyTokens, SigningKeyAudit}

// KeyID is the JWK key id of a signing key's version.
func KeyID(name string, version uint32) string {
	return name + "-v" + strconv.FormatUint(uint64(version), 10)
}

// Pseudonym is one keyed pseudonym: HMAC-SHA256 under a domain's epoch key.
type Pseudonym struct {
	Domain string
	Epoch  uint32
	MAC    [32]byte
}

// String renders "<domain>:v<epoch>:<base64url MAC>", the form pseudonyms take
// wherever they leave the gateway.
func (p Pseudonym) String() string {
	var buf [128]byte // a domain of at most 63 bytes, the epoch and 43 of base64url: on the stack
	return string(p.Append(buf[:0]))
}

// Append appends the string form of the pseudonym. Its characters are
// those of a domain (ValidDomain), digits, 'v', ':' and base64url's: none
// needs escaping in JSON.
func (p Pseudonym) Append(b []byte) []byte {
	b = append(b, p.Domain...)
	b = append(b, ":v"...)
	b = strconv.AppendUint(b, uint64(p.Epoch), 10)
	b = append(b, ':')
	return base64.RawURLEncoding.AppendEncode(b, p.MAC[:])
}

func (p Pseudonym) MarshalText() ([]byte, error) { return []byte(p.String()), nil }

// ParsePseudonym reads the string form of a pseudonym.
func ParsePseudonym(s string) (Pseudonym, error) {
	domain, rest, ok := strings.Cut(s, ":")
	version, mac64, ok2 := strings.Cut(rest, ":")
	if !ok || !ok2 || strings.Contains(mac64, ":") || !ValidDomain(domain) || !strings.HasPrefix(version, "v") {
		return Pseudonym{}, ErrMalformed
	}
	epoch, err := strconv.ParseUint(version[1:], 10, 32)
	if err != nil || epoch == 0 {
		return Pseudonym{}, ErrMalformed
	}
	mac, err := base64.RawURLEncoding.DecodeString(mac64)
	if err != nil || len(mac) != 32 {
		return Pseudonym{}, ErrMalformed
	}
	p := Pseudonym{Domain: domain, Epoch: uint32(epoch)}
	copy(p.MAC[:], mac)
	return p, nil
}

// ValidDomain reports whether a name may be a pseudonym domain: 1 to 63
// characters of lower-case letters, digits, '-' and '.', starting with a letter.
func ValidDomain(d string) bool {
	if len(d) == 0 || len(d) > 63 || d[0] < 'a' || d[0] > 'z' {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '-' && c != '.' {
			return false
		}
	}
	return true
}

func domainError(domain string) error {
	if ValidDomain(domain) {
		return fmt.Errorf("%w: %s", ErrUnknownDomain, domain)
	}
	return ErrUnknownDomain
}
