package identity

import (
	"strings"
	"unicode"
)

// Errors of NormalizeDocument, named after the field only.
var (
	errDocTooLong  = invalid("document", "too long")
	errDocUTF8     = invalid("document", "invalid UTF-8")
	errDocChar     = invalid("document", "unexpected character")
	errDocLength   = invalid("document", "implausible length")
	errDocNoDigits = invalid("document", "no digits")
)

// Bounds of a plausible identity document number after normalisation.
const (
	minDocLen = 5
	maxDocLen = 20
)

// NormalizeDocument returns an identity document number in upper-case Latin
// letters and digits, without spaces, dashes, dots or slashes, and with the
// Cyrillic letters that look like Latin ones folded to Latin ("ан 123-45-67"
// typed on a Cyrillic keyboard = "AH1234567"), because clerks type the
// series with whatever keyboard layout is active.
func NormalizeDocument(s string) (string, error) {
	if err := checkValue(s, errDocTooLong, errDocUTF8); err != nil {
		return "", err
	}
	s = toNFKC(s)
	var b strings.Builder
	b.Grow(len(s))
	digits := 0
	for _, r := range s {
		c, err := documentChar(r)
		if err != nil {
			return "", err
		}
		if c == 0 {
			continue
		}
		if c >= '0' && c <= '9' {
			digits++
		}
		b.WriteByte(c)
	}
	if b.Len() < minDocLen || b.Len() > maxDocLen {
		return "", errDocLength
	}
	if digits == 0 {
		return "", errDocNoDigits
	}
	return b.String(), nil
}

// documentChar maps one rune of a document number to its canonical byte, or
// 0 for a separator that is dropped.
func documentChar(r rune) (byte, error) {
	switch {
	case r >= '0' && r <= '9', r >= 'A' && r <= 'Z':
		return byte(r), nil
	case r >= 'a' && r <= 'z':
		return byte(r - 'a' + 'A'), nil
	case unicode.IsSpace(r) || isDash(r) || r == '.' || r == '/':
		return 0, nil
	}
	if c, ok := cyrillicToLatin[unicode.ToUpper(r)]; ok {
		return byte(c), nil
	}
	return 0, errDocChar
}

// isDash reports the hyphen and dash characters people type between digit
// groups.
func isDash(r rune) bool {
	return r == '-' || unicode.Is(unicode.Pd, r) || r == '\u2212'
}

// isSpaceRune reports white space, including the no-break space.
func isSpaceRune(r rune) bool { return unicode.IsSpace(r) }

// checkValue rejects a value that is too long or not UTF-8 before any work
// is spent on it.
func checkValue(s string, tooLong, badUTF8 error) error {
	if len(s) > maxPartBytes {
		return tooLong
	}
	if !validUTF8(s) {
		return badUTF8
	}
	return nil
}
