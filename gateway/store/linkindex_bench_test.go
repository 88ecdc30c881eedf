package store

import (
	"crypto/rand"
	"testing"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tumarproject/tumar/crypto/keys"
)

// BenchmarkLinkIndexWrite moves batches of links, as the background mover
// does, into an index that grows to a bulk load's size: ns/op is per link.
func BenchmarkLinkIndexWrite(b *testing.B) {
	x, err := openLinkIndex(b.TempDir(), vfs.Default)
	if err != nil {
		b.Fatal(err)
	}
	defer x.close()
	internal := func() string {
		p := keys.Pseudonym{Domain: internalDomain, Epoch: 1}
		rand.Read(p.MAC[:])
		return p.String()
	}
	const batch = 15_000 // about a mover's pass at (d)'s pace: 5,000 records of 3 keys
	links := make([]link, batch)
	b.ResetTimer()
	for done := 0; done < b.N; done += len(links) {
		b.StopTimer()
		links = links[:min(batch, b.N-done)] // b.N links in all
		for i := range links {
			links[i] = link{key: internal(), person: internal()}
		}
		b.StartTimer()
		if err := x.write(links, indexMark{seq: int64(done), row: make([]byte, 32)}); err != nil {
			b.Fatal(err)
		}
	}
}
