package identity

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strings"
)

// ErrEvalFormat reports a malformed pair file given to EvalPairs.
var ErrEvalFormat = errors.New("identity: eval: malformed pair file")

// pairColumns is the header of a pair file; see EvalPairs.
var pairColumns = []string{
	"pair_id", "label", "kind",
	"a_first", "a_last", "a_birthdate",
	"b_first", "b_last", "b_birthdate",
}

// Counts are linkage counts over a set of labelled pairs: how many pairs of
// the same person were linked (recall) and how many pairs of different
// people were linked (false links).
type Counts struct {
	SameLinked      int `json:"same_linked"`
	SameTotal       int `json:"same_total"`
	DifferentLinked int `json:"different_linked"`
	DifferentTotal  int `json:"different_total"`
}

// Report is the result of EvalPairs: the counts over all pairs and per
// kind of pair, so that a change to normalisation can be measured rather
// than guessed.
type Report struct {
	Counts
	ByKind map[string]Counts `json:"by_kind"`
}

// add counts one pair.
func (c *Counts) add(same, linked bool) {
	switch {
	case same:
		c.SameTotal++
		if linked {
			c.SameLinked++
		}
	default:
		c.DifferentTotal++
		if linked {
			c.DifferentLinked++
		}
	}
}

// EvalPairs measures MatchKeys on labelled pairs of records. The input is
// tab-separated UTF-8 with the header line
//
//	pair_id label kind a_first a_last a_birthdate b_first b_last b_birthdate
//
// where label is "same" or "different". Two records are linked when they
// share at least one match key. A malformed line gives an error wrapping
// ErrEvalFormat that names the line number (never its content).
func EvalPairs(r io.Reader) (Report, error) {
	rep := Report{ByKind: map[string]Counts{}}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64*1024), 1024*1024)
	line := 0
	for sc.Scan() {
		line++
		text := strings.TrimSuffix(sc.Text(), "\r")
		if line == 1 {
			if err := checkHeader(text); err != nil {
				return Report{}, fmt.Errorf("%w: line %d: %w", ErrEvalFormat, line, err)
			}
			continue
		}
		if text == "" {
			continue
		}
		if err := rep.addLine(text); err != nil {
			return Report{}, fmt.Errorf("%w: line %d: %w", ErrEvalFormat, line, err)
		}
	}
	if err := sc.Err(); err != nil {
		return Report{}, fmt.Errorf("identity: eval: line %d: %w", line+1, err)
	}
	if line == 0 {
		return Report{}, fmt.Errorf("%w: empty input", ErrEvalFormat)
	}
	return rep, nil
}

// checkHeader accepts only the documented header.
func checkHeader(text string) error {
	if strings.Join(pairColumns, "\t") != text {
		return errors.New("header does not name the expected columns")
	}
	return nil
}

// addLine counts one pair line.
func (rep *Report) addLine(text string) error {
	f := strings.Split(text, "\t")
	if len(f) != len(pairColumns) {
		return fmt.Errorf("want %d fields, got %d", len(pairColumns), len(f))
	}
	var same bool
	switch f[1] {
	case "same":
		same = true
	case "different":
	default:
		return errors.New(`label is neither "same" nor "different"`)
	}
	if f[2] == "" {
		return errors.New("empty kind")
	}
	a := Identity{First: f[3], Last: f[4], Birthdate: f[5]}
	b := Identity{First: f[6], Last: f[7], Birthdate: f[8]}
	linked := Linked(a, b)
	rep.add(same, linked)
	k := rep.ByKind[f[2]]
	k.add(same, linked)
	rep.ByKind[f[2]] = k
	return nil
}

// Linked reports whether two identities share at least one match key, the
// rule by which pseudonymised records are linked.
func Linked(a, b Identity) bool {
	ka, err := MatchKeys(a)
	if err != nil {
		return false
	}
	kb, err := MatchKeys(b)
	if err != nil {
		return false
	}
	for _, x := range ka {
		for _, y := range kb {
			if x == y {
				return true
			}
		}
	}
	return false
}
