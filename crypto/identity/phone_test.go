package identity

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizePhone(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"trunk zero", "0555 123456", "+996555123456"},
		{"national", "555123456", "+996555123456"},
		{"country code", "996555123456", "+996555123456"},
		{"double zero", "00996555123456", "+996555123456"},
		{"plus", "+996555123456", "+996555123456"},
		{"punctuation", "+996 (555) 12-34-56", "+996555123456"},
		{"trunk zero after code", "+996 0555 123 456", "+996555123456"},
		{"dots and nbsp", "0555.12\u00a034.56", "+996555123456"},
		{"russia", "+7 916 123-45-67", "+79161234567"},
		{"russia double zero", "0079161234567", "+79161234567"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizePhone(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNormalizePhoneInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"short", "0555 1234"},
		{"long national", "0555 1234567"},
		{"kg too long", "+996 555 1234567"},
		{"zero national", "+996 055512345"},
		{"letters", "0555 12345a"},
		{"plus inside", "0555+123456"},
		{"two plus", "++996555123456"},
		{"foreign too short", "+7 123"},
		{"foreign too long", "+7 1234567890123456"},
		{"foreign zero", "+0123456789"},
		{"digits overflow", strings.Repeat("5", maxPhoneLetters+1)},
		{"invalid utf8", "0555\xff123456"},
		{"too long", strings.Repeat(" ", maxPartBytes+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := NormalizePhone(tt.in); !errors.Is(err, ErrInvalid) {
				t.Errorf("got %q, %v; want ErrInvalid", got, err)
			}
		})
	}
}
