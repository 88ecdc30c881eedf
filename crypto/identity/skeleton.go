package identity

import (
	"bytes"
	"slices"
)

// Internal one-byte codes for the sounds that romanisations spell with
// several letters; they are rendered back as digraphs in the output.
const (
	codeZh = 'J' // ж: zh, j, dzh, dj
	codeKh = 'H' // х: kh, h
	codeCh = 'C' // ч: ch
	codeSh = 'W' // ш, щ: sh, shch, sch
)

// Patronymic markers as skeletons: уулу/uulu (son of), кызы/kyzy (daughter
// of). They are kept, and glued to the father's name.
var (
	markerSon      = []byte("ulu")
	markerDaughter = []byte("kizi")
)

// span is a byte range of a buffer.
type span struct{ start, end int }

// appendSkeleton turns the space-separated Latin words of lat into units
// (a word, or a father's name with its patronymic marker), reduces each to
// its skeleton, sorts them and appends them to dst separated by spaces. It
// reports false when there is no unit at all.
func appendSkeleton(dst, lat []byte) ([]byte, bool) {
	var rawBuf [1024]byte
	var unitBuf [16]span
	raw, units := gluedUnits(rawBuf[:0], unitBuf[:0], lat)
	if len(units) == 0 {
		return dst, false
	}
	var skelBuf [1024]byte
	skel := skelBuf[:0]
	for i, u := range units {
		start := len(skel)
		skel = appendUnitSkeleton(skel, raw[u.start:u.end])
		units[i] = span{start, len(skel)}
	}
	slices.SortFunc(units, func(a, b span) int {
		return bytes.Compare(skel[a.start:a.end], skel[b.start:b.end])
	})
	for i, u := range units {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, skel[u.start:u.end]...)
	}
	return dst, true
}

// gluedUnits copies the words of lat into raw, joining every patronymic
// marker to the word before it ("Токтогул уулу" and "Токтогул-уулу" become
// one unit like "Токтогулуулу"), or to the word after it when it comes
// first. Keeping the marker distinguishes a son from a daughter; gluing it
// keeps "Asan uulu Bakyt" apart from "Bakyt uulu Asan" after sorting.
func gluedUnits(raw []byte, units []span, lat []byte) ([]byte, []span) {
	glueNext := false
	for rest := lat; len(rest) > 0; {
		var w []byte
		w, rest = nextWord(rest)
		if len(w) == 0 {
			continue
		}
		marker := isMarker(w)
		switch {
		case marker && len(units) > 0 && !glueNext:
			raw = append(raw, w...)
			units[len(units)-1].end = len(raw)
		case glueNext:
			raw = append(raw, w...)
			units[len(units)-1].end = len(raw)
			glueNext = marker
		default:
			start := len(raw)
			raw = append(raw, w...)
			units = append(units, span{start, len(raw)})
			glueNext = marker
		}
	}
	return raw, units
}

// nextWord splits off the first space-separated word of b.
func nextWord(b []byte) (word, rest []byte) {
	if i := bytes.IndexByte(b, ' '); i >= 0 {
		return b[:i], b[i+1:]
	}
	return b, nil
}

// isMarker reports whether a Latin word is a patronymic marker in any
// spelling (uulu, ulu, kyzy, kizi, qizi ...).
func isMarker(w []byte) bool {
	if len(w) < 3 || len(w) > 8 || (w[0] != 'u' && w[0] != 'k' && w[0] != 'q') {
		return false
	}
	var buf [16]byte
	s := appendUnitSkeleton(buf[:0], w)
	return bytes.Equal(s, markerSon) || bytes.Equal(s, markerDaughter)
}

