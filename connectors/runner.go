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

// DefaultInFlight is how many records a bulk run keeps in flight
// (`tumar connector run --in-flight`). The gateway commits together the
// releases that wait while it writes the last batch, up to 256 a commit, so
// more in flight makes larger commits, each paying its signature, commit
// and sync once: 512 loaded a million rows 4% faster than 256 and the
// in-process exchange ran 15% faster, for about 8 MiB more memory
// (docs/benchmarks.md, "A tenth session"); 1,024 gained a little more for
// 30 MiB.
const DefaultInFlight = 512

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
	size := r.BatchSize
	if size <= 0 {
		size = 500
	}
	workers := r.Workers
	if workers <= 0 {
		workers = 4
	}
	ctx, cancel := context.WithCancel(ctx)
	var stages sync.WaitGroup
	defer func() { // nothing is left running on return
		cancel()
		stages.Wait()
	}()

	// Three stages, so that neither the source nor the gateway waits for
	// the other: a reader reads the next batch while this one is
	// submitted; the workers take the next batch's items while this one's
	// last commits are made durable; and this goroutine goes through each
	// batch's results in order, once all of them are in.
	type read struct {
		b   *Batch
		err error
	}
	reads := make(chan read, 1)
	stages.Go(func() {
		defer close(reads)
		for {
			b, err := r.Connector.Read(ctx, size)
			select {
			case reads <- read{b, err}:
			case <-ctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	jobs := make(chan job)
	for range workers {
		stages.Go(func() {
			for j := range jobs {
				j.submit(ctx, r)
			}
		})
	}
	submitted := make(chan *inFlight, 1)
	stages.Go(func() {
		defer close(jobs)
		defer close(submitted)
		for rd := range reads {
			f := &inFlight{b: rd.b, err: rd.err}
			if rd.b != nil {
				f.out = make([]result, len(rd.b.Items))
				f.wg.Add(len(rd.b.Items))
				for i := range rd.b.Items {
					select {
					case jobs <- job{f, i}:
					case <-ctx.Done():
						f.wg.Add(i - len(rd.b.Items)) // never submitted
						return
					}
				}
			}
			select {
			case submitted <- f:
			case <-ctx.Done():
				return
			}
		}
	})

	for f := range submitted {
		if f.b != nil {
			f.wg.Wait()
			if err := r.process(ctx, f.b, f.out, &st); err != nil {
				return st, err
			}
			if r.Progress != nil {
				r.Progress(st)
			}
		}
		if errors.Is(f.err, io.EOF) {
			return st, nil
		}
		if f.err != nil {
			return st, fmt.Errorf("connectors: %s: read: %w", r.Connector.Name(), f.err)
		}
	}
	if err := ctx.Err(); err != nil {
		return st, err
	}
	return st, fmt.Errorf("connectors: %s: read: the source ended without saying so", r.Connector.Name())
}

// inFlight is a batch whose items are being submitted.
type inFlight struct {
	b   *Batch
	err error // the read's, after the batch
	out []result
	wg  sync.WaitGroup // one per item, done once it has its result
}

// job is one item of a batch in flight.
type job struct {
	f *inFlight
	i int
}

func (j job) submit(ctx context.Context, r *Runner) {
	defer j.f.wg.Done()
	it := j.f.b.Items[j.i]
	res := &j.f.out[j.i]
	res.receipt, res.err = r.Sink.Exchange(ctx, &gateway.Submission{
		Source: r.Source, Destination: r.Target.Destination, Purpose: r.Target.Purpose, LegalBasis: r.Target.LegalBasis,
		SourceRecordID: it.SourceID, Record: it.Record,
	})
}

func (r *Runner) process(ctx context.Context, b *Batch, results []result, st *Stats) error {
	for i := range b.Rejected {
		if err := r.reject(ctx, &b.Rejected[i], st); err != nil {
			return err
		}
	}
	st.Read += len(b.Items) + len(b.Rejected)
	r.Metrics.read(r.Connector.Name(), len(b.Items)+len(b.Rejected))
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
