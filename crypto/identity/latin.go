package identity

import (
	"unicode"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"
)

// script is the writing system a mixed-script word is folded to.
type script uint8

const (
	scriptAsIs script = iota
	scriptCyrillic
	scriptLatin
)

// appendLatin appends s to dst as lower-case Latin words separated by single
// spaces: Cyrillic is transliterated, diacritics are removed, apostrophes
// are dropped and every other punctuation, symbol or space separates words.
// Letters of other scripts pass through lower-cased.
func appendLatin(dst []byte, s string) []byte {
	s = toNFKC(s)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if isSeparator(r) {
			dst = appendSpace(dst)
			i += size
			continue
		}
		end := wordEnd(s, i)
		dst = appendWord(dst, s[i:end], wordScript(s[i:end]))
		i = end
	}
	return dst
}

// appendSpace adds one word separator, never two in a row.
func appendSpace(dst []byte) []byte {
	if len(dst) == 0 || dst[len(dst)-1] == ' ' {
		return dst
	}
	return append(dst, ' ')
}

// wordEnd returns the index just past the word starting at i.
func wordEnd(s string, i int) int {
	for i < len(s) {
		r, size := utf8.DecodeRuneInString(s[i:])
		if isSeparator(r) {
			break
		}
		i += size
	}
	return i
}

// appendWord transliterates one word, first folding look-alike letters of
// the minority script into the majority script of the word.
func appendWord(dst []byte, w string, to script) []byte {
	for _, r := range w {
		switch to {
		case scriptCyrillic:
			if c, ok := latinToCyrillic[r]; ok {
				r = c
			}
		case scriptLatin:
			if c, ok := cyrillicToLatin[r]; ok {
				r = c
			}
		}
		dst = appendRune(dst, r)
	}
	return dst
}

// wordScript decides whether a word mixes Latin and Cyrillic letters and, if
// so, which script it is really written in: the one with more letters that
// have no look-alike in the other, then the one with more letters, then
// Cyrillic.
func wordScript(w string) script {
	var cyr, lat int
	for _, r := range w {
		switch {
		case isCyrillic(r):
			cyr++
		case isLatinLetter(r):
			lat++
		}
	}
	if cyr == 0 || lat == 0 {
		return scriptAsIs
	}
	cyrOnly, latOnly := lookalikeFree(w)
	switch {
	case latOnly > cyrOnly:
		return scriptLatin
	case cyrOnly > latOnly:
		return scriptCyrillic
	case lat > cyr:
		return scriptLatin
	default:
		return scriptCyrillic
	}
}

// lookalikeFree counts the Cyrillic and the Latin letters of a word that
// have no look-alike in the other script.
func lookalikeFree(w string) (cyrOnly, latOnly int) {
	for _, r := range w {
		switch {
		case isCyrillic(r):
			if _, ok := cyrillicToLatin[r]; !ok {
				cyrOnly++
			}
		case isLatinLetter(r):
			if _, ok := latinToCyrillic[r]; !ok {
				latOnly++
			}
		}
	}
	return cyrOnly, latOnly
}

// appendRune appends the lower-case Latin form of one rune of a word.
func appendRune(dst []byte, r rune) []byte {
	switch {
	case isApostrophe(r):
		return dst
	case r < utf8.RuneSelf:
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return append(dst, byte(r))
	case isCyrillic(r):
		return appendCyrillic(dst, cyrillicLower(r))
	case unicode.Is(unicode.Mn, r), unicode.Is(unicode.Me, r), unicode.Is(unicode.Cf, r):
		return dst
	case isLatinLetter(r):
		return append(dst, foldLatin(unicode.ToLower(r))...)
	default:
		return utf8.AppendRune(dst, unicode.ToLower(r))
	}
}

// appendCyrillic transliterates one lower-case Cyrillic letter; letters
// outside the table pass through.
func appendCyrillic(dst []byte, r rune) []byte {
	if t := cyrillicTable[r-0x400]; t != "" || r == 'ь' || r == 'ъ' {
		return append(dst, t...)
	}
	return utf8.AppendRune(dst, r)
}

// foldLatin removes the diacritics of a lower-case Latin letter (ö -> o,
// ë -> e) and spells out ligatures.
func foldLatin(r rune) string {
	if s, ok := latinSpecial[r]; ok {
		return s
	}
	d := norm.NFD.String(string(r))
	if d != "" && d[0] < utf8.RuneSelf {
		return d[:1]
	}
	return string(r)
}

// isSeparator reports whether r ends a word: space, hyphen, punctuation,
// symbols, controls and unassigned code points. Apostrophes are not
// separators: they mark a soft or hard sign inside a word.
func isSeparator(r rune) bool {
	if r < utf8.RuneSelf {
		return !('a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' || r == '\'' || r == '`')
	}
	if isApostrophe(r) || isCyrillicLetter(r) {
		return false
	}
	return !(unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r) ||
		unicode.Is(unicode.Me, r) || unicode.Is(unicode.Cf, r))
}

// isApostrophe reports the apostrophe, prime and quote characters that
// romanisations use for the soft and hard signs (Natal’ya, Ob”yedkov).
func isApostrophe(r rune) bool {
	switch r {
	case '\'', '`', '\u00b4', '\u02b9', '\u02ba', '\u02bb', '\u02bc', '\u02bd',
		'\u2018', '\u2019', '\u201b', '\u201c', '\u201d', '\u2032', '\u2033':
		return true
	}
	return false
}

// isCyrillic reports letters of the basic Cyrillic block, which covers
// Russian and Kyrgyz.
func isCyrillic(r rune) bool { return 0x400 <= r && r <= 0x4ff }

// isCyrillicLetter reports the letters of the Cyrillic block, leaving out
// its combining marks and the thousands sign (U+0482..U+0489).
func isCyrillicLetter(r rune) bool {
	return 0x400 <= r && r <= 0x481 || 0x48a <= r && r <= 0x4ff
}

// cyrillicLower lower-cases a letter of the Cyrillic block, with a fast
// path for the Russian capitals.
func cyrillicLower(r rune) rune {
	switch {
	case 0x410 <= r && r <= 0x42f:
		return r + 0x20
	case 0x400 <= r && r <= 0x40f:
		return r + 0x50
	}
	return unicode.ToLower(r)
}

// isLatinLetter reports Latin letters, with or without diacritics.
func isLatinLetter(r rune) bool {
	return 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' ||
		r >= 0xc0 && r <= 0x24f && r != 0xd7 && r != 0xf7 || r >= 0x1e00 && r <= 0x1eff
}
