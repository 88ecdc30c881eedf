package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/config"
)

// internalKey is a pseudonym of the internal domain, as the gateway makes
// the match keys and persons the index holds.
func internalKey(epoch uint32, seed string) string {
	return keys.Pseudonym{Domain: config.InternalDomain, Epoch: epoch, MAC: sha256.Sum256([]byte(seed))}.String()
}

func TestPackLinkPacksInternalPseudonyms(t *testing.T) {
	if internalDomain != config.InternalDomain {
		t.Fatalf("the store packs %q, the gateway's internal domain is %q", internalDomain, config.InternalDomain)
	}
	for _, epoch := range []uint32{1, 127, 128, 1<<32 - 1} {
		s := internalKey(epoch, "a person")
		p := packLink(nil, s)
		if p[0] != packedInternal || len(p) > 1+5+macLen {
			t.Fatalf("epoch %d: %d bytes, tag %d; want the packed form", epoch, len(p), p[0])
		}
		if got, err := unpackLink(p); err != nil || got != s {
			t.Fatalf("epoch %d: unpacked %q, %v; want %q", epoch, got, err, s)
		}
	}
	if p := packLink(nil, internalKey(1, "x")); len(p) != 34 {
		t.Fatalf("a pseudonym of epoch 1 packs into %d bytes, want 34", len(p))
	}
	mac := internalKey(1, "x")[len(config.InternalDomain)+4:]
	// Everything else is kept as it is: other domains, a leading zero, a
	// MAC that is not canonical base64url, other lengths, plain strings.
	for _, s := range []string{
		"k:1", "", "errp:v1:" + mac, config.InternalDomain + ":v01:" + mac, config.InternalDomain + ":v0:" + mac,
		config.InternalDomain + ":v1:" + mac[:42] + "B", config.InternalDomain + ":v1:" + mac + "A", config.InternalDomain + ":v4294967296:" + mac,
		config.InternalDomain + ":v1:" + mac[:42] + "+",
	} {
		p := packLink(nil, s)
		if p[0] != packedRaw {
			t.Errorf("%q was packed; want it kept as it is", s)
		}
		if got, err := unpackLink(p); err != nil || got != s {
			t.Errorf("%q unpacked as %q, %v", s, got, err)
		}
	}
	for _, bad := range [][]byte{nil, {7}, {packedInternal, 1}, {packedInternal, 0, 1, 2}, append([]byte{packedInternal, 1}, make([]byte, 33)...)} {
		if _, err := unpackLink(bad); err == nil {
			t.Errorf("% x unpacked", bad)
		}
	}
}

func FuzzPackLink(f *testing.F) {
	f.Add(internalKey(1, "seed"))
	f.Add(internalKey(70000, "other"))
	f.Add("k:1")
	f.Add(config.InternalDomain + ":v1:")
	f.Fuzz(func(t *testing.T, s string) {
		p := packLink([]byte("prefix"), s)
		if !bytes.HasPrefix(p, []byte("prefix")) {
			t.Fatal("packLink lost what it appended to")
		}
		got, err := unpackLink(p[len("prefix"):])
		if err != nil || got != s {
			t.Fatalf("%q unpacked as %q, %v", s, got, err)
		}
		if len(p)-len("prefix") > len(s)+1 {
			t.Fatalf("%q grew to %d bytes", s, len(p)-len("prefix"))
		}
	})
}

// An index of the earlier format, which kept links as strings, is rebuilt
// from the log at open: its links come back packed, and every person is
// found as before.
func TestAnIndexOfStringLinksIsRebuiltPacked(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tumar.db")
	s := openAt(t, path)
	persons := map[string]string{}
	for i := range 300 {
		k := internalKey(1, fmt.Sprint("key ", i))
		persons[k] = releaseLinked(t, s, fmt.Sprintf("m%d", i), k, internalKey(2, fmt.Sprint("doc ", i)))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Rewrite the index as the earlier version kept it: the same links
	// and mark, as strings, and no format.
	x, err := openLinkIndex(indexDir(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, ok, err := x.mark()
	if err != nil || !ok {
		t.Fatalf("mark: %v, %v", ok, err)
	}
	var old []link
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: linkPrefix, UpperBound: linkEnd})
	if err != nil {
		t.Fatal(err)
	}
	for it.First(); it.Valid(); it.Next() {
		k, err1 := unpackLink(it.Key()[len(linkPrefix):])
		p, err2 := unpackLink(it.Value())
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		old = append(old, link{k, p})
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if len(old) != 600 {
		t.Fatalf("the index holds %d links, want 600", len(old))
	}
	if err := x.wipe(); err != nil {
		t.Fatal(err)
	}
	b := x.db.NewBatch()
	for _, l := range old {
		if err := b.Set(append(bytes.Clone(linkPrefix), l.key...), []byte(l.person), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Set(markKey, encodeMark(m), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
	if packed, err := x.packed(); err != nil || packed {
		t.Fatalf("an index of strings says packed=%v, %v", packed, err)
	}
	if err := x.close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	defer s.Close()
	if !s.links.rebuilt {
		t.Fatal("the index of strings was not rebuilt")
	}
	if packed, err := s.idx.packed(); err != nil || !packed {
		t.Fatalf("after the rebuild packed=%v, %v", packed, err)
	}
	n := 0
	it, err = s.idx.db.NewIter(&pebble.IterOptions{LowerBound: linkPrefix, UpperBound: linkEnd})
	if err != nil {
		t.Fatal(err)
	}
	for it.First(); it.Valid(); it.Next() {
		if k := it.Key(); k[len(linkPrefix)] != packedInternal || len(k) != len(linkPrefix)+34 || it.Value()[0] != packedInternal {
			t.Fatalf("a link kept as % x → % x after the rebuild", k, it.Value())
		}
		n++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if n != 600 {
		t.Fatalf("the rebuilt index holds %d links, want 600", n)
	}
	for k, want := range persons {
		if got, err := s.Person(ctx, []string{k}); err != nil || got != want {
			t.Fatalf("Person = %q, %v; want %q", got, err, want)
		}
	}
}
