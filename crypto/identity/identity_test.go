package identity

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestMatchKeys(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		id   Identity
		want []MatchKey
	}{
		{
			name: "all parts",
			id:   Identity{First: "Жылдыз", Last: "Асанбекова", Birthdate: "12.05.1990", Document: "an 1234567", Phone: "0555 123 456"},
			want: []MatchKey{
				{KindNameBirthdate, "asanbekova zhildiz|1990-05-12"},
				{KindDocument, "AN1234567"},
				{KindPhone, "+996555123456"},
			},
		},
		{
			name: "only last name",
			id:   Identity{Last: "Асанбекова", Birthdate: "1990-05-12"},
			want: []MatchKey{{KindNameBirthdate, "asanbekova|1990-05-12"}},
		},
		{
			name: "name without date falls back to phone",
			id:   Identity{First: "Жылдыз", Phone: "+996555123456"},
			want: []MatchKey{{KindPhone, "+996555123456"}},
		},
		{
			name: "invalid date skipped",
			id:   Identity{First: "Жылдыз", Birthdate: "2001-02-30", Document: "AN1234567"},
			want: []MatchKey{{KindDocument, "AN1234567"}},
		},
		{
			name: "punctuation first name ignored",
			id:   Identity{First: "...", Last: "Asanbekova", Birthdate: "1990-05-12"},
			want: []MatchKey{{KindNameBirthdate, "asanbekova|1990-05-12"}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got, err := MatchKeys(tt.id)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestMatchKeysLinking checks the examples the rest of the gateway relies
// on: spellings of one person link, close relatives do not.
func TestMatchKeysLinking(t *testing.T) {
	t.Parallel()
	base := Identity{First: "Жылдыз", Last: "Асанбекова", Birthdate: "1990-05-12"}
	tests := []struct {
		name string
		id   Identity
		want bool
	}{
		{"upper-case icao, swapped", Identity{First: "ASANBEKOVA", Last: "ZHYLDYZ", Birthdate: "12.05.1990"}, true},
		{"informal", Identity{First: "Jyldyz", Last: "Asanbekova", Birthdate: "1990/05/12"}, true},
		{"masculine form", Identity{First: "Жылдыз", Last: "Асанбеков", Birthdate: "1990-05-12"}, false},
		{"other birth date", Identity{First: "Жылдыз", Last: "Асанбекова", Birthdate: "1990-05-13"}, false},
		{"day and month exchanged", Identity{First: "Жылдыз", Last: "Асанбекова", Birthdate: "1990-12-05"}, false},
		{"sibling", Identity{First: "Жыпар", Last: "Асанбекова", Birthdate: "1990-05-12"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := Linked(base, tt.id); got != tt.want {
				t.Errorf("Linked = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestMatchKeysNotEnough(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name        string
		id          Identity
		invalid     bool
		mentions    []string
		notMentions []string
	}{
		{"empty", Identity{}, false, []string{"name: missing", "document: missing", "phone: missing"}, nil},
		{"name without date", Identity{First: "Айбек"}, false, []string{"birthdate: missing"}, nil},
		{"date without name", Identity{Birthdate: "1990-05-12"}, false, []string{"name: missing"}, nil},
		{"impossible date", Identity{Last: "Орозов", Birthdate: "2001-02-30"}, true, []string{"birthdate: impossible date"}, nil},
		{"lone initial", Identity{First: "A.", Birthdate: "1990-05-12"}, true, []string{"name: too short"}, nil},
		{"punctuation name", Identity{First: "?!", Last: "--", Birthdate: "1990-05-12"}, true, []string{"name: no letters"}, nil},
		{"bad phone", Identity{Phone: "12"}, true, []string{"phone: implausible length"}, []string{"phone: missing"}},
		{"bad document", Identity{Document: "AN#1234567"}, true, []string{"document: unexpected character"}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			keys, err := MatchKeys(tt.id)
			if !errors.Is(err, ErrNotEnough) || keys != nil {
				t.Fatalf("got %v, %v; want ErrNotEnough", keys, err)
			}
			if got := errors.Is(err, ErrInvalid); got != tt.invalid {
				t.Errorf("errors.Is(err, ErrInvalid) = %v, want %v (%v)", got, tt.invalid, err)
			}
			msg := err.Error()
			if strings.Contains(msg, "\n") {
				t.Errorf("error spans lines: %q", msg)
			}
			for _, m := range tt.mentions {
				if !strings.Contains(msg, m) {
					t.Errorf("error %q does not mention %q", msg, m)
				}
			}
			for _, m := range tt.notMentions {
				if strings.Contains(msg, m) {
					t.Errorf("error %q mentions %q", msg, m)
				}
			}
		})
	}
}

// TestErrorsDoNotLeakInput feeds canary values into every entry point and
// fails if any error text contains one of them, or a piece of one.
func TestErrorsDoNotLeakInput(t *testing.T) {
	t.Parallel()
	canaries := []string{
		"Канареечкина", "CANARYQZX", "Qzxcanary\xff", "Zxq!!!", strings.Repeat("Qzx", 100),
		"2001-02-30", "31.04.1999", "1899-01-01", "77-77-7777", "QZX99-99-99",
		"ZZ#998877", "ЖЖЖ998877", "+996 55 QZX", "99988877766655544433", "...",
	}
	entries := map[string]func(string) error{
		"NormalizeName":     func(s string) error { _, err := NormalizeName(s); return err },
		"NormalizeDate":     func(s string) error { _, err := NormalizeDate(s); return err },
		"NormalizeDocument": func(s string) error { _, err := NormalizeDocument(s); return err },
		"NormalizePhone":    func(s string) error { _, err := NormalizePhone(s); return err },
		"MatchKeys": func(s string) error {
			_, err := MatchKeys(Identity{First: s, Last: s, Birthdate: s, Document: s, Phone: s})
			return err
		},
	}
	for name, f := range entries {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, c := range canaries {
				if err := f(c); err != nil {
					assertNoLeak(t, err.Error(), c)
				}
			}
		})
	}
}

// assertNoLeak fails when msg contains in, or a piece of it (see leaks).
func assertNoLeak(t *testing.T, msg, in string) {
	t.Helper()
	if strings.Contains(msg, in) || leaks(msg, in) {
		t.Errorf("error %q leaks input %q", msg, in)
	}
}

// leaks reports whether msg contains an alphanumeric piece of in of four
// characters or more that is not a word of the package's errors (shorter
// pieces such as "999" or ":" cannot be told from the text of a message).
func leaks(msg, in string) bool {
	lowMsg := strings.ToLower(msg)
	for _, piece := range strings.FieldsFunc(strings.ToLower(in), func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r >= 'а' && r <= 'я')
	}) {
		for i := 0; i+4 <= len(piece); i++ {
			if sub := piece[i : i+4]; strings.Contains(lowMsg, sub) && !strings.Contains(vocabulary, sub) {
				return true
			}
		}
	}
	return false
}

// vocabulary is every word an error of this package may contain.
const vocabulary = "identity: not enough to link on invalid value name birthdate document phone " +
	"missing too long short invalid utf-8 no letters digits unknown format impossible date " +
	"year out of range unexpected character implausible length"

// knownErrors are all the errors the normalisers return. Their texts are
// constants, so an error built only from them cannot hold an input.
var knownErrors = []error{
	ErrInvalid, ErrNotEnough,
	errNameMissing, errBirthdateMissing, errDocumentMissing, errPhoneMissing, errNameTooShort,
	errNameTooLong, errNameUTF8, errNameNoLetters,
	errDateTooLong, errDateFormat, errDateImpossible, errDateRange,
	errDocTooLong, errDocUTF8, errDocChar, errDocLength, errDocNoDigits,
	errPhoneTooLong, errPhoneUTF8, errPhoneChar, errPhoneLength,
}

// assertBuiltFromKnown fails unless err is one of knownErrors or a
// notEnoughError made only of them: the structural proof that no error
// carries an input.
func assertBuiltFromKnown(t *testing.T, err error) {
	t.Helper()
	if slices.Contains(knownErrors, err) {
		return
	}
	ne, ok := err.(*notEnoughError)
	if !ok {
		t.Fatalf("error %q (%T) is not a known error", err, err)
	}
	for _, c := range ne.causes {
		if !slices.Contains(knownErrors, c) {
			t.Fatalf("cause %q (%T) is not a known error", c, c)
		}
	}
}

func TestErrorsAreKnown(t *testing.T) {
	t.Parallel()
	for _, in := range []string{"", "...", "\xff", "2001-02-30", "A", strings.Repeat("x", 300)} {
		for _, f := range []func(string) (string, error){NormalizeName, NormalizeDate, NormalizeDocument, NormalizePhone} {
			if _, err := f(in); err != nil {
				assertBuiltFromKnown(t, err)
			}
		}
		if _, err := MatchKeys(Identity{First: in, Birthdate: in, Document: in, Phone: in}); err != nil {
			assertBuiltFromKnown(t, err)
		}
	}
}
