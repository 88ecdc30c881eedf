package connectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
)

// Sink takes submissions: the gateway's Exchanger in process.
type Sink interface {
	Exchange(ctx context.Context, sub *gateway.Submission) (*gateway.Receipt, error)
}

// Quarantine keeps rejected items, sealed.
type Quarantine struct {
	Store  store.QuarantineStore
	Sealer keys.Sealer
}

// Put seals a rejected item and stores it with its position and reason.
func (q *Quarantine) Put(ctx context.Context, connector string, r *Rejected) error {
	id := uuid.Must(uuid.NewV7()).String()
	sealed, err := q.Sealer.Seal(ctx, keys.SealingKeyQuarantine, r.Raw.Encode(), []byte(id))
	if err != nil {
		return fmt.Errorf("connectors: seal quarantined item: %w", err)
	}
	return q.Store.Quarantine(ctx, &store.Quarantined{ID: id, Connector: connector, Position: r.Position, SourceRecordID: r.SourceID,
		Reason: r.Reason, Sealed: sealed, CreatedAt: time.Now()})
}

// Open unseals a quarantined item.
func (q *Quarantine) Open(ctx context.Context, item *store.Quarantined) (Raw, error) {
	plain, err := q.Sealer.Open(ctx, keys.SealingKeyQuarantine, item.Sealed, []byte(item.ID))
	if err != nil {
		return Raw{}, fmt.Errorf("connectors: open quarantined item %s: %w", item.ID, err)
	}
	return DecodeRaw(plain)
}

// Runner moves one connector's records into the gateway.
type Runner struct {
	Connector  Connector
	Source     string // the agency the records come from
	Target     Target
	Sink       Sink
	Quarantine *Quarantine
	Metrics    *Metrics
	BatchSize  int         // items per Read; default 500
	Workers    int         // submissions in flight; default 4
	Progress   func(Stats) // called after each batch, if set
}

// Target is where and why the records go.
type Target struct {
	Destination, Purpose, LegalBasis string
}

// Stats count a run.
type Stats struct {
	Read, Accepted, Duplicates, Rejected int
	ByReason                             map[string]int
}

// Run reads the connector to its end. An item the gateway refuses (4xx) and
// an item the connector could not read are quarantined and the run goes on.
// A failure of the gateway itself (5xx: keys, policy or store down) or of the
// quarantine stops the run with an error: nothing read after that point is
// lost, since re-running is idempotent.
func (r *Runner) Run(ctx context.Context) (Stats, error) {
	st := Stats{ByReason: map[string]int{}}
	batch := r.BatchSize
	if batch <= 0 {
		batch = 500
	}
	for {
		b, err := r.Connector.Read(ctx, batch)
		if b != nil {
			if perr := r.process(ctx, b, &st); perr != nil {
				return st, perr
			}
			if r.Progress != nil {
				r.Progress(st)
			}
		}
		if errors.Is(err, io.EOF) {
			return st, nil
		}
		if err != nil {
			return st, fmt.Errorf("connectors: %s: read: %w", r.Connector.Name(), err)
		}
	}
}

func (r *Runner) process(ctx context.Context, b *Batch, st *Stats) error {
	for i := range b.Rejected {
		if err := r.reject(ctx, &b.Rejected[i], st); err != nil {
			return err
		}
	}
	st.Read += len(b.Items) + len(b.Rejected)
	r.Metrics.read(r.Connector.Name(), len(b.Items)+len(b.Rejected))
	results := r.submitAll(ctx, b.Items)
	for i, res := range results {
		switch {
		case res.err == nil && res.receipt.Outcome == audit.Duplicate:
			st.Duplicates++
			r.Metrics.accepted(r.Connector.Name(), "duplicate")
		case res.err == nil:
			st.Accepted++
			r.Metrics.accepted(r.Connector.Name(), "released")
		case refusedByGateway(res.err):
			it := b.Items[i]
			var ge *gateway.Error
			errors.As(res.err, &ge)
			rej := &Rejected{Position: it.Position, SourceID: it.SourceID, Reason: gatewayReason(ge), Code: ge.Code, Raw: it.Raw}
			if err := r.reject(ctx, rej, st); err != nil {
				return err
			}
		default:
			return fmt.Errorf("connectors: %s: %s: the gateway failed, the run stops (re-run it when the gateway is back; nothing is duplicated): %w",
				r.Connector.Name(), b.Items[i].Position, res.err)
		}
	}
	return nil
}

type result struct {
	receipt *gateway.Receipt
	err     error
}

// submitAll submits items with up to Workers in flight, results in order.
func (r *Runner) submitAll(ctx context.Context, items []Item) []result {
	workers := r.Workers
	if workers <= 0 {
		workers = 4
	}
	out := make([]result, len(items))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(workers, len(items)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				it := items[i]
				out[i].receipt, out[i].err = r.Sink.Exchange(ctx, &gateway.Submission{
					Source: r.Source, Destination: r.Target.Destination, Purpose: r.Target.Purpose, LegalBasis: r.Target.LegalBasis,
					SourceRecordID: it.SourceID, Record: it.Record,
				})
			}
		}()
	}
	for i := range items {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

func (r *Runner) reject(ctx context.Context, rej *Rejected, st *Stats) error {
	if err := r.Quarantine.Put(ctx, r.Connector.Name(), rej); err != nil {
		return err
	}
	st.Rejected++
	st.ByReason[rej.Code]++
	r.Metrics.rejected(r.Connector.Name(), rej.Code)
	return nil
}

// refusedByGateway reports whether the gateway refused an item for itself
// (bad input, denied by policy), as opposed to failing.
func refusedByGateway(err error) bool {
	var ge *gateway.Error
	return errors.As(err, &ge) && ge.Status >= 400 && ge.Status < 500 && ge.Status != http.StatusTooManyRequests
}

func gatewayReason(ge *gateway.Error) string {
	s := ge.Code + ": " + ge.Message
	for _, p := range ge.Problems {
		s += "; field " + p.Field + ": " + p.Problem
	}
	for _, r := range ge.Reasons {
		s += "; " + r
	}
	return s
}
