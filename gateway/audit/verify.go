package audit

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-json-experiment/json/jsontext"
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

// RawEntry is an entry as stored: the bytes its hash was taken over, its
// hash, and the sequence number of the row that holds it.
type RawEntry struct {
	Seq        int64
	Body, Hash []byte
}

// RawLog is a Log that can hand out its entries as stored. VerifyLog then
// hashes the stored bytes and reads only the sequence number and previous
// hash out of them, instead of decoding and encoding every entry again:
// several times faster, and stricter, since any change to the bytes shows.
type RawLog interface {
	AuditLogRaw(ctx context.Context, after int64, limit int) ([]RawEntry, error)
}

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
		page, damaged, err := readChain(ctx, log, after)
		if err != nil {
			return nil, err
		}
		if len(page) == 0 && damaged == nil {
			break
		}
		for i := range page {
			c := &page[i]
			if c.seq != next {
				if rep.Entries == 0 && i == 0 {
					return fail(next, "entries from seq %d to %d are missing and no signed truncation checkpoint covers them", next, c.seq-1)
				}
				return fail(next, "entry %d is missing: the sequence jumps to %d", next, c.seq)
			}
			if !bytes.Equal(c.prev, prev) {
				return fail(c.seq, "%v", fmt.Errorf("%w at seq %d: does not follow the entry before it", ErrBroken, c.seq))
			}
			if c.content != nil {
				return fail(c.seq, "%v", c.content)
			}
			if h, ok := bySeq[c.seq]; ok && !bytes.Equal(h, c.hash) {
				return fail(c.seq, "entry %d does not match its signed checkpoint: the chain was rewritten", c.seq)
			}
			if rep.Entries == 0 && i == 0 {
				rep.FirstSeq = c.seq
			}
			prev, next = c.hash, c.seq+1
		}
		if damaged != nil {
			if damaged.Seq != next {
				return fail(next, "entry %d is missing: the sequence jumps to %d", next, damaged.Seq)
			}
			return fail(damaged.Seq, "entry %d cannot be read, so its stored bytes were altered: %v", damaged.Seq, damaged.Err)
		}
		after = page[len(page)-1].row
		rep.Entries += int64(len(page))
		rep.LastSeq = page[len(page)-1].seq
	}
	if rep.LastCheckpoint > rep.LastSeq {
		return fail(rep.LastSeq+1, "the log ends at entry %d but a signed checkpoint covers entry %d: entries were cut off the end", rep.LastSeq, rep.LastCheckpoint)
	}
	rep.Unsigned = rep.LastSeq - max(rep.LastCheckpoint, rep.TruncatedUpTo)
	rep.OK = true
	return rep, nil
}

// chained is what verification reads of an entry: its sequence number and
// previous hash as its content states them, the row it was read from, its
// stored hash, and why its content does not match that hash, if it does not.
type chained struct {
	seq, row   int64
	prev, hash []byte
	content    error
}

// readChain reads the page of entries after row after, as stored when the
// log can, decoded when it cannot. A damaged entry ends the page.
func readChain(ctx context.Context, log Log, after int64) ([]chained, *DamagedError, error) {
	var damaged *DamagedError
	if raw, ok := log.(RawLog); ok {
		page, err := raw.AuditLogRaw(ctx, after, pageSize)
		if err != nil && !errors.As(err, &damaged) {
			return nil, nil, err
		}
		out := make([]chained, 0, len(page))
		for _, r := range page {
			c, err := parseChained(r)
			if err != nil {
				return out, &DamagedError{Seq: r.Seq, Err: err}, nil
			}
			out = append(out, c)
		}
		return out, damaged, nil
	}
	page, err := log.AuditLog(ctx, after, pageSize)
	if err != nil && !errors.As(err, &damaged) {
		return nil, nil, err
	}
	out := make([]chained, len(page))
	for i := range page {
		e := &page[i]
		out[i] = chained{seq: e.Seq, row: e.Seq, prev: e.PrevHash, hash: e.Hash}
		h, err := e.digest()
		switch {
		case err != nil:
			out[i].content = err
		case !bytes.Equal(h, e.Hash):
			out[i].content = fmt.Errorf("%w at seq %d: content does not match its hash", ErrBroken, e.Seq)
		}
	}
	return out, damaged, nil
}

