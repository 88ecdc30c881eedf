package identity

import (
	"slices"
	"strings"
)

// NamePart names one part of a person's name in Names.
type NamePart int

// The parts of a name.
const (
	FirstName NamePart = iota
	MiddleName
	LastName
	nameParts
)

// Names is a person's name normalised once, part by part, for the two uses
// an exchange has for it: each part's own skeleton (Part, which is
// NormalizeName of the part), and the name+birth-date key of the whole
// name (Identity.Names). The key's name is the parts' skeletons merged
// where that is provably the skeleton of the whole name, and the whole name
// normalised again otherwise, so it equals the key of the identity whose
// First is the first and middle names joined by a space (or the first name
// alone, when there is no middle name) and whose Last is the last name.
// FuzzNamesKey holds the two equal.
type Names struct {
	raw   [nameParts]string
	parts [nameParts]namePart
}

type namePart struct {
	skel      string
	err       error
	mergeable bool // see appendNameNoted
}

// NormalizeNames normalises each part of a name; any part may be empty.
func NormalizeNames(first, middle, last string) *Names {
	n := &Names{raw: [nameParts]string{first, middle, last}}
	var buf [512]byte
	for i, s := range n.raw {
		b, mergeable, err := appendNameNoted(buf[:0], s, "", true)
		p := &n.parts[i]
		p.mergeable, p.err = mergeable, err
		if err == nil {
			p.skel = string(b)
		}
	}
	return n
}

// errNoSuchPart is Part's answer for a NamePart outside the three.
var errNoSuchPart = invalid("name", "no such part")

// Part returns the skeleton of one part, as NormalizeName gives it.
func (n *Names) Part(p NamePart) (string, error) {
	if p < 0 || p >= nameParts {
		return "", errNoSuchPart
	}
	return n.parts[p].skel, n.parts[p].err
}

// first and last are the whole name's two parts, as MatchKeys reads an
// Identity's First and Last.
func (n *Names) first() string {
	if n.raw[MiddleName] == "" {
		return n.raw[FirstName]
	}
	return n.raw[FirstName] + " " + n.raw[MiddleName]
}

func (n *Names) last() string { return n.raw[LastName] }

// appendWhole appends the skeleton of the whole name to dst: the parts'
// skeletons merged when every part is mergeable, the whole name normalised
// again otherwise.
func (n *Names) appendWhole(dst []byte) ([]byte, error) {
	if b, ok := n.appendMerged(dst); ok {
		return b, nil
	}
	return appendName(dst, n.first(), n.last())
}

// appendMerged appends the units of the parts' skeletons, sorted as
// appendSkeleton sorts them, and reports false, appending nothing, when the
// merge would not be the whole name's skeleton or the whole name has an
// error to report.
func (n *Names) appendMerged(dst []byte) ([]byte, bool) {
	middle := 0
	if n.raw[MiddleName] != "" {
		middle = 1 + len(n.raw[MiddleName])
	}
	if len(n.raw[FirstName])+middle > maxPartBytes {
		return dst, false // the whole first name is too long
	}
	var unitBuf [16]string
	units := unitBuf[:0]
	for i := range n.parts {
		p := &n.parts[i]
		if !p.mergeable {
			return dst, false
		}
		for rest := p.skel; rest != ""; {
			var w string
			w, rest, _ = strings.Cut(rest, " ")
			units = append(units, w)
		}
	}
	if len(units) == 0 {
		return dst, false // no letters: the whole name says so
	}
	slices.Sort(units) // bytewise, as appendSkeleton sorts
	for i, u := range units {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, u...)
	}
	return dst, true
}
