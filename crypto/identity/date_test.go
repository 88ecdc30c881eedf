package identity

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeDate(t *testing.T) {
	t.Parallel()
	tests := []struct{ in, want string }{
		{"1990-05-12", "1990-05-12"},
		{"12.05.1990", "1990-05-12"},
		{"1990/05/12", "1990-05-12"},
		{"12/05/1990", "1990-05-12"},
		{"12-05-1990", "1990-05-12"},
		{"19900512", "1990-05-12"},
		{"1990.05.12", "1990-05-12"},
		{"2.5.1990", "1990-05-02"},
		{" \u00a01990-05-12\t", "1990-05-12"},
		{"２０００-０２-２９", "2000-02-29"},
		{"29.02.2004", "2004-02-29"},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeDate(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNormalizeDateInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, problem string }{
		{"february 30", "2001-02-30", "impossible date"},
		{"not leap", "1900-02-29", "impossible date"},
		{"not leap dmy", "29.02.2001", "impossible date"},
		{"month 13", "2001-13-01", "impossible date"},
		{"day 0", "00.01.2001", "impossible date"},
		{"april 31", "31/04/1999", "impossible date"},
		{"year too small", "1899-12-31", "year out of range"},
		{"year too large", "2101-01-01", "year out of range"},
		{"empty", "", "unknown format"},
		{"words", "12 May 1990", "unknown format"},
		{"mixed separators", "1990-05/12", "unknown format"},
		{"two digit year", "12.05.90", "unknown format"},
		{"extra part", "1990-05-12-01", "unknown format"},
		{"signs", "+990-05-12", "unknown format"},
		{"too long", strings.Repeat("1", maxPartBytes+1), "too long"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeDate(tt.in)
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("got %q, %v; want ErrInvalid", got, err)
			}
			if want := "identity: birthdate: " + tt.problem + ": " + ErrInvalid.Error(); err.Error() != want {
				t.Errorf("error %q, want %q", err, want)
			}
		})
	}
}
