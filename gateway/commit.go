package gateway

import (
	"context"
	"sync"

	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
)

// batchReleaser is a store that commits many releases in one transaction.
type batchReleaser interface {
	ReleaseBatch(ctx context.Context, rs []store.Release) []error
}

// committer groups concurrent releases into one durable transaction (group
// commit): while one batch is being written, the next one gathers. Each
// caller is answered only after its release is durable, or has failed on its
// own; nothing is acknowledged early.
type committer struct {
	store batchReleaser
	sign  func(context.Context, []*store.Message) error // signs a batch before it is written
	reqs  chan *commitReq
	max   int

	mu     sync.RWMutex // guards closed against sends on a closed reqs
	closed bool
	done   chan struct{} // closed when run has answered every request
}

type commitReq struct {
	r    store.Release
	done chan error
}

// maxBatch bounds one group commit.
const maxBatch = 256

func newCommitter(s batchReleaser, sign func(context.Context, []*store.Message) error) *committer {
	c := &committer{store: s, sign: sign, reqs: make(chan *commitReq, 4*maxBatch), max: maxBatch, done: make(chan struct{})}
	go c.run()
	return c
}

func (c *committer) run() {
	defer close(c.done)
	batch := make([]*commitReq, 0, c.max)
	rs := make([]store.Release, 0, c.max)
	for first := range c.reqs {
		batch, rs = append(batch[:0], first), append(rs[:0], first.r)
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
		errs := c.write(rs)
		for i, r := range batch {
			r.done <- errs[i]
		}
	}
}

// write signs and commits one batch. If the batch cannot be signed, no
// release in it is written.
func (c *committer) write(rs []store.Release) []error {
	msgs := make([]*store.Message, len(rs))
	for i, r := range rs {
		msgs[i] = r.Message
	}
	if err := c.sign(context.Background(), msgs); err != nil {
		errs := make([]error, len(rs))
		for i := range errs {
			errs[i] = err
		}
		return errs
	}
	return c.store.ReleaseBatch(context.Background(), rs)
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
