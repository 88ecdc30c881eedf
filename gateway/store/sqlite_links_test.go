package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/tumarproject/tumar/gateway/audit"
)

// releaseLinked releases one message for a person known by keys and returns
// the person the store resolved.
func releaseLinked(t *testing.T, s *SQL, id string, keys ...string) string {
	t.Helper()
	m := &Message{ID: id, Source: "ngo", Destination: "errp", Purpose: "p", DecisionID: "d-" + id, CreatedAt: time.Now(), Payload: []byte("{}")}
	e := &audit.Entry{DecisionID: "d-" + id, Time: time.Now(), Event: "exchange", Outcome: audit.Released, SubjectKeys: keys}
	if err := s.Release(context.Background(), m, e); err != nil {
		t.Fatalf("release %s: %v", id, err)
	}
	return e.Subject
}

// countRows counts a table's rows: "links" counts the keys of the links
// index, the others the main database's rows.
func countRows(t *testing.T, s *SQL, table string) int {
	t.Helper()
	var n int
	if table == "links" {
		if err := s.idx.eachKey(func([]byte) { n++ }); err != nil {
			t.Fatal(err)
		}
		return n
	}
	if err := s.db.DB.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Links written behind the audit log are visible at once, through memory,
// and end up in the links table with the queue emptied.
func TestQueuedLinksAreVisibleAndMoved(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	s.stopLinkWriter() // this test moves them itself
	p1 := releaseLinked(t, s, "m1", "k:a", "k:b")
	if got := releaseLinked(t, s, "m2", "k:b", "k:c"); got != p1 {
		t.Fatalf("a second release sharing a queued key went to %q, want %q", got, p1)
	}
	if n := countRows(t, s, "links"); n != 0 {
		t.Fatalf("links were written on the commit path: %d rows", n)
	}
	var inMain int
	if err := s.db.DB.QueryRow(`SELECT count(*) FROM links`).Scan(&inMain); err != nil || inMain != 0 {
		t.Fatalf("the main database's links table holds %d rows (%v)", inMain, err)
	}
	if n := countRows(t, s, "pending_links"); n != 2 {
		t.Fatalf("pending_links holds %d rows, want one per linking entry (2)", n)
	}
	for _, k := range []string{"k:a", "k:b", "k:c"} {
		if p, err := s.Person(ctx, []string{k}); err != nil || p != p1 {
			t.Fatalf("Person(%s) = %q, %v before the move; want %q", k, p, err, p1)
		}
	}
	if err := s.flushLinks(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "links"); n != 3 {
		t.Fatalf("links holds %d rows after the move, want 3", n)
	}
	if _, queued, _ := s.links.get("k:a"); queued {
		t.Fatal("memory still queues a moved link")
	}
	// The log keeps every row: the index can be rebuilt from it.
	if got := releaseLinked(t, s, "m3", "k:z", "k:c"); got != p1 {
		t.Fatalf("a release sharing a moved key went to %q, want %q", got, p1)
	}
	if n := countRows(t, s, "pending_links"); n != 3 {
		t.Fatalf("pending_links holds %d rows after the next write, want 3", n)
	}
}

// A crash between the commit and the move loses no link: the next open
// replays what the log holds past the index's mark before anything reads.
func TestQueuedLinksSurviveACrash(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tumar.db")
	s := openAt(t, path)
	s.stopLinkWriter()
	persons := map[string]string{}
	for i := range 2500 { // more than one move transaction
		k := fmt.Sprintf("k:%d", i)
		persons[k] = releaseLinked(t, s, fmt.Sprintf("m%d", i), k, k+"-doc")
	}
	if err := s.closeHandles(); err != nil { // no flush: as if the process died
		t.Fatal(err)
	}
	s = openAt(t, path)
	defer s.Close()
	if n := countRows(t, s, "pending_links"); n != 2500 {
		t.Fatalf("pending_links holds %d rows after recovery, want 2500", n)
	}
	if n := countRows(t, s, "links"); n != 5000 {
		t.Fatalf("links holds %d rows after recovery, want 5000", n)
	}
	for k, want := range persons {
		if p, err := s.Person(ctx, []string{k + "-doc"}); err != nil || p != want {
			t.Fatalf("after the crash, Person(%s) = %q, %v; want %q", k, p, err, want)
		}
	}
}

// A release rolled back to its savepoint (a duplicate in a batch) takes its
// queued links with it; the others keep theirs.
func TestQueuedLinksOfAFailedReleaseAreForgotten(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	s.stopLinkWriter()
	mk := func(id, srid string, keys ...string) Release {
		return Release{
			Message: &Message{ID: id, Source: "ngo", Destination: "errp", Purpose: "p", DecisionID: "d-" + id, CreatedAt: time.Now(),
				Payload: []byte("{}"), SourceRecordID: srid, ContentHash: "h"},
			Entry: &audit.Entry{DecisionID: "d-" + id, Time: time.Now(), Event: "exchange", Outcome: audit.Released, SubjectKeys: keys},
		}
	}
	if errs := s.ReleaseBatch(ctx, []Release{mk("m0", "r1", "k:first")}); errs[0] != nil {
		t.Fatal(errs[0])
	}
	errs := s.ReleaseBatch(ctx, []Release{mk("m1", "r2", "k:ok"), mk("m2", "r1", "k:dup"), mk("m3", "r3", "k:ok2")})
	if errs[0] != nil || errs[2] != nil || errs[1] == nil {
		t.Fatalf("errors %v, want only the duplicate to fail", errs)
	}
	if _, err := s.Person(ctx, []string{"k:dup"}); err != ErrNotFound {
		t.Fatalf("the duplicate's key is linked (%v)", err)
	}
	for _, k := range []string{"k:ok", "k:ok2"} {
		if _, err := s.Person(ctx, []string{k}); err != nil {
			t.Fatalf("%s: %v", k, err)
		}
	}
	if err := s.flushLinks(ctx); err != nil {
		t.Fatal(err)
	}
	if n := countRows(t, s, "links"); n != 3 {
		t.Fatalf("links holds %d rows, want 3 (first, ok, ok2)", n)
	}
}

// While the background writer moves links, concurrent releases and reads
// always resolve every key: a link is never in neither place.
func TestLinksStayVisibleWhileMoved(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	wg.Go(func() { // moves as often as it can
		for {
			select {
			case <-stop:
				return
			default:
			}
			if err := s.flushLinks(ctx); err != nil {
				t.Error(err)
				return
			}
		}
	})
	for i := range 400 {
		k := fmt.Sprintf("k:%d", i)
		p := releaseLinked(t, s, fmt.Sprintf("m%d", i), k)
		for j := max(0, i-20); j <= i; j++ {
			kj := fmt.Sprintf("k:%d", j)
			if got, err := s.Person(ctx, []string{kj}); err != nil {
				t.Fatalf("Person(%s) while moving: %v", kj, err)
			} else if j == i && got != p {
				t.Fatalf("Person(%s) = %q, want %q", kj, got, p)
			}
		}
	}
	close(stop)
	wg.Wait()
}

// A database from before the links database keeps its links: the first
// open moves them.
func TestLinksOfAnOlderDatabaseAreMoved(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tumar.db")
	s := openAt(t, path)
	for i := range 6000 { // more than one move
		if _, err := s.db.DB.Exec(`INSERT INTO links (key, person) VALUES (?, ?)`, fmt.Sprintf("old:%d", i), fmt.Sprintf("p%d", i%7)); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	s = openAt(t, path)
	defer s.Close()
	if n := countRows(t, s, "links"); n != 6000 {
		t.Fatalf("the links database holds %d links, want 6000", n)
	}
	if p, err := s.Person(ctx, []string{"old:5999"}); err != nil || p != "p0" {
		t.Fatalf("Person(old:5999) = %q, %v; want p0", p, err)
	}
	if got := releaseLinked(t, s, "m1", "new:1", "old:12"); got != "p5" {
		t.Fatalf("a release sharing an old key went to %q, want p5", got)
	}
}

// A writer waiting for room in a full link queue gives up, failing closed,
// when the mover fails or its context ends, instead of hanging.
func TestFullLinkQueueFailsClosed(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	s.stopLinkWriter()
	s.links.mu.Lock()
	s.links.limit = 2
	s.links.mu.Unlock()
	releaseLinked(t, s, "m1", "k:a", "k:b") // fills the queue
	m, e := testRelease("m2")
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	if err := s.Release(short, m, e); !errors.Is(err, ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Release into a full queue past its deadline: %v", err)
	}
	s.links.mu.Lock()
	s.links.err = errors.New("links database: disk full")
	s.links.mu.Unlock()
	if err := s.Release(ctx, m, e); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Release into a full queue while the mover fails: %v", err)
	}
	s.links.mu.Lock()
	s.links.err = nil
	s.links.mu.Unlock()
	if err := s.flushLinks(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, m, e); err != nil {
		t.Fatalf("Release once the queue is moved: %v", err)
	}
}

// Looking up keys never linked reads nothing from the links file: the
// filter answers. Keys linked before the open, only in the file, are found.
func TestLinkFilterSkipsKeysNeverLinked(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tumar.db")
	s := openAt(t, path)
	p := releaseLinked(t, s, "m1", "k:stored", "k:stored-doc")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	defer s.Close()
	if got, err := s.Person(ctx, []string{"k:stored-doc"}); err != nil || got != p {
		t.Fatalf("a key in the links file: Person = %q, %v; want %q", got, err, p)
	}
	before := s.links.skipped
	for i := range 100 {
		if got, err := s.Person(ctx, []string{fmt.Sprintf("k:never-%d", i)}); !errors.Is(err, ErrNotFound) || got != "" {
			t.Fatalf("a key never linked: Person = %q, %v", got, err)
		}
	}
	// 1% false positives: a few may go to the file.
	if skipped := s.links.skipped - before; skipped < 90 {
		t.Fatalf("the filter answered %d of 100 look-ups of keys never linked", skipped)
	}
	q := releaseLinked(t, s, "m2", "k:new")
	if got, err := s.Person(ctx, []string{"k:new"}); err != nil || got != q {
		t.Fatalf("a key linked after the open: Person = %q, %v; want %q", got, err, q)
	}
	if err := s.flushLinks(ctx); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Person(ctx, []string{"k:new"}); err != nil || got != q {
		t.Fatalf("a key linked after the open and moved: Person = %q, %v; want %q", got, err, q)
	}
}

// A links file of an earlier version (tumar-links.db) is carried into the
// log and the index at the first open, then deleted.
func TestLinksOfAnEarlierLinksFileAreCarried(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tumar.db")
	s := openAt(t, path)
	p := releaseLinked(t, s, "m1", "k:pending")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	old, err := sql.Open("sqlite", "file:"+legacyLinksPath(path)+"?_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Exec(`CREATE TABLE links (key TEXT PRIMARY KEY, person TEXT NOT NULL) WITHOUT ROWID`); err != nil {
		t.Fatal(err)
	}
	for i := range 3000 {
		if _, err := old.Exec(`INSERT INTO links VALUES (?, ?)`, fmt.Sprintf("file:%d", i), fmt.Sprintf("p%d", i%5)); err != nil {
			t.Fatal(err)
		}
	}
	old.Close()
	// The file goes only once its rows are durable in the log: with the
	// WAL's fsync failing, the open fails and the file stays.
	walFsync = func(*os.File) error { return errors.New("disk gone") }
	if failed, err := OpenSQLite(ctx, path); err == nil {
		failed.Close()
		t.Fatal("the store opened with a failing fsync")
	}
	walFsync = (*os.File).Sync
	if _, err := os.Stat(legacyLinksPath(path)); err != nil {
		t.Fatalf("the earlier links file went before its rows were durable: %v", err)
	}
	s = openAt(t, path)
	defer s.Close()
	if _, err := os.Stat(legacyLinksPath(path)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the earlier links file is still there: %v", err)
	}
	if n := countRows(t, s, "links"); n != 3001 {
		t.Fatalf("the index holds %d links, want 3001", n)
	}
	if got, err := s.Person(ctx, []string{"file:2999"}); err != nil || got != "p4" {
		t.Fatalf("Person(file:2999) = %q, %v; want p4", got, err)
	}
	if got, err := s.Person(ctx, []string{"k:pending"}); err != nil || got != p {
		t.Fatalf("Person(k:pending) = %q, %v; want %q", got, err, p)
	}
	if got := releaseLinked(t, s, "m2", "new:1", "file:7"); got != "p2" {
		t.Fatalf("a release sharing a carried key went to %q, want p2", got)
	}
	// The carried rows are in the log: a rebuild finds them too.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(indexDir(path)); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if got, err := s.Person(ctx, []string{"file:3"}); err != nil || got != "p3" {
		t.Fatalf("after a rebuild, Person(file:3) = %q, %v; want p3", got, err)
	}
}

