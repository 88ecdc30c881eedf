package store

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"sync"
	"time"
)

// checkpointEvery is how often the checkpointer copies the WAL into the
// database file.
const checkpointEvery = 250 * time.Millisecond

// walBackstop is the WAL size, in frames, at which a commit checkpoints by
// itself: a WAL of about 157 MiB with 8 KiB pages, 78 MiB with 4 KiB. Under a writer that never stops,
// passive checkpoints rarely copy the last frames, so the WAL grows to it
// and restarts from there; the checkpointer has copied most of it by then.
const walBackstop = 20_000

// walBehind is how many WAL frames may wait to be copied before the store
// reports itself unready: checkpoints are failing or starved.
const walBehind = 2 * walBackstop

// checkpointer copies committed pages from the WAL into the database file on
// its own connection (PASSIVE checkpoints), so that a commit never waits for
// that copy and its fsync: with SQLite's automatic checkpoint, the commit
// that crosses the threshold pays for it, and every exchange waiting on that
// group commit with it.
type checkpointer struct {
	db    *sql.DB
	stop  chan struct{}
	done  chan struct{}
	close func() // stops it once, however often called

	mu      sync.Mutex
	lastErr error // of the last checkpoint; nil when it ran
	behind  int   // WAL frames the last checkpoint could not copy yet
}

func startCheckpointer(ctx context.Context, path string) (*checkpointer, error) {
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(10000)")
	db, err := sql.Open("sqlite", "file:"+path+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("%w: open %s for checkpoints: %w", ErrUnavailable, path, err)
	}
	db.SetMaxOpenConns(1)
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("%w: open %s for checkpoints: %w", ErrUnavailable, path, err)
	}
	c := &checkpointer{db: db, stop: make(chan struct{}), done: make(chan struct{})}
	c.close = sync.OnceFunc(c.shutdown)
	go c.run()
	return c, nil
}

func (c *checkpointer) run() {
	defer close(c.done)
	t := time.NewTicker(checkpointEvery)
	defer t.Stop()
	for {
		select {
		case <-c.stop:
			return
		case <-t.C:
			c.checkpoint()
		}
	}
}

// checkpoint copies what it can. A failed or partial checkpoint is retried
// on the next tick; the WAL holds every committed page until then, and
// health reports it when it falls far behind.
func (c *checkpointer) checkpoint() {
	var busy, frames, copied int
	err := c.db.QueryRow(`PRAGMA wal_checkpoint(PASSIVE)`).Scan(&busy, &frames, &copied)
	c.mu.Lock()
	defer c.mu.Unlock()
	c.lastErr = err
	if err == nil {
		c.behind = frames - copied
	}
}

// health is an error when the last checkpoint failed or the WAL holds more
// than walBehind frames not yet copied into the database file.
func (c *checkpointer) health() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch {
	case c.lastErr != nil:
		return fmt.Errorf("%w: WAL checkpoint: %w", ErrUnavailable, c.lastErr)
	case c.behind > walBehind:
		return fmt.Errorf("%w: WAL checkpoints are %d frames behind", ErrUnavailable, c.behind)
	}
	return nil
}

// shutdown stops the checkpointer after a last full checkpoint, which leaves
// the WAL empty when nothing else is using the database. The store calls it
// after closing its readers and before closing its writer. If the last
// checkpoint cannot run, the writer's close checkpoints instead.
func (c *checkpointer) shutdown() {
	close(c.stop)
	<-c.done
	c.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	c.db.Close()
}
