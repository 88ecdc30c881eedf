package store

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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

// countRows counts a table's rows: links in the links database, the others
// in the main one.
func countRows(t *testing.T, s *SQL, table string) int {
	t.Helper()
	db := s.db.DB
	if table == "links" {
		db = s.lw.DB
	}
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM ` + table).Scan(&n); err != nil {
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
	// The next write transaction deletes the moved rows, and adds its own.
	if got := releaseLinked(t, s, "m3", "k:z", "k:c"); got != p1 {
		t.Fatalf("a release sharing a moved key went to %q, want %q", got, p1)
	}
	if n := countRows(t, s, "pending_links"); n != 1 {
		t.Fatalf("pending_links holds %d rows after the next write, want 1 (m3's)", n)
	}
}

// A crash between the commit and the move loses no link: the next open
// moves what pending_links holds before anything reads.
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
	if n := countRows(t, s, "pending_links"); n != 0 {
		t.Fatalf("pending_links holds %d rows after recovery", n)
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

// A second process on the same files (`tumar connector run` beside the
// server) links keys the first's filter never saw. Once they are in the
// links file the first finds them, whichever process moved them.
func TestLinkFilterSeesAnotherProcesssLinks(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name string
		done func(t *testing.T, a, b *SQL)
	}{
		{"the other moves them", func(t *testing.T, a, b *SQL) {
			if err := b.Close(); err != nil { // its last move
				t.Fatal(err)
			}
		}},
		{"they move while this one's move is in flight", func(t *testing.T, a, b *SQL) {
			releaseLinked(t, a, "m1b", "k:x", "k:y", "k:z") // more keys to move than the other will
			if err := b.flushLinks(ctx); err != nil {       // up to its own entry: not m1b
				t.Fatal(err)
			}
			releaseLinked(t, b, "m1c", "k:b-later") // deletes the moved rows: this one's move will not see them
			b.stopLinkWriter()
			if err := b.closeHandles(); err != nil {
				t.Fatal(err)
			}
			// No look-up here before this one's move starts.
			var during string
			a.links.mu.Lock()
			a.links.beforeCommit = func() { during, _ = a.Person(ctx, []string{"k:from-b"}) }
			a.links.mu.Unlock()
			if err := a.flushLinks(ctx); err != nil {
				t.Fatal(err)
			}
			if during == "" {
				t.Fatal("a look-up while this process's move was in flight missed the other process's link")
			}
		}},
		{"this one moves them", func(t *testing.T, a, b *SQL) {
			b.stopLinkWriter()
			if err := b.closeHandles(); err != nil { // died before its move
				t.Fatal(err)
			}
			releaseLinked(t, a, "m1a", "k:other") // a move reaches the other's rows only past them
			if err := a.flushLinks(ctx); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tumar.db")
			a := openAt(t, path)
			defer a.Close()
			var logged bytes.Buffer
			a.SetLogger(slog.New(slog.NewTextHandler(&logged, nil)))
			b := openAt(t, path) // opening moves what is pending: nothing yet
			releaseLinked(t, a, "m0", "k:a")
			p := releaseLinked(t, b, "m1", "k:doc", "k:from-b")
			tc.done(t, a, b)
			if got, err := a.Person(ctx, []string{"k:from-b"}); err != nil || got != p {
				t.Fatalf("Person = %q, %v; want the other process's %q", got, err, p)
			}
			if got := releaseLinked(t, a, "m2", "k:from-b", "k:phone"); got != p {
				t.Fatalf("a release sharing the other process's key went to %q, want %q", got, p)
			}
			if off := strings.Contains(logged.String(), "links filter is off"); off != (tc.name != "this one moves them") || strings.Contains(logged.String(), "k:") {
				t.Fatalf("log: %q", logged.String())
			}
		})
	}
}
