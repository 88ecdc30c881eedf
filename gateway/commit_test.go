package gateway

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
)

// Concurrent exchanges under group commit are each durable, audited once and
// answered with their own outcome; duplicates racing each other resolve to one
// release.
func TestGroupCommitUnderConcurrency(t *testing.T) {
	f := newFixture(t)
	sq := f.store.Store.(*store.SQL)
	f.ex.store, f.ex.release = sq, sq.Release
	f.ex.GroupCommit()
	defer f.ex.Close()
	ctx := context.Background()

	const n, distinct = 96, 64
	subs := make([]*Submission, n)
	for i := range subs {
		subs[i] = sampleSubmission(t, "errp")
		subs[i].SourceRecordID = fmt.Sprintf("case-%d", i%distinct)
	}
	receipts := make([]*Receipt, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range subs {
		wg.Go(func() { receipts[i], errs[i] = f.ex.Exchange(ctx, subs[i]) })
	}
	wg.Wait()

	byCase := map[string]string{}
	for i, r := range receipts {
		if errs[i] != nil {
			t.Fatalf("exchange %d: %v", i, errs[i])
		}
		c := subs[i].SourceRecordID
		if prev, ok := byCase[c]; ok && prev != r.ExchangeID {
			t.Fatalf("%s was released twice: %s and %s", c, prev, r.ExchangeID)
		}
		byCase[c] = r.ExchangeID
	}
	log, err := sq.AuditLog(ctx, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if len(log) != distinct {
		t.Fatalf("audit has %d entries, want one per distinct release (%d)", len(log), distinct)
	}
	if err := audit.Verify(nil, log); err != nil {
		t.Fatal(err)
	}
	inbox, _ := sq.Inbox(ctx, "errp", 1000)
	if len(inbox) != distinct {
		t.Fatalf("inbox has %d messages, want %d", len(inbox), distinct)
	}
}

// brokenBatches is a store whose group commits fail, as a full disk would.
type brokenBatches struct{ *store.SQL }

func (b brokenBatches) ReleaseBatch(_ context.Context, rs []store.Release) []error {
	errs := make([]error, len(rs))
	for i := range errs {
		errs[i] = store.ErrUnavailable
	}
	return errs
}

func (b brokenBatches) ReleaseBatchDeferred(ctx context.Context, rs []store.Release) ([]error, func() error) {
	return b.ReleaseBatch(ctx, rs), func() error { return nil }
}

// unsyncedBatches is a store whose commits go through but never become
// durable, as when the disk refuses the fsync after the write.
type unsyncedBatches struct {
	*store.SQL
	answered chan struct{} // closed when the first durable has been called
}

func (u unsyncedBatches) ReleaseBatchDeferred(_ context.Context, rs []store.Release) ([]error, func() error) {
	return make([]error, len(rs)), func() error {
		close(u.answered)
		return store.ErrUnavailable
	}
}

// A batch that is written but cannot be made durable is not acknowledged:
// every exchange in it fails closed.
func TestGroupCommitAnswersOnlyDurableBatches(t *testing.T) {
	f := newFixture(t)
	sq := f.store.Store.(*store.SQL)
	u := unsyncedBatches{SQL: sq, answered: make(chan struct{})}
	f.ex.store = u
	f.ex.GroupCommit()
	defer f.ex.Close()
	_, err := f.ex.Exchange(context.Background(), sampleSubmission(t, "errp"))
	var e *Error
	if !errors.As(err, &e) || e.Code != "store_failed" {
		t.Fatalf("err = %v, want store_failed", err)
	}
	select {
	case <-u.answered:
	default:
		t.Fatal("the exchange was answered without waiting for durability")
	}
}

// A failed group commit fails every exchange in it closed; after Close the
// exchanger still works, one commit at a time.
func TestGroupCommitFailsClosed(t *testing.T) {
	f := newFixture(t)
	sq := f.store.Store.(*store.SQL)
	f.ex.store = brokenBatches{sq}
	f.ex.GroupCommit()
	ctx := context.Background()
	_, err := f.ex.Exchange(ctx, sampleSubmission(t, "errp"))
	var e *Error
	if !errors.As(err, &e) || e.Code != "store_failed" {
		t.Fatalf("err = %v, want store_failed", err)
	}
	if inbox, _ := sq.Inbox(ctx, "errp", 10); len(inbox) != 0 {
		t.Fatalf("a failed commit released %d records", len(inbox))
	}
	f.ex.Close()
	f.ex.Close() // twice is harmless

	f.ex.store = sq
	f.ex.commit.store = sq
	if _, err := f.ex.Exchange(ctx, sampleSubmission(t, "errp")); err != nil {
		t.Fatalf("after Close: %v", err)
	}
	if inbox, _ := sq.Inbox(ctx, "errp", 10); len(inbox) != 1 {
		t.Fatalf("inbox has %d records after Close, want 1", len(inbox))
	}
}

// failingSigner is a key store whose signing key is unreachable.
type failingSigner struct{ keys.Signer }

func (failingSigner) SigningKey(context.Context, string) (jose.OpaqueSigner, error) {
	return nil, keys.ErrUnavailable
}

// If the batch cannot be signed, nothing in it is released, with group
// commit or without.
func TestUnsignableReleasesFailClosed(t *testing.T) {
	for _, group := range []bool{false, true} {
		f := newFixture(t)
		sq := f.store.Store.(*store.SQL)
		f.ex.store = sq
		f.ex.SignReleases(failingSigner{})
		if group {
			f.ex.GroupCommit()
		}
		ctx := context.Background()
		_, err := f.ex.Exchange(ctx, sampleSubmission(t, "errp"))
		var e *Error
		if !errors.As(err, &e) || e.Code != "signing_failed" {
			t.Fatalf("group commit %v: err = %v, want signing_failed", group, err)
		}
		if inbox, _ := sq.Inbox(ctx, "errp", 10); len(inbox) != 0 {
			t.Fatalf("group commit %v: an unsigned record was released", group)
		}
		if log, _ := sq.AuditLog(ctx, 0, 10); len(log) != 0 {
			t.Fatalf("group commit %v: an unreleased record was audited as released", group)
		}
		f.ex.Close()
	}
}
