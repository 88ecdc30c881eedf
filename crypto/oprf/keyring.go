package oprf

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/tumarproject/tumar/crypto/keys"
)

// DefaultKeyTTL is how long a derived OPRF key is kept in memory before it
// is derived again from the key store. With Vault down, blind evaluations
// stop within this time, as keyed pseudonyms stop at once.
const DefaultKeyTTL = 30 * time.Second

// Keyring derives OPRF keys from the keyed-pseudonym keys of crypto/keys:
// the seed of a domain's epoch is the keyed pseudonym of SeedInput in that
// domain and epoch. It is safe for concurrent use.
type Keyring struct {
	src keys.Pseudonymizer
	ttl time.Duration
	now func() time.Time

	mu    sync.Mutex
	cache map[keyID]cached
}

type keyID struct {
	domain string
	epoch  uint32
}

type cached struct {
	key *Key
	at  time.Time
}

// NewKeyring derives keys from src, keeping each for ttl (DefaultKeyTTL if 0).
func NewKeyring(src keys.Pseudonymizer, ttl time.Duration) *Keyring {
	if ttl <= 0 {
		ttl = DefaultKeyTTL
	}
	return &Keyring{src: src, ttl: ttl, now: time.Now, cache: make(map[keyID]cached)}
}

// Key returns a domain's OPRF key at an epoch; epoch 0 means the domain's
// current one. An unknown domain or epoch is keys.ErrUnknownDomain or
// keys.ErrUnknownEpoch; a key store that cannot answer, keys.ErrUnavailable.
func (r *Keyring) Key(ctx context.Context, domain string, epoch uint32) (*Key, error) {
	if epoch == 0 {
		doms, err := r.src.Domains(ctx)
		if err != nil {
			return nil, err
		}
		cur, ok := doms[domain]
		if !ok {
			return nil, fmt.Errorf("%w: %s", keys.ErrUnknownDomain, domain)
		}
		epoch = cur
	}
	id := keyID{domain, epoch}
	now := r.now()
	r.mu.Lock()
	c, ok := r.cache[id]
	r.mu.Unlock()
	if ok && now.Sub(c.at) < r.ttl {
		return c.key, nil
	}
	seeds, err := r.src.PseudonymizeAt(ctx, domain, epoch, [][]byte{seedLabel})
	if err != nil {
		return nil, err
	}
	k, err := DeriveKey(seeds[0].MAC[:], domain, epoch)
	if err != nil {
		return nil, err
	}
	r.mu.Lock()
	r.cache[id] = cached{key: k, at: now}
	r.mu.Unlock()
	return k, nil
}
