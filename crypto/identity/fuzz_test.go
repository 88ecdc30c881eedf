package identity

import (
	"errors"
	"testing"
)

// FuzzNormalizeName checks that NormalizeName never panics, never returns
// an empty skeleton, is idempotent, and never puts its input in an error.
func FuzzNormalizeName(f *testing.F) {
	for _, s := range []string{
		"Жылдыз Асанбекова", "ASANBEKOVA ZHYLDYZ", "Тологон-уулу", "Aсанкулов", "Natal’ya",
		"...", "", "\xff", "Ддж", "kks", "Подъячева", "ieia", "中文", "\u00a0ь ъ", "xzhsch",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out, err := NormalizeName(s)
		if err != nil {
			checkError(t, err, s)
			return
		}
		if out == "" {
			t.Fatal("empty skeleton without error")
		}
		again, err := NormalizeName(out)
		if err != nil {
			t.Fatalf("skeleton %q rejected: %v", out, err)
		}
		if again != out {
			t.Fatalf("not idempotent: %q -> %q -> %q", s, out, again)
		}
	})
}

// FuzzMatchKeys checks that MatchKeys never panics, never returns an empty
// key value or a key without an error-free reason, and never puts any input
// in an error.
func FuzzMatchKeys(f *testing.F) {
	f.Add("Жылдыз", "Асанбекова", "12.05.1990", "an 1234567", "0555 123 456")
	f.Add("", "", "", "", "")
	f.Add("...", "-", "2001-02-30", "#", "+")
	f.Add("A", "", "19900512", "ЖД12345", "+7 916 123 45 67")
	f.Add("Тологон уулу", "Нурбек", "1.2.2000", "AN\u00a0123", "00996555123456")
	f.Fuzz(func(t *testing.T, first, last, birthdate, document, phone string) {
		id := Identity{First: first, Last: last, Birthdate: birthdate, Document: document, Phone: phone}
		keys, err := MatchKeys(id)
		if err != nil {
			if !errors.Is(err, ErrNotEnough) {
				t.Fatalf("error %v does not wrap ErrNotEnough", err)
			}
			if keys != nil {
				t.Fatalf("keys %v returned with error", keys)
			}
			for _, in := range []string{first, last, birthdate, document, phone} {
				checkError(t, err, in)
			}
			return
		}
		if len(keys) == 0 {
			t.Fatal("no keys and no error")
		}
		for i, k := range keys {
			if k.Value == "" {
				t.Fatalf("empty value for key %d (%s)", i, k.Kind)
			}
			if i > 0 && kindRank(keys[i-1].Kind) >= kindRank(k.Kind) {
				t.Fatalf("keys out of order: %v", keys)
			}
		}
	})
}

// checkError fails when err does not wrap a sentinel, is not built from the
// package's constant errors, or contains a piece of in.
func checkError(t *testing.T, err error, in string) {
	t.Helper()
	if !errors.Is(err, ErrInvalid) && !errors.Is(err, ErrNotEnough) {
		t.Fatalf("error %v wraps no sentinel", err)
	}
	assertBuiltFromKnown(t, err)
	if msg := err.Error(); leaks(msg, in) {
		t.Fatalf("error %q contains a piece of the input %q", msg, in)
	}
}

// kindRank is the position of a kind in MatchKeys' output.
func kindRank(k Kind) int {
	switch k {
	case KindNameBirthdate:
		return 0
	case KindDocument:
		return 1
	case KindPhone:
		return 2
	}
	return 99
}
