package keys

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"fmt"
	"hash"
	"maps"
	"sync"
	"sync/atomic"
	"time"
)

// KeySize is the size of a pseudonym key in bytes.
const KeySize = 32

// Memory is a keyring held in memory. It is the core of the file backend and
// the fake for tests. Reads take no lock: the keyring is an immutable snapshot
// swapped atomically on rotation.
type Memory struct {
	mu    sync.Mutex // serialises writers
	state atomic.Pointer[ring]
}

var (
	_ Pseudonymizer = (*Memory)(nil)
	_ Rotator       = (*Memory)(nil)
	_ Signer        = (*Memory)(nil)
	_ Sealer        = (*Memory)(nil)
)

// ring is one immutable state of the keyring.
type ring struct {
	domains map[string]*domainKeys
	signing map[string]*signingKeys
	sealing map[string][]byte // AES-256 keys by name
}

type domainKeys struct {
	current uint32
	epochs  map[uint32]*epochKey
}

type epochKey struct {
	key     []byte
	created time.Time
	macs    sync.Pool // of hash.Hash keyed with key; HMAC state reused per call
}

func newEpochKey(key []byte, created time.Time) *epochKey {
	k := &epochKey{key: key, created: created}
	k.macs.New = func() any { return hmac.New(sha256.New, k.key) }
	return k
}

// NewMemory returns a keyring with a fresh random key (epoch 1) for each
// domain, and version 1 of each of the SigningKeyNames.
func NewMemory(domains ...string) (*Memory, error) {
	m := &Memory{}
	r := &ring{domains: map[string]*domainKeys{}, signing: map[string]*signingKeys{}, sealing: map[string][]byte{}}
	for _, name := range SealingKeyNames {
		k, err := randomKey()
		if err != nil {
			return nil, err
		}
		r.sealing[name] = k
	}
	for _, d := range domains {
		if !ValidDomain(d) {
			return nil, fmt.Errorf("keys: invalid pseudonym domain name %q", d)
		}
		key, err := randomKey()
		if err != nil {
			return nil, err
		}
		r.domains[d] = &domainKeys{current: 1, epochs: map[uint32]*epochKey{1: newEpochKey(key, time.Now().UTC())}}
	}
	m.state.Store(r)
	for _, name := range SigningKeyNames {
		if _, err := m.RotateSigningKey(context.Background(), name); err != nil {
			return nil, err
		}
	}
	return m, nil
}

func randomKey() ([]byte, error) {
	key := make([]byte, KeySize)
	if _, err := rand.Read(key); err != nil {
		return nil, fmt.Errorf("%w: no randomness: %w", ErrUnavailable, err)
	}
	return key, nil
}

// Pseudonymize implements Pseudonymizer with the domain's current epoch.
func (m *Memory) Pseudonymize(ctx context.Context, domain string, inputs [][]byte) ([]Pseudonym, error) {
	d, ok := m.state.Load().domains[domain]
	if !ok {
		return nil, domainError(domain)
	}
	return d.epochs[d.current].mac(domain, d.current, inputs), nil
}

// PseudonymizeAt implements Pseudonymizer with a given epoch.
func (m *Memory) PseudonymizeAt(ctx context.Context, domain string, epoch uint32, inputs [][]byte) ([]Pseudonym, error) {
	d, ok := m.state.Load().domains[domain]
	if !ok {
		return nil, domainError(domain)
	}
	k, ok := d.epochs[epoch]
	if !ok {
		return nil, fmt.Errorf("%w: %d", ErrUnknownEpoch, epoch)
	}
	return k.mac(domain, epoch, inputs), nil
}

func (k *epochKey) mac(domain string, epoch uint32, inputs [][]byte) []Pseudonym {
	h := k.macs.Get().(hash.Hash)
	out := make([]Pseudonym, len(inputs))
	for i, in := range inputs {
		h.Reset()
		h.Write(in)
		out[i].Domain, out[i].Epoch = domain, epoch
		h.Sum(out[i].MAC[:0])
	}
	k.macs.Put(h)
	return out
}

// Domains implements Pseudonymizer.
func (m *Memory) Domains(ctx context.Context) (map[string]uint32, error) {
	r := m.state.Load()
	out := make(map[string]uint32, len(r.domains))
	for name, d := range r.domains {
		out[name] = d.current
	}
	return out, nil
}

// Rotate implements Rotator.
func (m *Memory) Rotate(ctx context.Context, domain string) (uint32, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.state.Load()
	d, ok := old.domains[domain]
	if !ok {
		return 0, domainError(domain)
	}
	key, err := randomKey()
	if err != nil {
		return 0, err
	}
	next := &domainKeys{current: d.current + 1, epochs: maps.Clone(d.epochs)}
	next.epochs[next.current] = newEpochKey(key, time.Now().UTC())
	r := &ring{domains: maps.Clone(old.domains), signing: old.signing, sealing: old.sealing}
	r.domains[domain] = next
	m.state.Store(r)
	return next.current, nil
}

// AddDomain creates epoch 1 of a new domain. Adding a domain that exists is an
// error, so a typo cannot replace a key.
func (m *Memory) AddDomain(ctx context.Context, domain string) error {
	if !ValidDomain(domain) {
		return fmt.Errorf("keys: invalid pseudonym domain name %q", domain)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	old := m.state.Load()
	if _, ok := old.domains[domain]; ok {
		return fmt.Errorf("keys: domain %s already has keys", domain)
	}
	key, err := randomKey()
	if err != nil {
		return err
	}
	r := &ring{domains: maps.Clone(old.domains), signing: old.signing, sealing: old.sealing}
	r.domains[domain] = &domainKeys{current: 1, epochs: map[uint32]*epochKey{1: newEpochKey(key, time.Now().UTC())}}
	m.state.Store(r)
	return nil
}
