package store

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// linkIndex is SQLite's index of person links (match key → person): a
// pebble LSM in a directory beside the database file. It is derived data.
// The main database's pending_links table is the log of every link ever
// made, and the index records, with each write, the log's last entry it
// holds (its mark); whatever the log has past the mark is replayed into it
// at open. A missing, damaged or foreign index is rebuilt from the log.
//
// An LSM, not a B-tree: match keys are keyed hashes, so every insert lands
// at a random position. A B-tree file paid a page write per key (about 31
// µs of CPU per link at 3,000,000 links); the LSM appends sorted runs and
// merges them in the background (docs/benchmarks.md).
//
// Writes never read: a key, once linked, keeps its first person, which the
// keepFirst merge operator guarantees whatever is written over it later.
//
// pebble locks its directory to one process: on SQLite one process at a
// time may release records (PostgreSQL has no such limit).
type linkIndex struct {
	hot  hotLinks
	db   *pebble.DB
	lock *pebble.Lock
	fs   vfs.FS
	dir  string
	log  atomic.Pointer[slog.Logger]
}

// Keys of the index: links under linkPrefix, packed (linkpack.go), and
// the index's own facts.
var (
	linkPrefix = []byte("p")
	linkEnd    = []byte("q") // just past every link key
	markKey    = []byte("m/mark.p")
	countKey   = []byte("m/count")

	// An earlier version kept its links as strings under "k", with its
	// mark at "m/mark". Opening drops them (dropStringLinks). The two
	// formats share no key: that version, run again after this one (a
	// rollback), finds no mark of its own and rebuilds its links from the
	// log, and this one, run again after it, finds its own mark, replays
	// what the log gained meanwhile and drops the strings again.
	stringLinkPrefix = []byte("k")
	stringLinkEnd    = []byte("l")
	stringMarkKey    = []byte("m/mark")
)

// ErrLinksInUse is returned when another process has the store's links
// index open.
var ErrLinksInUse = errors.New("store: another process has this store open")

// indexMark is the log's last entry the index holds: its seq, the hash of
// the log's row there, and the hash of the audit entry of that seq (nil for
// rows carried over from before the log, seq ≤ 0). They tie the index to
// one history of the database (SQL.markHolds).
type indexMark struct {
	seq   int64
	row   []byte // 32 bytes
	audit []byte
}

// keepFirst is the merge operator of the links: the oldest value wins.
var keepFirst = &pebble.Merger{
	Name: "tumar.links.keep-first.v1",
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		return &firstValue{v: bytes.Clone(value)}, nil
	},
}

type firstValue struct{ v []byte }

func (f *firstValue) MergeNewer([]byte) error { return nil }
func (f *firstValue) MergeOlder(value []byte) error {
	f.v = append(f.v[:0], value...)
	return nil
}
func (f *firstValue) Finish(bool) ([]byte, io.Closer, error) { return f.v, nil, nil }

// indexDir is the links index's directory beside the database file.
func indexDir(path string) string {
	return strings.TrimSuffix(path, ".db") + "-links"
}

// openLinkIndex opens (creating if needed) the index in dir; on fs nil,
// the disk. Another process holding it is ErrLinksInUse.
func openLinkIndex(dir string, fs vfs.FS) (*linkIndex, error) {
	if fs == nil {
		fs = vfs.Default
	}
	if err := fs.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("%w: links index %s: %w", ErrUnavailable, dir, err)
	}
	lock, err := pebble.LockDirectory(dir, fs)
	if err != nil {
		if !lockedByAnother(err) {
			return nil, fmt.Errorf("%w: lock the links index %s: %w", ErrUnavailable, dir, err)
		}
		return nil, fmt.Errorf("%w: %w: its links index %s is locked (%w); on SQLite one process at a time may release records: stop the other one, or use PostgreSQL", ErrUnavailable, ErrLinksInUse, dir, err)
	}
	x := &linkIndex{lock: lock, fs: fs, dir: dir}
	opts := &pebble.Options{
		FS:                 fs,
		Lock:               lock,
		Merger:             keepFirst,
		FormatMajorVersion: pebble.FormatNewest,
		Logger:             indexLogger{x},
		CacheSize:          32 << 20,
	}
	// A Bloom filter per table lets a look-up skip the levels that do not
	// hold its key: 10.2 µs instead of 11.5 per look-up at 1,500,000 keys.
	opts.Levels[0].FilterPolicy = bloom.FilterPolicy(10)
	// Link keys are HMACs, spread evenly over the key space, so every
	// compaction from L0 rewrites the whole overlapping base level. Larger
	// memtables and a larger base level make fewer, larger compactions:
	// 1,000,000 bulk rows took 48 to 49 s instead of 50 to 54, for about
	// 30 MiB more at the peak (docs/benchmarks.md).
	opts.MemTableSize = 32 << 20
	opts.LBaseMaxBytes = 256 << 20
	x.db, err = pebble.Open(dir, opts)
	if err != nil {
		lock.Close()
		return nil, fmt.Errorf("%w: open the links index %s: %w", ErrUnavailable, dir, err)
	}
	return x, nil
}

