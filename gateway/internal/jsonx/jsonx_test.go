package jsonx

import (
	"encoding/json"
	"testing"
)

func check(t *testing.T, s string) {
	t.Helper()
	want, err := json.Marshal(s)
	if err != nil {
		t.Fatal(err)
	}
	if got := AppendString([]byte("x"), s); string(got) != "x"+string(want) {
		t.Fatalf("%q: got %s, want %s", s, got[1:], want)
	}
}

func TestAppendStringIsEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain ascii", "Айгүл Токтосунова", "<script>", "a&b", "quote\" back\\slash", "\t\n\r\b\f", "\x00\x1f\x7f",
		"\u2028\u2029", "bad \xff\xfe utf8", "😀", "/ slash", "\u00e9\u0301"} {
		check(t, s)
	}
}

func FuzzAppendString(f *testing.F) {
	f.Add("Айгүл <&> \u2028 \xff")
	f.Fuzz(func(t *testing.T, s string) { check(t, s) })
}
