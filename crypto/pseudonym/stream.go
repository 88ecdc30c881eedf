// Package pseudonym turns streams of identities into the match-key
// pseudonyms the gateway would compute, for bulk work and for audits
// (`tumar pseudonymize`). The identities are read, normalised, HMAC'd in the
// requested domain and forgotten; only pseudonyms are written.
package pseudonym

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"

	"github.com/tumarproject/tumar/crypto/identity"
	"github.com/tumarproject/tumar/crypto/keys"
)

// Line is one input line: any field may be missing.
type Line struct {
	First     string `json:"first"`
	Last      string `json:"last"`
	Birthdate string `json:"birthdate"`
	Document  string `json:"document"`
	Phone     string `json:"phone"`
}

// Result is one output line: the pseudonyms of the line's match keys, or why
// there are none. Error never contains an input value. Old holds the same
// keys under an earlier epoch, when Stream is asked to relink.
type Result struct {
	Keys  []string `json:"keys,omitempty"`
	Old   []string `json:"old,omitempty"`
	Error string   `json:"error,omitempty"`
}

// Options tune Stream.
type Options struct {
	// FromEpoch, when not zero, also computes every key under that earlier
	// epoch of the domain: the old-to-new map that re-pseudonymises stored
	// links after a rotation.
	FromEpoch uint32
}

// Stats counts what Stream did.
type Stats struct {
	Lines, Keyed, Failed int
}

// MaxLineBytes bounds one input line.
const MaxLineBytes = 64 << 10

// batchLines is how many lines share one call to the key backend.
const batchLines = 512

// Stream reads JSON lines of identities from r and writes one JSON line per
// input line to w, in the same order. A bad line gets an error line naming its
// line number and the problem; the others go on. An error is returned only
// when reading, writing or the key backend fails: then nothing more is
// written, and no line is ever given a pseudonym it should not have.
func Stream(ctx context.Context, p keys.Pseudonymizer, domain string, r io.Reader, w io.Writer, opt Options) (Stats, error) {
	var st Stats
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 4096), MaxLineBytes)
	bw := bufio.NewWriter(w)
	b := batch{fromEpoch: opt.FromEpoch}
	for sc.Scan() {
		st.Lines++
		b.add(st.Lines, sc.Bytes())
		if len(b.results) == batchLines {
			if err := b.flush(ctx, p, domain, bw, &st); err != nil {
				return st, err
			}
		}
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			err = fmt.Errorf("line %d is longer than %d bytes", st.Lines+1, MaxLineBytes)
		}
		// The lines read so far still get their answers.
		ferr := b.flush(ctx, p, domain, bw, &st)
		return st, errors.Join(fmt.Errorf("pseudonymize: read: %w", err), ferr, bw.Flush())
	}
	if err := b.flush(ctx, p, domain, bw, &st); err != nil {
		return st, err
	}
	return st, bw.Flush()
}

// batch gathers lines so that their match keys are pseudonymised together.
type batch struct {
	fromEpoch uint32
	results   []Result
	owners    []int // for each input, the index of its line in results
	inputs    [][]byte
}

func (b *batch) add(n int, raw []byte) {
	i := len(b.results)
	id, err := parseLine(raw)
	if err != nil {
		b.results = append(b.results, Result{Error: "line " + strconv.Itoa(n) + ": " + err.Error()})
		return
	}
	mks, err := identity.MatchKeys(id)
	if err != nil {
		b.results = append(b.results, Result{Error: "line " + strconv.Itoa(n) + ": " + err.Error()})
		return
	}
	b.results = append(b.results, Result{Keys: make([]string, 0, len(mks))})
	for _, k := range mks {
		b.inputs = append(b.inputs, k.Input())
		b.owners = append(b.owners, i)
	}
}

func (b *batch) flush(ctx context.Context, p keys.Pseudonymizer, domain string, w *bufio.Writer, st *Stats) error {
	if len(b.inputs) > 0 {
		ps, err := p.Pseudonymize(ctx, domain, b.inputs)
		if err != nil {
			return fmt.Errorf("pseudonymize: %w", err)
		}
		for j, ps := range ps {
			r := &b.results[b.owners[j]]
			r.Keys = append(r.Keys, ps.String())
		}
		if b.fromEpoch != 0 {
			old, err := p.PseudonymizeAt(ctx, domain, b.fromEpoch, b.inputs)
			if err != nil {
				return fmt.Errorf("pseudonymize: epoch %d: %w", b.fromEpoch, err)
			}
			for j, ps := range old {
				r := &b.results[b.owners[j]]
				r.Old = append(r.Old, ps.String())
			}
		}
	}
	for _, r := range b.results {
		if r.Error != "" {
			st.Failed++
		} else {
			st.Keyed++
		}
		out, _ := json.Marshal(r)
		w.Write(out)
		w.WriteByte('\n')
	}
	b.results, b.owners, b.inputs = b.results[:0], b.owners[:0], b.inputs[:0]
	return nil
}

// parseLine decodes one identity line. Its errors describe the problem
// without quoting the line.
func parseLine(raw []byte) (identity.Identity, error) {
	raw = bytes.TrimSpace(raw)
	if !utf8.Valid(raw) {
		return identity.Identity{}, errors.New("not valid UTF-8")
	}
	if len(raw) == 0 {
		return identity.Identity{}, errors.New("empty line")
	}
	var l Line
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&l); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return identity.Identity{}, fmt.Errorf("field %q must be a string", te.Field)
		}
		return identity.Identity{}, errors.New(`not a JSON object with only "first", "last", "birthdate", "document" and "phone"`)
	}
	if dec.More() {
		return identity.Identity{}, errors.New("more than one JSON value on the line")
	}
	return identity.Identity{First: l.First, Last: l.Last, Birthdate: l.Birthdate, Document: l.Document, Phone: l.Phone}, nil
}
