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

// walBackstop is the WAL size, in pages, at which a commit checkpoints by
// itself: only if the checkpointer has fallen far behind.
const walBackstop = 100_000

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
			// A failed or partial checkpoint is retried on the next tick;
			// the WAL holds every committed page until then.
			c.db.Exec(`PRAGMA wal_checkpoint(PASSIVE)`)
		}
	}
}

// shutdown stops the checkpointer after a last full checkpoint, which leaves
// the WAL empty when nothing else has the database open.
func (c *checkpointer) shutdown() {
	close(c.stop)
	<-c.done
	c.db.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`)
	c.db.Close()
}