// lockedByAnother reports whether a lock failed because another process
// (or this one) holds it, rather than for want of permission or space.
func lockedByAnother(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) || errors.Is(err, syscall.EAGAIN) ||
		strings.Contains(err.Error(), "lock held by current process")
}

// close closes the index and lets another process open it.
func (x *linkIndex) close() error {
	err := x.db.Close()
	return errors.Join(err, x.lock.Close())
}

// wipe empties the index, for a rebuild from the log: the links, the mark
// and the count go in one synced batch, so that a crash leaves either the
// old index whole or an empty one.
func (x *linkIndex) wipe() error {
	x.hot.clear()
	b := x.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(linkPrefix, linkEnd, nil); err != nil {
		return err
	}
	if err := b.Delete(markKey, nil); err != nil {
		return err
	}
	if err := b.Delete(countKey, nil); err != nil {
		return err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return err
	}
	// Compact the dropped range away now, so the rebuild's keys are not
	// shadowed by a range tombstone they would each be compared against.
	return x.db.Compact(context.Background(), linkPrefix, linkEnd, true)
}

// lookup reads the persons of the keys into found: in key order, with one
// iterator, which costs a third less a key than a Get each (6.5 µs against
// 10.1 at 1,500,000 links).
func (x *linkIndex) lookup(_ context.Context, keys []string, found map[string]string) error {
	if len(keys) > 1 {
		keys = slices.Clone(keys)
		slices.Sort(keys)
	}
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: linkPrefix, UpperBound: linkEnd})
	if err != nil {
		return fmt.Errorf("read links: %w", err)
	}
	buf := make([]byte, 0, 80)
	for _, k := range keys {
		if p, ok := x.hot.get(k); ok {
			found[k] = p
			continue
		}
		buf = packLink(append(buf[:0], linkPrefix...), k)
		if !it.SeekPrefixGE(buf) || !bytes.Equal(it.Key(), buf) {
			continue
		}
		v, err := it.ValueAndErr()
		if err == nil {
			found[k], err = unpackLink(v)
		}
		if err != nil {
			it.Close()
			return fmt.Errorf("read links: %w", err)
		}
		x.hot.put(k, found[k])
	}
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return fmt.Errorf("read links: %w", err)
	}
	return nil
}

// write adds links to the index with its new mark, in one synced batch:
// after a crash the index holds all of them and the mark, or none.
func (x *linkIndex) write(links []link, m indexMark) error {
	n, err := x.count()
	if err != nil {
		return err
	}
	// In key order, the memtable's inserter starts each search from where
	// the last one ended instead of from the top of its skiplist (the keys
	// are keyed hashes: in log order, every insert is a cold search). Of
	// two links of one key, the earlier stays first, and the merge
	// operator keeps it: equal keys are ordered by their place in the log,
	// which costs less than a stable sort (its merges took 40% of a write).
	type packed struct {
		key, person []byte
		at          int
	}
	buf := make([]byte, 0, len(links)*(len(linkPrefix)+2*(2+binary.MaxVarintLen32+macLen)))
	ps := make([]packed, len(links))
	for i, l := range links {
		start := len(buf)
		buf = packLink(append(buf, linkPrefix...), l.key)
		mid := len(buf)
		buf = packLink(buf, l.person)
		ps[i] = packed{buf[start:mid:mid], buf[mid:len(buf):len(buf)], i}
	}
	slices.SortFunc(ps, func(a, b packed) int {
		if c := bytes.Compare(a.key, b.key); c != 0 {
			return c
		}
		return cmp.Compare(a.at, b.at)
	})
	b := x.db.NewBatch()
	defer b.Close()
	for _, p := range ps {
		if err := b.Merge(p.key, p.person, nil); err != nil {
			return err
		}
	}
	if err := b.Set(markKey, encodeMark(m), nil); err != nil {
		return err
	}
	if err := b.Set(countKey, binary.BigEndian.AppendUint64(nil, uint64(n)+uint64(len(links))), nil); err != nil {
		return err
	}
	return b.Commit(pebble.Sync)
}

// mark is the index's mark; ok is false for an index never written.
func (x *linkIndex) mark() (m indexMark, ok bool, err error) {
	v, closer, err := x.db.Get(markKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return m, false, nil
	}
	if err != nil {
		return m, false, err
	}
	defer closer.Close()
	if len(v) < 8+sha256.Size {
		return m, false, fmt.Errorf("links index: a mark of %d bytes", len(v))
	}
	m.seq = int64(binary.BigEndian.Uint64(v))
	m.row = bytes.Clone(v[8 : 8+sha256.Size])
	if len(v) > 8+sha256.Size {
		m.audit = bytes.Clone(v[8+sha256.Size:])
	}
	return m, true, nil
}

func encodeMark(m indexMark) []byte {
	b := binary.BigEndian.AppendUint64(nil, uint64(m.seq))
	b = append(b, m.row...)
	return append(b, m.audit...)
}