// The index is derived from the log: deleted, it is rebuilt at the next
// open with every link.
func TestLinksIndexIsRebuiltWhenLost(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tumar.db")
	s := openAt(t, path)
	persons := map[string]string{}
	for i := range 2100 { // more than one move
		k := fmt.Sprintf("k:%d", i)
		persons[k] = releaseLinked(t, s, fmt.Sprintf("m%d", i), k)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(indexDir(path)); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	defer s.Close()
	if n := countRows(t, s, "links"); n != 2100 {
		t.Fatalf("the rebuilt index holds %d links, want 2100", n)
	}
	for k, want := range persons {
		if got, err := s.Person(ctx, []string{k}); err != nil || got != want {
			t.Fatalf("after the rebuild, Person(%s) = %q, %v; want %q", k, got, err, want)
		}
	}
}

// A database restored from a backup, beside an index that has moved on,
// gets an index of its own history: links of entries it never had are
// gone, and its own are all there.
func TestLinksIndexOfAnotherHistoryIsRebuilt(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	path := filepath.Join(dir, "tumar.db")
	s := openAt(t, path)
	kept := releaseLinked(t, s, "m1", "k:kept")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	backup, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	releaseLinked(t, s, "m2", "k:lost")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{path + "-wal", path + "-shm"} {
		os.Remove(f)
	}
	if err := os.WriteFile(path, backup, 0o600); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	defer s.Close()
	if got, err := s.Person(ctx, []string{"k:lost"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a link of an entry the restored database never had: Person = %q, %v", got, err)
	}
	if got, err := s.Person(ctx, []string{"k:kept"}); err != nil || got != kept {
		t.Fatalf("Person(k:kept) = %q, %v; want %q", got, err, kept)
	}
	// The restored database's next entry takes the lost one's seq; its
	// key is linked to its own person.
	other := releaseLinked(t, s, "m2b", "k:other")
	if got, err := s.Person(ctx, []string{"k:other"}); err != nil || got != other {
		t.Fatalf("Person(k:other) = %q, %v; want %q", got, err, other)
	}
}

// A second process cannot open the store while one has it: the index is
// locked, and the error says what to do, naming no key.
func TestSecondProcessIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tumar.db")
	s := openAt(t, path)
	releaseLinked(t, s, "m1", "canary-key-Aigerim")
	_, err := OpenSQLite(context.Background(), path)
	if !errors.Is(err, ErrLinksInUse) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a second open: %v, want ErrLinksInUse", err)
	}
	if strings.Contains(err.Error(), "Aigerim") || !strings.Contains(err.Error(), "one process at a time") {
		t.Fatalf("the error: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again := openAt(t, path)
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

// A key keeps its first person in the index, whatever is written over it
// later and however the index compacts.
func TestLinksIndexKeepsTheFirstPerson(t *testing.T) {
	x, err := openLinkIndex("idx", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	for i, p := range []string{"first", "second", "third"} {
		if err := x.write([]link{{"k:a", p}, {fmt.Sprintf("k:%d", i), p}}, indexMark{seq: int64(i + 1), row: logRowHash(p, "k")}); err != nil {
			t.Fatal(err)
		}
		if i == 1 {
			if err := x.db.Flush(); err != nil {
				t.Fatal(err)
			}
		}
	}
	check := func(when string) {
		found := map[string]string{}
		if err := x.lookup(context.Background(), []string{"k:a", "k:2", "k:none"}, found); err != nil {
			t.Fatal(err)
		}
		if found["k:a"] != "first" || found["k:2"] != "third" || len(found) != 2 {
			t.Fatalf("%s: %v, want k:a first, k:2 third", when, found)
		}
	}
	check("before compaction")
	if err := x.db.Compact(context.Background(), linkPrefix, linkEnd, true); err != nil {
		t.Fatal(err)
	}
	check("after compaction")
	if m, ok, err := x.mark(); err != nil || !ok || m.seq != 3 {
		t.Fatalf("mark = %+v, %v, %v; want seq 3", m, ok, err)
	}
}

// Within one batch the links are sorted by key before they are written: of
// two links of one key, the one earlier in the log still wins, whatever
// the keys around them.
func TestLinksIndexKeepsTheFirstPersonWithinABatch(t *testing.T) {
	x, err := openLinkIndex("idx", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	var links []link
	for i := range 50 {
		links = append(links, link{fmt.Sprintf("k:%02d", 49-i), fmt.Sprintf("p%d", i)}, link{"k:same", fmt.Sprintf("p%d", i)})
	}
	if err := x.write(links, indexMark{seq: 1, row: logRowHash("p", "k")}); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	if err := x.lookup(context.Background(), []string{"k:same", "k:00", "k:49"}, found); err != nil {
		t.Fatal(err)
	}
	if found["k:same"] != "p0" || found["k:00"] != "p49" || found["k:49"] != "p0" {
		t.Fatalf("got %v, want k:same and k:49 to p0, k:00 to p49", found)
	}
}

// Beside the process that holds the index, the store opens without it for
// audit work: it finds persons from the log (queued links included) and
// refuses every release.
func TestStoreWithoutLinksBesideTheGateway(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tumar.db")
	s := openAt(t, path)
	defer s.Close()
	moved := releaseLinked(t, s, "m1", "k:a", "k:b")
	if err := s.flushLinks(ctx); err != nil {
		t.Fatal(err)
	}
	s.stopLinkWriter()
	queued := releaseLinked(t, s, "m2", "k:c")
	releaseLinked(t, s, "m3", "k:d", "k:a") // k:a keeps its first person

	ro, err := OpenSQLiteWithoutLinks(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer ro.Close()
	for k, want := range map[string]string{"k:a": moved, "k:b": moved, "k:c": queued, "k:d": moved} {
		if got, err := ro.Person(ctx, []string{k}); err != nil || got != want {
			t.Fatalf("without the index, Person(%s) = %q, %v; want %q", k, got, err, want)
		}
	}
	if _, err := ro.Person(ctx, []string{"k:"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a prefix of a key matched: %v", err)
	}
	if log, err := ro.AuditLog(ctx, 0, 10); err != nil || len(log) != 3 {
		t.Fatalf("the audit log without the index: %d entries, %v", len(log), err)
	}
	// Entries about no one new (a delivery, a case event, a checkpoint's
	// neighbours) are appended; an entry that would link keys is refused.
	_, plain := testRelease("a1")
	if err := ro.Audit(ctx, plain); err != nil {
		t.Fatalf("an entry linking no one, without the index: %v", err)
	}
	_, keyed := testRelease("a2")
	keyed.SubjectKeys = []string{"k:z"}
	if err := ro.Audit(ctx, keyed); !errors.Is(err, errNoLinks) {
		t.Fatalf("an entry linking keys, without the index: %v", err)
	}
	for _, keys := range [][]string{nil, {"k:a"}, {"k:new"}} {
		m, e := testRelease("m9")
		e.SubjectKeys = keys
		if err := ro.Release(ctx, m, e); !errors.Is(err, errNoLinks) {
			t.Fatalf("a release (keys %v) without the index: %v", keys, err)
		}
	}
}

// The hot links keep at most two generations, move a link found in the
// older one to the newer, and are emptied by a rebuild.
func TestHotLinks(t *testing.T) {
	var h hotLinks
	for i := range hotLinksMax { // the first generation, full
		h.put(fmt.Sprintf("k:%d", i), "p")
	}
	h.put("n:0", "q") // starts the second
	if _, ok := h.get("k:0"); !ok {
		t.Fatal("a link of the older generation is gone")
	}
	for i := 1; i < hotLinksMax-1; i++ { // fills the second, with k:0 moved in
		h.put(fmt.Sprintf("n:%d", i), "q")
	}
	h.put("z", "r") // starts the third, dropping the first
	if _, ok := h.get("k:1"); ok {
		t.Fatal("a link two generations old is still held")
	}
	if p, ok := h.get("k:0"); !ok || p != "p" {
		t.Fatalf("a link found again, moved to the newer generation: %q, %v", p, ok)
	}
	if p, ok := h.get("n:5"); !ok || p != "q" {
		t.Fatalf("a link of the last full generation: %q, %v", p, ok)
	}
	if n := len(h.cur) + len(h.old); n > 2*hotLinksMax {
		t.Fatalf("%d links held, want at most %d", n, 2*hotLinksMax)
	}
	h.clear()
	if _, ok := h.get("n:5"); ok {
		t.Fatal("a link survives clear")
	}
}

// A rebuild empties the hot links with the index: a link the rebuilt
// index no longer has is not served from memory.
func TestRebuildEmptiesTheHotLinks(t *testing.T) {
	x, err := openLinkIndex("idx", vfs.NewMem())
	if err != nil {
		t.Fatal(err)
	}
	defer x.close()
	if err := x.write([]link{{"k:a", "p1"}}, indexMark{seq: 1, row: logRowHash("p1", "k:a")}); err != nil {
		t.Fatal(err)
	}
	found := map[string]string{}
	if err := x.lookup(context.Background(), []string{"k:a"}, found); err != nil || found["k:a"] != "p1" {
		t.Fatalf("lookup: %v, %v", found, err)
	}
	if err := x.wipe(); err != nil {
		t.Fatal(err)
	}
	found = map[string]string{}
	if err := x.lookup(context.Background(), []string{"k:a"}, found); err != nil || len(found) != 0 {
		t.Fatalf("after a wipe: %v, %v", found, err)
	}
}

// The index is trusted, not rebuilt, at the next open when its mark's
// audit entry has been truncated away (the log's row stands in for it),
// and when the log so far holds only rows carried from an earlier
// version; it is rebuilt when its mark names a row the database does not
// have.
func TestLinksIndexMarkWithoutItsAuditEntry(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "tumar.db")
	s := openAt(t, path)
	p := releaseLinked(t, s, "m1", "k:a")
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s = openAt(t, path)
	if s.links.rebuilt {
		t.Fatal("an index in step with its database was rebuilt")
	}
	if _, err := s.db.DB.Exec(`DELETE FROM audit`); err != nil { // as retention would
		t.Fatal(err)
	}
	s.Close()
	s = openAt(t, path)
	if s.links.rebuilt {
		t.Fatal("the index was rebuilt because its mark's audit entry was truncated")
	}
	if got, err := s.Person(ctx, []string{"k:a"}); err != nil || got != p {
		t.Fatalf("Person(k:a) = %q, %v; want %q", got, err, p)
	}
	if _, err := s.db.DB.Exec(`UPDATE pending_links SET keys = 'k:other'`); err != nil { // another history
		t.Fatal(err)
	}
	s.Close()
	s = openAt(t, path)
	defer s.Close()
	if !s.links.rebuilt {
		t.Fatal("an index whose mark names a row this database does not have was trusted")
	}
	if got, err := s.Person(ctx, []string{"k:a"}); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the rebuild, Person(k:a) = %q, %v; want not found", got, err)
	}
}

// pebble's messages reach the log with their numbers and nothing else: a
// key it quotes does not.
func TestIndexLoggerRedactsKeys(t *testing.T) {
	var buf strings.Builder
	x := &linkIndex{}
	lg := slog.New(slog.NewTextHandler(&buf, nil))
	x.log.Store(lg)
	indexLogger{x}.Errorf("corruption in %s at key %q, level %d", "000123.sst", []byte("ktumar.internal:v1:canary-Aigerim"), 6)
	out := buf.String()
	if strings.Contains(out, "canary") || strings.Contains(out, "000123") || !strings.Contains(out, "level 6") {
		t.Fatalf("logged: %s", out)
	}
}
