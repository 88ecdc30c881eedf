package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"maps"
	"sort"
	"time"

	"github.com/go-jose/go-jose/v4"
)

// signingKeys are the versions of one named Ed25519 key held in memory.
type signingKeys struct {
	current  uint32
	versions map[uint32]*signingVersion
}

type signingVersion struct {
	key     ed25519.PrivateKey
	created time.Time
}

// localSigner signs with an Ed25519 key held in this process.
type localSigner struct {
	kid string
	key ed25519.PrivateKey
}

var _ jose.OpaqueSigner = localSigner{}

func (s localSigner) Public() *jose.JSONWebKey {
	return &jose.JSONWebKey{Key: s.key.Public(), KeyID: s.kid, Algorithm: string(jose.EdDSA), Use: "sig"}
}

func (s localSigner) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.EdDSA} }

func (s localSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.EdDSA {
		return nil, fmt.Errorf("keys: signing key %s signs EdDSA only, not %s", s.kid, alg)
	}
	return ed25519.Sign(s.key, payload), nil
}

// SigningKey implements Signer.
func (m *Memory) SigningKey(ctx context.Context, name string) (jose.OpaqueSigner, error) {
	sk, ok := m.state.Load().signing[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, name)
	}
	return localSigner{kid: KeyID(name, sk.current), key: sk.versions[sk.current].key}, nil
}

// PublicKeys implements Signer.
func (m *Memory) PublicKeys(ctx context.Context, name string) ([]jose.JSONWebKey, error) {
	sk, ok := m.state.Load().signing[name]
	if !ok {
		return nil, fmt.Errorf("%w: %s", ErrUnknownKey, name)
	}
	vs := make([]uint32, 0, len(sk.versions))
	for v := range sk.versions {
		vs = append(vs, v)
	}
	sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
	out := make([]jose.JSONWebKey, len(vs))
	for i, v := range vs {
		out[i] = jose.JSONWebKey{Key: sk.versions[v].key.Public(), KeyID: KeyID(name, v), Algorithm: string(jose.EdDSA), Use: "sig"}
	}
	return out, nil
}

// RotateSigningKey makes a new version of a named signing key current,
// creating the key if it does not exist; it returns the new version.
func (m *Memory) RotateSigningKey(ctx context.Context, name string) (uint32, error) {
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return 0, fmt.Errorf("%w: no randomness: %w", ErrUnavailable, err)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.state.Load()
	next := &signingKeys{current: 1, versions: map[uint32]*signingVersion{}}
	if sk, ok := old.signing[name]; ok {
		next.current, next.versions = sk.current+1, maps.Clone(sk.versions)
	}
	next.versions[next.current] = &signingVersion{key: priv, created: time.Now().UTC()}
	r := &ring{domains: old.domains, signing: maps.Clone(old.signing), sealing: old.sealing}
	if r.signing == nil {
		r.signing = map[string]*signingKeys{}
	}
	r.signing[name] = next
	m.state.Store(r)
	return next.current, nil
}