// count is about how many links the index holds: links written again (a
// replay) count twice. It sizes the filter.
func (x *linkIndex) count() (int64, error) {
	v, closer, err := x.db.Get(countKey)
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	defer closer.Close()
	if len(v) != 8 {
		return 0, fmt.Errorf("links index: a count of %d bytes", len(v))
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}

// eachKey calls fn with every linked key, unpacked; fn must not keep the
// slice.
func (x *linkIndex) eachKey(fn func(key []byte)) error {
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: linkPrefix, UpperBound: linkEnd})
	if err != nil {
		return err
	}
	var k []byte
	for it.First(); it.Valid(); it.Next() {
		if k, err = appendUnpacked(k[:0], it.Key()[len(linkPrefix):]); err != nil {
			it.Close()
			return err
		}
		fn(k)
	}
	return errors.Join(it.Error(), it.Close())
}

// dropStringLinks removes the links an earlier version kept as strings,
// and its mark, if there are any: one synced batch, then a compaction of
// the range away. It reports whether there were.
func (x *linkIndex) dropStringLinks() (bool, error) {
	it, err := x.db.NewIter(&pebble.IterOptions{LowerBound: stringLinkPrefix, UpperBound: stringLinkEnd})
	if err != nil {
		return false, err
	}
	found := it.First()
	if err := errors.Join(it.Error(), it.Close()); err != nil {
		return false, err
	}
	_, closer, err := x.db.Get(stringMarkKey)
	switch {
	case err == nil:
		closer.Close()
		found = true
	case !errors.Is(err, pebble.ErrNotFound):
		return false, err
	}
	if !found {
		return false, nil
	}
	b := x.db.NewBatch()
	defer b.Close()
	if err := b.DeleteRange(stringLinkPrefix, stringLinkEnd, nil); err != nil {
		return false, err
	}
	if err := b.Delete(stringMarkKey, nil); err != nil {
		return false, err
	}
	if err := b.Commit(pebble.Sync); err != nil {
		return false, err
	}
	return true, x.db.Compact(context.Background(), stringLinkPrefix, stringLinkEnd, true)
}

// indexLogger passes pebble's errors to the store's logger, if it has one.
// pebble's messages may quote a key; a key is a keyed pseudonym, not an
// identity, but no key goes to a log either: only the numbers of a
// message are kept, every other argument is replaced.
type indexLogger struct{ x *linkIndex }

func (l indexLogger) Infof(string, ...any) {}

func (l indexLogger) Errorf(format string, args ...any) {
	if lg := l.x.log.Load(); lg != nil {
		lg.Error("links index: " + fmt.Sprintf(format, redacted(args)...))
	}
}

// Fatalf is for what pebble cannot go on from (a corrupt or unwritable
// directory). pebble requires it not to return; like pebble's own logger
// it ends the process, which reopens and rebuilds the index from the log.
// A panic would not do: net/http would recover it in a handler's
// goroutine and carry on with the index half-read.
func (l indexLogger) Fatalf(format string, args ...any) {
	msg := "links index: " + fmt.Sprintf(format, redacted(args)...)
	if lg := l.x.log.Load(); lg != nil {
		lg.Error(msg)
	} else {
		fmt.Fprintln(os.Stderr, msg)
	}
	os.Exit(1)
}

// redacted keeps the numbers among args and replaces the rest.
func redacted(args []any) []any {
	out := make([]any, len(args))
	for i, a := range args {
		switch a.(type) {
		case int, int64, int32, uint, uint64, uint32, float64, bool:
			out[i] = a
		default:
			out[i] = "‹redacted›"
		}
	}
	return out
}

// hotLinks holds the links found in the index most recently, so that a
// person referred again soon (by another agency, or in the next rows of
// a register's export) costs no index read. A link never changes once
// made, so nothing here goes stale; a rebuild empties it. Two generations
// of at most hotLinksMax each: a link found in the older one moves to the
// newer, and the older is dropped when the newer fills. The keys are keyed
// pseudonyms, as in the queue and the filter, never identities.
type hotLinks struct {
	mu       sync.Mutex
	cur, old map[string]string
}

const hotLinksMax = 32_768 // two generations: about 12 MB at most

func (h *hotLinks) get(k string) (string, bool) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if p, ok := h.cur[k]; ok {
		return p, true
	}
	p, ok := h.old[k]
	if ok {
		h.putLocked(k, p)
	}
	return p, ok
}

func (h *hotLinks) put(k, p string) {
	h.mu.Lock()
	h.putLocked(k, p)
	h.mu.Unlock()
}

func (h *hotLinks) putLocked(k, p string) {
	if h.cur == nil || len(h.cur) >= hotLinksMax {
		h.old, h.cur = h.cur, make(map[string]string, 1024)
	}
	h.cur[k] = p
}

func (h *hotLinks) clear() {
	h.mu.Lock()
	h.cur, h.old = nil, nil
	h.mu.Unlock()
}
