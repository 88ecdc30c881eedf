package consular

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/gateway/store"
)

// ErrSequence means a bundle reuses a sequence number another bundle took.
var ErrSequence = errors.New("consular: this sequence number was already used by another bundle")

// Importer imports bundles into the gateway.
type Importer struct {
	Checker *Checker
	Sink    connectors.Sink
	Store   store.BundleStore
}

// Report says what an import did.
type Report struct {
	BundleID   string    `json:"bundle_id"`
	Sequence   uint64    `json:"sequence"`
	Already    bool      `json:"already_imported"`
	Released   int       `json:"released"`
	Duplicates int       `json:"duplicates"`
	Refused    []Refusal `json:"refused,omitempty"`
}

// Refusal is one record of a bundle the gateway did not release.
type Refusal struct {
	Record         int    `json:"record"` // 1-based position in the bundle
	SourceRecordID string `json:"source_record_id,omitempty"`
	Reason         string `json:"reason"`
}

// Import checks a bundle sent by the consulate from and submits its records.
// A bundle that fails any check is refused whole. A bundle imported before
// is a no-op. A gateway failure stops the import with an error; importing
// the bundle again then finishes it without duplicating what went through.
func (im *Importer) Import(ctx context.Context, bundle []byte, from string) (*Report, error) {
	b, err := im.Checker.Open(bundle, from)
	if err != nil {
		return nil, err
	}
	rep := &Report{BundleID: b.Manifest.BundleID, Sequence: b.Manifest.Sequence}
	prev, err := im.Store.Bundle(ctx, from, b.Manifest.Sequence)
	switch {
	case err == nil && prev.BundleID == b.Manifest.BundleID:
		rep.Already = true
		return rep, nil
	case err == nil:
		return nil, fmt.Errorf("%w (sequence %d)", ErrSequence, b.Manifest.Sequence)
	case !errors.Is(err, store.ErrNotFound):
		return nil, err
	}
	for i, l := range b.Lines {
		if err := im.submit(ctx, from, i+1, l, rep); err != nil {
			return rep, err
		}
	}
	err = im.Store.RecordBundle(ctx, &store.Bundle{Consulate: from, Sequence: b.Manifest.Sequence, BundleID: b.Manifest.BundleID,
		Digest: b.Digest, ImportedAt: time.Now()})
	if errors.Is(err, store.ErrDuplicate) {
		return nil, fmt.Errorf("%w (sequence %d)", ErrSequence, b.Manifest.Sequence)
	}
	return rep, err
}

func (im *Importer) submit(ctx context.Context, from string, n int, l Line, rep *Report) error {
	var rec htcds.Record
	if err := rec.UnmarshalJSON(l.Record); err != nil {
		rep.Refused = append(rep.Refused, Refusal{Record: n, SourceRecordID: l.SourceRecordID, Reason: err.Error()})
		return nil
	}
	r, err := im.Sink.Exchange(ctx, &gateway.Submission{Source: from, Destination: l.Destination, Purpose: l.Purpose,
		LegalBasis: l.LegalBasis, SourceRecordID: l.SourceRecordID, Record: &rec})
	var ge *gateway.Error
	switch {
	case err == nil && r.Outcome == audit.Duplicate:
		rep.Duplicates++
	case err == nil:
		rep.Released++
	case errors.As(err, &ge) && ge.Status < 500:
		rep.Refused = append(rep.Refused, Refusal{Record: n, SourceRecordID: l.SourceRecordID, Reason: ge.Code + ": " + ge.Message})
	default:
		return fmt.Errorf("consular: record %d: the gateway failed; import the bundle again when it is back: %w", n, err)
	}
	return nil
}
