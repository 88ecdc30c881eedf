package identity

import (
	"unicode"
	"unicode/utf8"
)

// Errors of NormalizePhone, named after the field only.
var (
	errPhoneTooLong = invalid("phone", "too long")
	errPhoneUTF8    = invalid("phone", "invalid UTF-8")
	errPhoneChar    = invalid("phone", "unexpected character")
	errPhoneLength  = invalid("phone", "implausible length")
)

// Numbering facts used by NormalizePhone.
const (
	kgCountryCode   = "996" // Kyrgyzstan, the default country
	kgNationalLen   = 9     // digits after +996
	minE164Digits   = 8     // shortest international number accepted
	maxE164Digits   = 15    // ITU-T E.164 maximum
	maxPhoneLetters = 32    // digits and separators are never longer
)

// NormalizePhone returns a phone number in E.164 form, with +996 as the
// default country: "0555 123 456", "555123456", "996555123456",
// "00996555123456" and "+996 (555) 12-34-56" all give "+996555123456".
// Numbers of other countries must carry their prefix (+ or 00). A number
// that cannot be a real one is ErrInvalid.
func NormalizePhone(s string) (string, error) {
	if err := checkValue(s, errPhoneTooLong, errPhoneUTF8); err != nil {
		return "", err
	}
	var buf [maxPhoneLetters]byte
	digits, intl, err := phoneDigits(toNFKC(s), buf[:0])
	if err != nil {
		return "", err
	}
	national, ok := kgNational(digits, intl)
	if ok {
		if len(national) == kgNationalLen+1 && national[0] == '0' {
			national = national[1:] // +996 0555 ...: trunk prefix kept by mistake
		}
		if len(national) != kgNationalLen || national[0] == '0' {
			return "", errPhoneLength
		}
		return "+" + kgCountryCode + string(national), nil
	}
	if !intl || len(digits) < minE164Digits || len(digits) > maxE164Digits || digits[0] == '0' {
		return "", errPhoneLength
	}
	return "+" + string(digits), nil
}

// phoneDigits keeps the digits of s, dropping spaces, dashes, dots and
// parentheses. intl reports a leading + or 00, which is removed.
func phoneDigits(s string, dst []byte) (digits []byte, intl bool, err error) {
	plus := false
	for _, r := range s {
		switch {
		case r >= '0' && r <= '9':
			if len(dst) == cap(dst) {
				return nil, false, errPhoneLength
			}
			dst = append(dst, byte(r))
		case r == '+' && len(dst) == 0 && !plus:
			plus = true
		case unicode.IsSpace(r) || isDash(r) || r == '.' || r == '(' || r == ')' || r == '/':
		default:
			return nil, false, errPhoneChar
		}
	}
	if plus {
		return dst, true, nil
	}
	if len(dst) > 2 && dst[0] == '0' && dst[1] == '0' {
		return dst[2:], true, nil
	}
	return dst, false, nil
}

// kgNational returns the national part of a Kyrgyz number, and false when
// the number belongs to another country.
func kgNational(d []byte, intl bool) ([]byte, bool) {
	switch {
	case hasPrefix(d, kgCountryCode) && (intl || len(d) == len(kgCountryCode)+kgNationalLen):
		return d[len(kgCountryCode):], true
	case intl:
		return nil, false
	case len(d) > 0 && d[0] == '0':
		return d[1:], true // trunk prefix: 0555 123456
	default:
		return d, true
	}
}

// hasPrefix reports whether b starts with s.
func hasPrefix(b []byte, s string) bool {
	return len(b) >= len(s) && string(b[:len(s)]) == s
}

// validUTF8 reports whether s is valid UTF-8.
func validUTF8(s string) bool { return utf8.ValidString(s) }
