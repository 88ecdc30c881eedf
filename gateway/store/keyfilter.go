package store

import (
	"github.com/cespare/xxhash/v2"
	"github.com/greatroar/blobloom"
)

// keyFilter is a Bloom filter of byte strings: it may say a key is there
// that is not, never the reverse. It is a blocked filter, so that adding or
// testing a key touches one cache line rather than one per hash: a bulk
// load adds four keys a record and tests as many, into filters of several
// megabytes, and a classic filter's seven scattered probes a key cost
// about 2% of the load's CPU. Not safe for concurrent use.
type keyFilter struct{ f *blobloom.Filter }

// newKeyFilter sizes a filter for n keys at the false-positive rate fp.
func newKeyFilter(n uint64, fp float64) *keyFilter {
	return &keyFilter{f: blobloom.NewOptimized(blobloom.Config{Capacity: n, FPRate: fp})}
}

func (k *keyFilter) add(key []byte)            { k.f.Add(xxhash.Sum64(key)) }
func (k *keyFilter) addString(key string)      { k.f.Add(xxhash.Sum64String(key)) }
func (k *keyFilter) has(key []byte) bool       { return k.f.Has(xxhash.Sum64(key)) }
func (k *keyFilter) hasString(key string) bool { return k.f.Has(xxhash.Sum64String(key)) }
