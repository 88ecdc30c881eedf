package identity

import (
	"errors"
	"strings"
	"testing"
)

func TestNormalizeDocument(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in, want string }{
		{"plain", "AN1234567", "AN1234567"},
		{"lower and spaces", " an 123 4567 ", "AN1234567"},
		{"dashes", "ID-12–34/56.7", "ID1234567"},
		{"cyrillic look-alikes", "АН1234567", "AH1234567"},
		{"cyrillic lower", "ан 123-45-67", "AH1234567"},
		{"no-break space", "AN\u00a01234567", "AN1234567"},
		{"full width", "ＡＮ１２３４５６７", "AN1234567"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := NormalizeDocument(tt.in)
			if err != nil || got != tt.want {
				t.Errorf("got %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestNormalizeDocumentInvalid(t *testing.T) {
	t.Parallel()
	tests := []struct{ name, in string }{
		{"empty", ""},
		{"short", "A12"},
		{"long", strings.Repeat("1", maxDocLen+1)},
		{"no digits", "ABCDEFG"},
		{"cyrillic without look-alike", "ЖД1234567"},
		{"punctuation", "AN#1234567"},
		{"invalid utf8", "AN12\xff34567"},
		{"too long", strings.Repeat(" ", maxPartBytes+1)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got, err := NormalizeDocument(tt.in); !errors.Is(err, ErrInvalid) {
				t.Errorf("got %q, %v; want ErrInvalid", got, err)
			}
		})
	}
}
