package store

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tumarproject/tumar/gateway/audit"
)

func testRelease(id string) (*Message, *audit.Entry) {
	m := &Message{ID: id, Source: "ngo", Destination: "errp", Purpose: "p", DecisionID: "d-" + id, CreatedAt: time.Now(), Payload: []byte("{}")}
	e := &audit.Entry{DecisionID: "d-" + id, Time: time.Now(), Event: "exchange", Outcome: audit.Released}
	return m, e
}

// returnsWithin reports whether fn returns within d, and its error.
func returnsWithin(d time.Duration, fn func() error) (bool, chan error) {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		done <- err
		return true, done
	case <-time.After(d):
		return false, done
	}
}

// A commit is answered, and read by anyone, only after the fsync of the WAL
// that covers it has returned.
func TestCommitsAreAnsweredAndReadOnlyOnceSynced(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	gate := make(chan struct{})
	open := sync.OnceFunc(func() { close(gate) })
	defer open() // a failure must not leave the store's Close waiting
	var synced atomic.Int32
	s.wal.sync = func(f *os.File) error {
		<-gate
		synced.Add(1)
		return f.Sync()
	}
	m, e := testRelease("m1")
	if ok, _ := returnsWithin(100*time.Millisecond, func() error { return s.Release(ctx, m, e) }); ok {
		t.Fatal("Release returned before the WAL was synced")
	}
	// Another connection must not read the committed but unsynced row.
	var inbox []Message
	readOK, readDone := returnsWithin(100*time.Millisecond, func() error {
		var err error
		inbox, err = s.Inbox(ctx, "errp", 10)
		return err
	})
	if readOK {
		t.Fatalf("Inbox read %d rows before they were synced", len(inbox))
	}
	open()
	if err := <-readDone; err != nil {
		t.Fatal(err)
	}
	if len(inbox) != 1 || synced.Load() == 0 {
		t.Fatalf("after the sync the inbox has %d rows (syncs %d), want 1", len(inbox), synced.Load())
	}
}

// ReleaseBatchDeferred returns at the commit; its durable waits for the
// sync, and one sync serves batches committed before it.
func TestDeferredBatchesWaitForOneSync(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	gate := make(chan struct{})
	open := sync.OnceFunc(func() { close(gate) })
	defer open()
	var syncs atomic.Int32
	s.wal.sync = func(f *os.File) error {
		<-gate
		syncs.Add(1)
		return f.Sync()
	}
	var durables []func() error
	for i := range 3 {
		m, e := testRelease(fmt.Sprintf("m%d", i))
		errs, durable := s.ReleaseBatchDeferred(ctx, []Release{{Message: m, Entry: e}})
		if errs[0] != nil {
			t.Fatal(errs[0])
		}
		durables = append(durables, durable)
	}
	if ok, _ := returnsWithin(100*time.Millisecond, durables[2]); ok {
		t.Fatal("durable returned before the sync")
	}
	open()
	for _, d := range durables {
		if err := d(); err != nil {
			t.Fatal(err)
		}
	}
	if n := syncs.Load(); n != 1 {
		t.Fatalf("%d syncs for three commits waited on together, want 1", n)
	}
}

// A failed fsync fails the commit it covers, and every later write and
// read, until the store is reopened: the kernel may have dropped the pages.
func TestFailedSyncFailsClosed(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	s.wal.sync = func(*os.File) error { return errors.New("EIO") }
	m, e := testRelease("m1")
	if err := s.Release(ctx, m, e); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Release after a failed sync: %v, want ErrUnavailable", err)
	}
	if err := s.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Ping after a failed sync: %v", err)
	}
	if _, err := s.Inbox(ctx, "errp", 10); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Inbox after a failed sync: %v", err)
	}
	m2, e2 := testRelease("m2")
	if err := s.Release(ctx, m2, e2); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("a later Release: %v, want ErrUnavailable", err)
	}
	errs, durable := s.ReleaseBatchDeferred(ctx, []Release{{Message: m2, Entry: e2}})
	if errs[0] == nil && durable() == nil {
		t.Fatal("a deferred batch after a failed sync reported success")
	}
}

