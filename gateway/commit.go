package gateway

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
)

// batchReleaser is a store that commits many releases in one transaction.
type batchReleaser interface {
	ReleaseBatch(ctx context.Context, rs []store.Release) []error
}

// deferredReleaser is a store whose commits become durable after they
// return (SQLite, store/sqlite_sync.go): durable waits for that. The
// committer writes the next batch while the last one is made durable, and
// answers a batch's callers only once durable has returned.
type deferredReleaser interface {
	ReleaseBatchDeferred(ctx context.Context, rs []store.Release) (errs []error, durable func() error)
}

// committer groups concurrent releases into one durable transaction (group
// commit): while one batch is being written, the next one gathers, and, on
// a store that makes commits durable afterwards, while one batch is being
// synced, the next one is written. Each caller is answered only after its
// release is durable, or has failed on its own; nothing is acknowledged
// early.
type committer struct {
	store    batchReleaser
	acks     chan ack                                      // batches written, to be answered once durable
	waiting  atomic.Int32                                  // batches written and not yet answered
	answered chan struct{}                                 // wakes the committer when a batch is answered
	sign     func(context.Context, []*store.Message) error // signs a batch before it is written
	reqs     chan *commitReq
	max      int

	mu     sync.RWMutex // guards closed against sends on a closed reqs
	closed bool
	done   chan struct{} // closed when every request has been answered
}

type commitReq struct {
	r    store.Release
	done chan error
}

// ack is a written batch whose callers are answered once it is durable.
type ack struct {
	batch   []*commitReq
	errs    []error
	durable func() error
}

// maxBatch bounds one group commit.
const maxBatch = 256

// minOverlap is the smallest batch written while the last one is still
// being made durable.
const minOverlap = 32

func newCommitter(s batchReleaser, sign func(context.Context, []*store.Message) error) *committer {
	c := &committer{store: s, sign: sign, reqs: make(chan *commitReq, 4*maxBatch), max: maxBatch, done: make(chan struct{}),
		acks: make(chan ack, 4), answered: make(chan struct{}, 1)}
	go c.answer()
	go c.run()
	return c
}

// answer answers each written batch's callers, in order, once it is durable.
func (c *committer) answer() {
	for a := range c.acks {
		err := a.durable()
		for i, r := range a.batch {
			if err != nil {
				// Even a duplicate: its receipt would name a release
				// that is not durable.
				r.done <- err
				continue
			}
			r.done <- a.errs[i]
		}
		c.waiting.Add(-1)
		select {
		case c.answered <- struct{}{}:
		default:
		}
	}
	close(c.done)
}

func (c *committer) run() {
	defer close(c.acks)
	var (
		batch []*commitReq
		rs    = make([]store.Release, 0, c.max)
	)
	for first := range c.reqs {
		batch, rs = make([]*commitReq, 0, c.max), append(rs[:0], first.r)
		batch = append(batch, first)
	gather:
		for len(batch) < c.max {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break gather
				}
				batch, rs = append(batch, r), append(rs, r.r)
			default:
				break gather
			}
		}
		// While the last batch is being made durable, a small batch waits
		// to grow: written at once, it would cost a commit for a few
		// records, and its callers would still wait for the next sync.
	grow:
		for c.waiting.Load() > 0 && len(batch) < minOverlap {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break grow
				}
				batch, rs = append(batch, r), append(rs, r.r)
			case <-c.answered:
			}
		}
		errs, durable := c.writeDeferred(rs)
		c.waiting.Add(1)
		c.acks <- ack{batch: batch, errs: errs, durable: durable}
	}
}

// write signs and commits one batch, and returns once it is durable.
func (c *committer) write(rs []store.Release) []error {
	errs, durable := c.writeDeferred(rs)
	if err := durable(); err != nil {
		return failAll(len(rs), err)
	}
	return errs
}

// writeDeferred signs and commits one batch, returning before it is
// durable on a store that makes commits durable afterwards. If the batch
// cannot be signed, no release in it is written.
func (c *committer) writeDeferred(rs []store.Release) ([]error, func() error) {
	durable := func() error { return nil }
	if err := c.signAll(rs); err != nil {
		return failAll(len(rs), err), durable
	}
	if d, ok := c.store.(deferredReleaser); ok {
		return d.ReleaseBatchDeferred(context.Background(), rs)
	}
	return c.store.ReleaseBatch(context.Background(), rs), durable
}

func (c *committer) signAll(rs []store.Release) error {
	msgs := make([]*store.Message, len(rs))
	for i, r := range rs {
		msgs[i] = r.Message
	}
	return c.sign(context.Background(), msgs)
}

func failAll(n int, err error) []error {
	errs := make([]error, n)
	for i := range errs {
		errs[i] = err
	}
	return errs
}

// release queues a release and waits until it is durable or has failed.
// After close it commits the release on its own.
func (c *committer) release(ctx context.Context, m *store.Message, e *audit.Entry) error {
	r := store.Release{Message: m, Entry: e}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return c.write([]store.Release{r})[0]
	}
	req := &commitReq{r: r, done: make(chan error, 1)}
	c.reqs <- req
	c.mu.RUnlock()
	return <-req.done
}

// close stops the committer once the queued releases are written. It may be
// called more than once.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.reqs)
	}
	c.mu.Unlock()
	<-c.done
}