// parseChained hashes a stored entry and reads its sequence number and
// previous hash. It holds the bytes to the form appendHashed writes, so
// that an entry it accepts is one the store can decode and show with the
// same sequence number: "seq" first, only Entry's member names, each once
// and of its kind, nothing after the object.
func parseChained(r RawEntry) (chained, error) {
	c := chained{row: r.Seq, hash: r.Hash}
	dec := jsontext.NewDecoder(bytes.NewReader(r.Body))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return c, errors.New("not a JSON object")
	}
	for first := true; dec.PeekKind() != '}'; first = false {
		tok, err := dec.ReadToken()
		if err != nil {
			return c, err
		}
		name := tok.String()
		if first != (name == "seq") {
			return c, errors.New(`"seq" is not the first member`)
		}
		if err := c.member(dec, name); err != nil {
			return c, err
		}
	}
	if _, err := dec.ReadToken(); err != nil {
		return c, err
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return c, errors.New("bytes after the entry")
	}
	if c.seq != c.row {
		return c, fmt.Errorf("its content says entry %d", c.seq)
	}
	if sum := sha256.Sum256(r.Body); !bytes.Equal(sum[:], r.Hash) {
		c.content = fmt.Errorf("%w at seq %d: content does not match its hash", ErrBroken, c.seq)
	}
	return c, nil
}

// member reads the value of one member of a stored entry, checking its
// kind.
func (c *chained) member(dec *jsontext.Decoder, name string) error {
	switch name {
	case "seq":
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		if c.seq, err = strconv.ParseInt(string(v), 10, 64); err != nil {
			return errors.New("seq is not a whole number")
		}
	case "prev_hash":
		v, err := dec.ReadValue()
		if err != nil || v.Kind() == 'n' {
			return err
		}
		s, err := jsontext.AppendUnquote(nil, v)
		if err != nil {
			return errors.New("prev_hash is not a string")
		}
		if c.prev, err = base64.StdEncoding.AppendDecode(nil, s); err != nil {
			return errors.New("prev_hash is not base64")
		}
	case "time":
		v, err := dec.ReadValue()
		if err != nil {
			return err
		}
		var t time.Time
		if err := t.UnmarshalJSON(v); err != nil {
			return errors.New("time is not a time")
		}
	case "decision_id", "event", "token_id", "source", "destination", "purpose", "legal_basis", "policy_revision", "rule", "outcome", "subject":
		return readString(dec, name)
	case "fields":
		return readEach(dec, '[', func(string) error {
			return readEach(dec, '{', func(n string) error {
				if n != "field" && n != "action" && n != "rule" {
					return errors.New("a field decision is malformed")
				}
				return readString(dec, "a field decision")
			})
		})
	case "reasons":
		return readEach(dec, '[', func(string) error { return readString(dec, name) })
	case "details":
		return readEach(dec, '{', func(string) error { return readString(dec, name) })
	default:
		return errors.New("a member that is not an audit entry's")
	}
	return nil
}

// readString reads a string, of the member named what.
func readString(dec *jsontext.Decoder, what string) error {
	if dec.PeekKind() != '"' {
		return fmt.Errorf("%s is not a string", what)
	}
	_, err := dec.ReadToken()
	return err
}

// readEach reads an array (open '[') or object ('{'), calling fn to read
// each element, or each member's value after its name.
func readEach(dec *jsontext.Decoder, open byte, fn func(name string) error) error {
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != jsontext.Kind(open) {
		return errors.New("a member of the wrong kind")
	}
	for dec.PeekKind() != jsontext.Kind(open+2) { // ] or }
		name := ""
		if open == '{' {
			tok, err := dec.ReadToken()
			if err != nil {
				return err
			}
			name = tok.String()
		}
		if err := fn(name); err != nil {
			return err
		}
	}
	_, err := dec.ReadToken()
	return err
}
