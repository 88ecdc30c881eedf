package store

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"os"
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

// packedLinks reads every link of the index, unpacked, checking that each
// is in the packed form of an internal pseudonym.
func packedLinks(t *testing.T, x *linkIndex) map[string]string {
	t.Helper()
	out := map[string]string{}
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: linkPrefix, UpperBound: linkEnd})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	for it.First(); it.Valid(); it.Next() {
		k, v := it.Key()[len(linkPrefix):], it.Value()
		if len(k) != 34 || k[0] != packedInternal || v[0] != packedInternal {
			t.Fatalf("a link kept as % x → % x", k, v)
		}
		key, err1 := unpackLink(k)
		person, err2 := unpackLink(v)
		if err1 != nil || err2 != nil {
			t.Fatal(err1, err2)
		}
		out[key] = person
	}
	return out
}

// writeStringLinks writes links and a mark as the earlier version kept
// them: strings under "k", the mark at "m/mark".
func writeStringLinks(t *testing.T, x *linkIndex, links map[string]string, m indexMark) {
	t.Helper()
	b := x.db.NewBatch()
	defer b.Close()
	for k, p := range links {
		if err := b.Merge(append(bytes.Clone(stringLinkPrefix), k...), []byte(p), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Set(stringMarkKey, encodeMark(m), nil); err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(pebble.Sync); err != nil {
		t.Fatal(err)
	}
}

// noStringLinks checks that nothing is left in the earlier version's keys,
// so that version, run again, would find no mark and rebuild its own.
func noStringLinks(t *testing.T, x *linkIndex) {
	t.Helper()
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: stringLinkPrefix, UpperBound: stringLinkEnd})
	if err != nil {
		t.Fatal(err)
	}
	left := it.First()
	it.Close()
	if left {
		t.Fatal("a link of the earlier version is left")
	}
	if _, closer, err := x.db.Get(stringMarkKey); err == nil {
		closer.Close()
		t.Fatal("the earlier version's mark is left")
	}
}

func releasePersons(t *testing.T, s *SQL, from, n int, persons map[string]string) {
	t.Helper()
	for i := from; i < from+n; i++ {
		k := internalKey(1, fmt.Sprint("key ", i))
		persons[k] = releaseLinked(t, s, fmt.Sprintf("m%d", i), k, internalKey(2, fmt.Sprint("doc ", i)))
	}
}

func checkPersons(t *testing.T, s *SQL, persons map[string]string) {
	t.Helper()
	for k, want := range persons {
		if got, err := s.Person(context.Background(), []string{k}); err != nil || got != want {
			t.Fatalf("Person = %q, %v; want %q", got, err, want)
		}
	}
}

// An index of the earlier version, which kept its links as strings, is
// rebuilt packed at open, and the strings are dropped.
func TestAnIndexOfStringLinksIsRebuiltPacked(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tumar.db")
	s := openAt(t, path)
	persons := map[string]string{}
	releasePersons(t, s, 0, 300, persons)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// Make it the earlier version's index: the same links and mark, as
	// strings, and nothing packed.
	x, err := openLinkIndex(indexDir(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, ok, err := x.mark()
	if err != nil || !ok {
		t.Fatalf("mark: %v, %v", ok, err)
	}
	links := packedLinks(t, x)
	if len(links) != 600 {
		t.Fatalf("the index holds %d links, want 600", len(links))
	}
	if err := x.wipe(); err != nil {
		t.Fatal(err)
	}
	writeStringLinks(t, x, links, m)
	if err := x.close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	defer s.Close()
	if !s.links.rebuilt {
		t.Fatal("the index of strings was not rebuilt")
	}
	if got := packedLinks(t, s.idx); len(got) != 600 {
		t.Fatalf("the rebuilt index holds %d links, want 600", len(got))
	}
	noStringLinks(t, s.idx)
	checkPersons(t, s, persons)
}

// A rollback to the earlier version and an upgrade again lose no link:
// the earlier version kept its own index beside this one's, and this one
// finds its own mark again, replays what the log gained meanwhile and
// drops the strings.
func TestARollbackAndUpgradeAgainKeepEveryLink(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tumar.db")
	s := openAt(t, path)
	persons := map[string]string{}
	releasePersons(t, s, 0, 100, persons)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	snapshot := filepath.Join(dir, "snapshot")
	if err := os.CopyFS(snapshot, os.DirFS(indexDir(path))); err != nil {
		t.Fatal(err)
	}
	// The releases of the rollback: in the log, not in this version's
	// index (restored from before them), and in the earlier version's.
	s = openAt(t, path)
	releasePersons(t, s, 100, 100, persons)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(indexDir(path)); err != nil {
		t.Fatal(err)
	}
	if err := os.CopyFS(indexDir(path), os.DirFS(snapshot)); err != nil {
		t.Fatal(err)
	}
	x, err := openLinkIndex(indexDir(path), nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _, err := x.mark()
	if err != nil {
		t.Fatal(err)
	}
	if got := packedLinks(t, x); len(got) != 200 {
		t.Fatalf("the restored index holds %d links, want 200", len(got))
	}
	all := map[string]string{}
	for i := range 200 {
		all[internalKey(2, fmt.Sprint("doc ", i))] = persons[internalKey(1, fmt.Sprint("key ", i))]
	}
	for k, p := range persons {
		all[k] = p
	}
	writeStringLinks(t, x, all, indexMark{seq: m.seq + 100, row: m.row})
	if err := x.close(); err != nil {
		t.Fatal(err)
	}

	s = openAt(t, path)
	defer s.Close()
	if s.links.rebuilt {
		t.Fatal("this version's index was rebuilt; its own mark should have held")
	}
	if got := packedLinks(t, s.idx); len(got) != 400 {
		t.Fatalf("after the upgrade the index holds %d links, want 400", len(got))
	}
	noStringLinks(t, s.idx)
	checkPersons(t, s, persons)
}