// appendUnitSkeleton reduces one Latin unit to its skeleton and appends it
// to dst with the digraph codes spelled out.
func appendUnitSkeleton(dst, w []byte) []byte {
	var codeBuf [512]byte
	codes := parseCodes(codeBuf[:0], w)
	for _, c := range codes {
		switch c {
		case codeZh:
			dst = append(dst, 'z', 'h')
		case codeKh:
			dst = append(dst, 'k', 'h')
		case codeCh:
			dst = append(dst, 'c', 'h')
		case codeSh:
			dst = append(dst, 's', 'h')
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

// parseCodes reads a Latin unit left to right, turning each spelling of a
// sound into one code and feeding it to emit, which folds vowel clusters and
// doubled letters.
func parseCodes(out, w []byte) []byte {
	for i := 0; i < len(w); {
		c := w[i]
		if isASCIILetter(c) && i+1 < len(w) && w[i+1] == c {
			i++ // doubled letter: "Abdullaev" = "Abdulaev"
			continue
		}
		if c == 'x' {
			out = emit(emit(out, 'k'), 's') // becomes kh, see emit
			i++
			continue
		}
		code, n := readSound(w, i)
		out = emit(out, code)
		i += n
	}
	return out
}

// readSound returns the code of the sound starting at w[i] and how many
// bytes spell it.
func readSound(w []byte, i int) (byte, int) {
	c := w[i]
	switch c {
	case 'd':
		if hasAt(w, i+1, "zh") {
			return codeZh, 3
		}
		if hasAt(w, i+1, "j") {
			return codeZh, 2
		}
	case 'z':
		if hasAt(w, i+1, "h") {
			return codeZh, 2
		}
	case 'j':
		return readJ(w, i), 1
	case 'k':
		if hasAt(w, i+1, "h") {
			return codeKh, 2
		}
	case 'h':
		return codeKh, 1
	case 's':
		return readS(w, i)
	case 'c':
		if hasAt(w, i+1, "h") {
			return codeCh, 2
		}
		return 'k', 1
	case 'p':
		if hasAt(w, i+1, "h") {
			return 'f', 2
		}
	case 'n':
		if hasAt(w, i+1, "g") {
			return 'n', 2 // ң written ng
		}
	case 'y':
		return 'i', 1
	case 'w':
		return 'v', 1
	case 'q':
		return 'k', 1
	}
	return c, 1
}

// readS reads ш/щ spelled sh, sch or shch, or a plain s.
func readS(w []byte, i int) (byte, int) {
	switch {
	case hasAt(w, i+1, "hch"):
		return codeSh, 4
	case hasAt(w, i+1, "ch"):
		return codeSh, 3
	case hasAt(w, i+1, "h"):
		return codeSh, 2
	}
	return 's', 1
}

// readJ decides what a Latin j stands for: й after a vowel ("Saginbaj",
// "Ksenija"), but ж at the start of a word, after a consonant, or after
// a vowel+й ("Jyldyz", "Erjan", "Aijan").
func readJ(w []byte, i int) byte {
	if i == 0 || !isVowelY(w[i-1]) {
		return codeZh
	}
	if (w[i-1] == 'i' || w[i-1] == 'y') && i >= 2 && isVowelY(w[i-2]) {
		return codeZh
	}
	return 'i'
}

// emit appends one code, folding what romanisations disagree on: a doubled
// code is kept once, "ie" -> "e" (BGN ye, ICAO ъ = ie, -iev/-ev), "io" ->
// "e" (ё written yo), "oe" -> "o" and "ue" -> "u" (ө, ү written oe, ue),
// "eia"/"eiu" -> "ia"/"iu" (ICAO writes ъя, ъю as IEIA, IEIU), and "ks"
// -> "kh", because a Latin x stands for кс (Maxat) or for х (Raxim).
func emit(out []byte, c byte) []byte {
	for {
		n := len(out)
		if n == 0 {
			return append(out, c)
		}
		prev := out[n-1]
		switch {
		case prev == c && c < 0x80:
			return out
		case prev == 'k' && c == 's':
			out = out[:n-1]
			c = codeKh // x is кс to Russian readers and х in Uzbek Latin
		case prev == 'i' && (c == 'e' || c == 'o'):
			out = out[:n-1]
			c = 'e'
		case (prev == 'o' || prev == 'u') && c == 'e':
			return out
		case prev == 'i' && (c == 'a' || c == 'u') && n >= 2 && out[n-2] == 'e':
			out = append(out[:n-2], 'i', c) // ICAO ъя = IEIA
			return out
		default:
			return append(out, c)
		}
	}
}

// hasAt reports whether w has s at index i.
func hasAt(w []byte, i int, s string) bool {
	return i+len(s) <= len(w) && string(w[i:i+len(s)]) == s
}

// isASCIILetter reports a lower-case ASCII letter.
func isASCIILetter(c byte) bool { return 'a' <= c && c <= 'z' }

// isVowelY reports a Latin vowel letter, counting y.
func isVowelY(c byte) bool {
	switch c {
	case 'a', 'e', 'i', 'o', 'u', 'y':
		return true
	}
	return false
}
