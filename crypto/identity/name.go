package identity

import (
	"bytes"
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// Errors of NormalizeName, named after the field only.
var (
	errNameTooLong   = invalid("name", "too long")
	errNameUTF8      = invalid("name", "invalid UTF-8")
	errNameNoLetters = invalid("name", "no letters")
)

// maxFixpointRounds bounds the re-normalisation that makes NormalizeName
// idempotent; real names settle after one round.
const maxFixpointRounds = 4

// NormalizeName returns the canonical skeleton of one name part or of a full
// name: Cyrillic and the usual romanisations of it map to one Latin
// skeleton, tokens are sorted so word order does not matter, and a
// patronymic marker (uulu, kyzy) stays glued to the father's name. It is
// idempotent: NormalizeName of its own output returns that output. The
// rules, with examples, are in the package documentation.
func NormalizeName(s string) (string, error) {
	var buf [512]byte
	b, err := appendName(buf[:0], s, "")
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// appendName appends the skeleton of the name made of both parts (either
// may be empty) to dst.
func appendName(dst []byte, first, last string) ([]byte, error) {
	b, _, err := appendNameNoted(dst, first, last, false)
	return b, err
}

// appendNameNoted is appendName that, when note is set, also tells whether
// the skeleton is mergeable: whether the skeleton of a whole name holding
// these parts beside other mergeable ones is the sorted merge of the parts'
// skeletons (Names). That holds when both parts are in NFKC already (so
// joining them changes no letter: toNFKC leaves the parts and the joined
// name alike untouched, rune by rune, which the proof rests on and a change
// to toNFKC must keep), no word of theirs is a patronymic marker
// (so nothing glues across parts), the first skeleton was already settled
// (so no later round runs), and no unit of it reads as a marker (so none
// glues in a later round either). A part with no letters is mergeable on
// the first condition alone: it adds nothing.
func appendNameNoted(dst []byte, first, last string, note bool) (out []byte, mergeable bool, err error) {
	if err := checkNamePart(first); err != nil {
		return dst, false, err
	}
	if err := checkNamePart(last); err != nil {
		return dst, false, err
	}
	var latBuf [1024]byte
	lat := appendLatin(latBuf[:0], first)
	lat = append(lat, ' ')
	lat = appendLatin(lat, last)
	start := len(dst)
	dst, ok := appendSkeleton(dst, lat)
	if !ok {
		return dst[:start], note && nfkcStable(first) && nfkcStable(last), errNameNoLetters
	}
	dst, settled := settle(dst, start)
	if note {
		mergeable = settled && nfkcStable(first) && nfkcStable(last) && !hasMarker(lat) && !hasMarker(dst[start:])
	}
	return dst, mergeable, nil
}

// nfkcStable reports whether NFKC leaves s unchanged rune by rune, so that
// s joined to another such string by a space normalises to the two joined.
func nfkcStable(s string) bool {
	for _, r := range s {
		if !isNFKCStable(r) {
			return false
		}
	}
	return true
}

// hasMarker reports whether a word of the space-separated words is a
// patronymic marker.
func hasMarker(words []byte) bool {
	for rest := words; len(rest) > 0; {
		var w []byte
		w, rest = nextWord(rest)
		if isMarker(w) {
			return true
		}
	}
	return false
}

// checkNamePart rejects a part that is too long or not UTF-8 before any
// work is spent on it.
func checkNamePart(s string) error {
	if len(s) > maxPartBytes {
		return errNameTooLong
	}
	if !utf8.ValidString(s) {
		return errNameUTF8
	}
	return nil
}

// settle re-normalises the skeleton in dst[start:] until it no longer
// changes, which makes NormalizeName idempotent even where two adjacent
// letters of the output happen to spell a digraph ("d" + "zh"). It reports
// whether the skeleton was settled already.
func settle(dst []byte, start int) (out []byte, settled bool) {
	var tmp [512]byte
	settled = true
	for range maxFixpointRounds {
		again, _ := appendSkeleton(tmp[:0], dst[start:])
		if bytes.Equal(again, dst[start:]) {
			break
		}
		settled = false
		dst = append(dst[:start], again...)
	}
	return dst, settled
}

// isBlank reports whether s holds nothing but white space.
func isBlank(s string) bool {
	for _, r := range s {
		if !unicode.IsSpace(r) {
			return false
		}
	}
	return true
}

// toNFKC returns s in Unicode NFKC, so that full-width, ligature and
// decomposed forms of a letter are one letter; ASCII is returned unchanged
// without work.
func toNFKC(s string) string {
	for _, r := range s {
		if !isNFKCStable(r) {
			if norm.NFKC.IsNormalString(s) {
				return s
			}
			return norm.NFKC.String(s)
		}
	}
	return s
}

// isNFKCStable reports runes that NFKC leaves alone whatever surrounds
// them: ASCII and the Russian and Kyrgyz letters. It spares the common case
// a call into the normaliser.
func isNFKCStable(r rune) bool {
	switch {
	case r < utf8.RuneSelf, 0x410 <= r && r <= 0x44f:
		return true
	}
	switch r {
	case 'ё', 'Ё', 'ң', 'Ң', 'ө', 'Ө', 'ү', 'Ү':
		return true
	}
	return false
}
