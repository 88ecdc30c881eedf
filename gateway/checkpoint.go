package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
)

// Checkpointer signs the audit chain: a checkpoint every Every entries, and
// at least once a minute while entries arrive, so that at most a minute of
// entries is ever unsigned.
type Checkpointer struct {
	Store  store.AuditStore
	Signer keys.Signer
	Every  int64 // default 1000
	last   int64
	now    func() time.Time
}

// Checkpoint signs the chain up to its head, if anything is new.
func (c *Checkpointer) Checkpoint(ctx context.Context) (*audit.Checkpoint, error) {
	seq, hash, err := c.Store.AuditHead(ctx)
	if err != nil || seq == 0 || seq == c.last {
		return nil, err
	}
	cp, err := audit.Sign(ctx, c.Signer, seq, hash, audit.KindCheckpoint, c.clock())
	if err != nil {
		return nil, err
	}
	if err := c.Store.AddCheckpoint(ctx, cp); err != nil {
		return nil, err
	}
	c.last = seq
	return cp, nil
}

func (c *Checkpointer) clock() time.Time {
	if c.now != nil {
		return c.now()
	}
	return time.Now()
}

// Run checkpoints every Every entries, checking each second, and every
// minute in any case, until ctx is done.
func (c *Checkpointer) Run(ctx context.Context, log *slog.Logger) {
	every := c.Every
	if every <= 0 {
		every = 1000
	}
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	lastTime := time.Now()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		seq, _, err := c.Store.AuditHead(ctx)
		if err != nil || seq == c.last || (seq-c.last < every && time.Since(lastTime) < time.Minute) {
			continue
		}
		if _, err := c.Checkpoint(ctx); err != nil {
			log.Error("audit checkpoint failed", slog.String("cause", err.Error()))
			continue
		}
		lastTime = time.Now()
	}
}

// Truncate removes entries older than before, behind a signed truncation
// checkpoint; it returns how many were removed. Nothing is removed silently:
// VerifyLog checks the chain from that checkpoint on.
func (c *Checkpointer) Truncate(ctx context.Context, before time.Time) (int64, error) {
	seq, hash, err := c.Store.LastBefore(ctx, before)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	cp, err := audit.Sign(ctx, c.Signer, seq, hash, audit.KindTruncation, c.clock())
	if err != nil {
		return 0, fmt.Errorf("audit: sign the truncation: %w", err)
	}
	return c.Store.Truncate(ctx, cp)
}