// Writes outside a transaction (acknowledgements, cursors) are synced too.
func TestAutocommitWritesAreSynced(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	var syncs atomic.Int32
	s.wal.sync = func(f *os.File) error { syncs.Add(1); return f.Sync() }
	if err := s.SetCursor(ctx, "ngo-csv", "line 10"); err != nil {
		t.Fatal(err)
	}
	if syncs.Load() == 0 {
		t.Fatal("a cursor was written without a sync")
	}
}

// A duplicate is answered as one only once durable: if the sync fails, its
// receipt would name a release that a power cut could take back.
func TestFailedSyncFailsDuplicatesToo(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	idem := func(id string) (*Message, *audit.Entry) {
		m, e := testRelease(id)
		m.SourceRecordID, m.ContentHash = "case-1", "h1"
		return m, e
	}
	m, e := idem("m1")
	if err := s.Release(ctx, m, e); err != nil {
		t.Fatal(err)
	}
	if m2, e2 := idem("m2"); !errors.Is(s.Release(ctx, m2, e2), ErrDuplicate) {
		t.Fatal("the same content again is not a duplicate")
	}
	s.wal.sync = func(*os.File) error { return errors.New("EIO") }
	m3, e3 := idem("m3")
	if err := s.Release(ctx, m3, e3); errors.Is(err, ErrDuplicate) || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Release of a duplicate with a failing sync: %v, want ErrUnavailable", err)
	}
}

// In a batch, a duplicate whose commit cannot be synced fails like the rest.
func TestFailedSyncFailsABatchsDuplicates(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	m, e := testRelease("m1")
	m.SourceRecordID, m.ContentHash = "case-1", "h1"
	if err := s.Release(ctx, m, e); err != nil {
		t.Fatal(err)
	}
	s.wal.sync = func(*os.File) error { return errors.New("EIO") }
	dup, de := testRelease("m2")
	dup.SourceRecordID, dup.ContentHash = "case-1", "h1"
	fresh, fe := testRelease("m3")
	errs := s.ReleaseBatch(ctx, []Release{{Message: dup, Entry: de}, {Message: fresh, Entry: fe}})
	for i, err := range errs {
		if errors.Is(err, ErrDuplicate) || !errors.Is(err, ErrUnavailable) {
			t.Fatalf("slot %d: %v, want ErrUnavailable", i, err)
		}
	}
}

// LatestSubmission answers a submission it found only once it is durable,
// and "none" at once, without waiting for a sync in progress.
func TestLatestSubmissionWaitsOnlyForWhatItFound(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	gate := make(chan struct{})
	open := sync.OnceFunc(func() { close(gate) })
	defer open()
	s.wal.sync = func(f *os.File) error {
		<-gate
		return f.Sync()
	}
	m, e := testRelease("m1")
	m.SourceRecordID, m.ContentHash = "CASE-1", "h1"
	released := make(chan error, 1)
	go func() { released <- s.Release(ctx, m, e) }()
	found, foundDone := false, make(chan error, 1)
	deadline := time.Now().Add(5 * time.Second)
	for !found && time.Now().Before(deadline) { // until the commit is in, unsynced
		var n int
		s.db.DB.QueryRow(`SELECT count(*) FROM outbox WHERE source_record_id IS NOT NULL`).Scan(&n)
		found = n == 1
	}
	if !found {
		t.Fatal("the release was not committed")
	}
	if ok, done := returnsWithin(2*time.Second, func() error {
		_, err := s.LatestSubmission(ctx, "ngo", "CASE-2", "errp", "p")
		return err
	}); !ok {
		t.Fatal("LatestSubmission of a record never submitted waited for the sync")
	} else if err := <-done; !errors.Is(err, ErrNotFound) {
		t.Fatalf("LatestSubmission of a record never submitted: %v", err)
	}
	go func() {
		_, err := s.LatestSubmission(ctx, "ngo", "CASE-1", "errp", "p")
		foundDone <- err
	}()
	select {
	case err := <-foundDone:
		t.Fatalf("LatestSubmission answered an unsynced submission (%v)", err)
	case <-time.After(100 * time.Millisecond):
	}
	open()
	if err := <-foundDone; err != nil {
		t.Fatal(err)
	}
	if err := <-released; err != nil {
		t.Fatal(err)
	}
}
