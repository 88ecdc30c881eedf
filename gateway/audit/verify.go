package audit

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/go-jose/go-jose/v4"
)

// Log is what VerifyLog reads.
type Log interface {
	AuditLog(ctx context.Context, after int64, limit int) ([]Entry, error)
	Checkpoints(ctx context.Context) ([]Checkpoint, error)
}

// DamagedError is a Log's error for an entry it holds but cannot read: its
// stored bytes were altered so that they no longer decode. A Log returns it
// with the entries before the damaged one.
type DamagedError struct {
	Seq int64
	Err error
}

func (e *DamagedError) Error() string {
	return fmt.Sprintf("audit: entry %d is damaged: %v", e.Seq, e.Err)
}

func (e *DamagedError) Unwrap() error { return e.Err }

// Report is the outcome of verifying a whole log.
type Report struct {
	OK             bool   `json:"ok"`
	Problem        string `json:"problem,omitempty"` // what is wrong, naming the first bad entry
	BadSeq         int64  `json:"bad_seq,omitempty"` // the first entry that does not verify
	Entries        int64  `json:"entries"`           // entries read
	FirstSeq       int64  `json:"first_seq"`         // after retention, the oldest kept
	LastSeq        int64  `json:"last_seq"`          // the newest
	Checkpoints    int    `json:"checkpoints"`       // signed checkpoints verified
	TruncatedUpTo  int64  `json:"truncated_up_to"`   // entries up to here were removed behind a signed truncation
	Unsigned       int64  `json:"unsigned"`          // entries after the last checkpoint, not yet signed
	LastCheckpoint int64  `json:"last_checkpoint"`   // seq of the newest checkpoint
}

// pageSize is how many entries VerifyLog reads at a time.
const pageSize = 10000

// VerifyLog checks a whole log: every checkpoint's signature, the hash chain
// from the last signed truncation (or the first entry) to the end, every
// checkpoint against the entry it covers, and that no checkpoint lies past
// the end. It names the first entry that does not verify. An error means the
// log could not be read; a broken log is a Report with OK false.
func VerifyLog(ctx context.Context, log Log, keys jose.JSONWebKeySet) (*Report, error) {
	cps, err := log.Checkpoints(ctx)
	if err != nil {
		return nil, err
	}
	rep := &Report{}
	fail := func(seq int64, format string, args ...any) (*Report, error) {
		rep.BadSeq, rep.Problem = seq, fmt.Sprintf(format, args...)
		return rep, nil
	}
	bySeq := map[int64][]byte{}
	var prev []byte
	for _, cp := range cps {
		if err := cp.Verify(keys); err != nil {
			return fail(cp.Seq, "%v", err)
		}
		rep.Checkpoints++
		if cp.Kind == KindTruncation && cp.Seq >= rep.TruncatedUpTo {
			rep.TruncatedUpTo, prev = cp.Seq, cp.Hash
		}
		if cp.Kind == KindCheckpoint {
			bySeq[cp.Seq] = cp.Hash
			rep.LastCheckpoint = max(rep.LastCheckpoint, cp.Seq)
		}
	}
	next, after := rep.TruncatedUpTo+1, int64(0)
	for {
		page, err := log.AuditLog(ctx, after, pageSize)
		var damaged *DamagedError
		if err != nil && !errors.As(err, &damaged) {
			return nil, err
		}
		if len(page) == 0 && damaged == nil {
			break
		}
		for i := range page {
			e := &page[i]
			if e.Seq != next {
				if rep.Entries == 0 && i == 0 {
					return fail(next, "entries from seq %d to %d are missing and no signed truncation checkpoint covers them", next, e.Seq-1)
				}
				return fail(next, "entry %d is missing: the sequence jumps to %d", next, e.Seq)
			}
			if err := Verify(prev, page[i:i+1]); err != nil {
				return fail(e.Seq, "%v", err)
			}
			if h, ok := bySeq[e.Seq]; ok && !bytes.Equal(h, e.Hash) {
				return fail(e.Seq, "entry %d does not match its signed checkpoint: the chain was rewritten", e.Seq)
			}
			if rep.Entries == 0 && i == 0 {
				rep.FirstSeq = e.Seq
			}
			prev, next = e.Hash, e.Seq+1
		}
		if damaged != nil {
			if damaged.Seq != next {
				return fail(next, "entry %d is missing: the sequence jumps to %d", next, damaged.Seq)
			}
			return fail(damaged.Seq, "entry %d cannot be read, so its stored bytes were altered: %v", damaged.Seq, damaged.Err)
		}
		after = page[len(page)-1].Seq
		rep.Entries += int64(len(page))
		rep.LastSeq = after
	}
	if rep.LastCheckpoint > rep.LastSeq {
		return fail(rep.LastSeq+1, "the log ends at entry %d but a signed checkpoint covers entry %d: entries were cut off the end", rep.LastSeq, rep.LastCheckpoint)
	}
	rep.Unsigned = rep.LastSeq - max(rep.LastCheckpoint, rep.TruncatedUpTo)
	rep.OK = true
	return rep, nil
}
