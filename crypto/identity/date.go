package identity

import "strings"

// Errors of NormalizeDate, named after the field only.
var (
	errDateTooLong    = invalid("birthdate", "too long")
	errDateFormat     = invalid("birthdate", "unknown format")
	errDateImpossible = invalid("birthdate", "impossible date")
	errDateRange      = invalid("birthdate", "year out of range")
)

// Years accepted in a birth date. Outside this range a date is a typing
// error, not a person.
const (
	minYear = 1900
	maxYear = 2100
)

// NormalizeDate returns a birth date as "YYYY-MM-DD", so that sources
// writing the same day differently link. It accepts YYYY-MM-DD, YYYY/MM/DD,
// YYYY.MM.DD, DD.MM.YYYY, DD/MM/YYYY, DD-MM-YYYY (day and month may have one
// digit) and YYYYMMDD, with surrounding spaces. Impossible dates
// (2001-02-30) and years outside 1900..2100 are ErrInvalid.
func NormalizeDate(s string) (string, error) {
	var out [10]byte
	if err := parseDate(s, &out); err != nil {
		return "", err
	}
	return string(out[:]), nil
}

// parseDate writes the canonical form of s into out.
func parseDate(s string, out *[10]byte) error {
	if len(s) > maxPartBytes {
		return errDateTooLong
	}
	s = strings.TrimFunc(toNFKC(s), isSpaceRune)
	y, m, d, ok := splitDate(s)
	if !ok {
		return errDateFormat
	}
	if y < minYear || y > maxYear {
		return errDateRange
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return errDateImpossible
	}
	put := func(i, n, width int) {
		for j := width - 1; j >= 0; j-- {
			out[i+j] = byte('0' + n%10)
			n /= 10
		}
	}
	put(0, y, 4)
	out[4] = '-'
	put(5, m, 2)
	out[7] = '-'
	put(8, d, 2)
	return nil
}

// splitDate finds year, month and day in one of the accepted layouts.
func splitDate(s string) (y, m, d int, ok bool) {
	if n, ok := atoi(s); ok && len(s) == 8 {
		return n / 10000, n / 100 % 100, n % 100, true
	}
	i1 := strings.IndexAny(s, "-./")
	if i1 < 0 {
		return 0, 0, 0, false
	}
	i2 := strings.IndexByte(s[i1+1:], s[i1])
	if i2 < 0 {
		return 0, 0, 0, false
	}
	i2 += i1 + 1
	p0, p1, p2 := s[:i1], s[i1+1:i2], s[i2+1:]
	a, okA := atoi(p0)
	b, okB := atoi(p1)
	c, okC := atoi(p2)
	if !okA || !okB || !okC || len(p1) > 2 {
		return 0, 0, 0, false
	}
	switch {
	case len(p0) == 4 && len(p2) <= 2:
		return a, b, c, true
	case len(p2) == 4 && len(p0) <= 2:
		return c, b, a, true
	}
	return 0, 0, 0, false
}

// atoi parses 1 to 8 ASCII digits.
func atoi(s string) (int, bool) {
	if s == "" || len(s) > 8 {
		return 0, false
	}
	n := 0
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
		n = n*10 + int(s[i]-'0')
	}
	return n, true
}

// daysIn returns the number of days of a month in the Gregorian calendar.
func daysIn(y, m int) int {
	switch m {
	case 2:
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
