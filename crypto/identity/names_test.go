package identity

import (
	"bufio"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// wholeFirst joins a first and a middle name as Names does.
func wholeFirst(first, middle string) string {
	if middle == "" {
		return first
	}
	return first + " " + middle
}

// checkNamesAgree fails unless Names gives, for every part, what
// NormalizeName gives and, for the whole name, the key MatchKeys gives the
// identity with the parts joined.
func checkNamesAgree(t *testing.T, first, middle, last, birthdate string) {
	t.Helper()
	n := NormalizeNames(first, middle, last)
	for p, raw := range []string{first, middle, last} {
		got, gotErr := n.Part(NamePart(p))
		want, wantErr := NormalizeName(raw)
		if got != want || errText(gotErr) != errText(wantErr) {
			t.Fatalf("part %d of %q: Part gives %q, %v; NormalizeName %q, %v", p, raw, got, gotErr, want, wantErr)
		}
	}
	var a, b [512]byte
	merged, mergedErr := n.appendWhole(a[:0])
	whole, wholeErr := appendName(b[:0], wholeFirst(first, middle), last)
	if string(merged) != string(whole) || errText(mergedErr) != errText(wholeErr) {
		t.Fatalf("whole name of %q %q %q: Names gives %q, %v; appendName %q, %v",
			first, middle, last, merged, mergedErr, whole, wholeErr)
	}
	got, gotErr := MatchKeys(Identity{Names: n, Birthdate: birthdate})
	want, wantErr := MatchKeys(Identity{First: wholeFirst(first, middle), Last: last, Birthdate: birthdate})
	if errText(gotErr) != errText(wantErr) || len(got) != len(want) {
		t.Fatalf("keys of %q %q %q: %v, %v; want %v, %v", first, middle, last, got, gotErr, want, wantErr)
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("keys of %q %q %q: %v; want %v", first, middle, last, got, want)
		}
	}
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// FuzzNamesKey holds the name normalised part by part to the whole name
// normalised at once: a difference would give a returning person a new
// name+birth-date key, and so a new pseudonym.
func FuzzNamesKey(f *testing.F) {
	for _, s := range [][3]string{
		{"Жылдыз", "", "Асанбекова"},
		{"Bakyt", "Asan", "uulu"},                                // a marker alone in a part
		{"Асан", "", "Токтогул уулу"},                            // a marker inside a part
		{"d", "", "zh"},                                          // letters that spell a digraph once joined
		{"Ddj", "d", "zhd"},                                      // parts that settle only after a second round
		{"kyzy", "", ""},                                         // a marker and nothing else
		{"Айгүл", "Бекова", "Ниязбекова"},                        // Kyrgyz letters
		{"Natal’ya", "", "Ivanova"},                              // an apostrophe outside ASCII
		{"-", "", "..."},                                         // no letters anywhere
		{"", "Асан", ""},                                         // a middle name alone
		{strings.Repeat("a", 200), strings.Repeat("b", 60), "c"}, // a first name too long once joined
		{"ksenija", "", "Xasanova"},
		{"Ulu", "", "ulu"},
	} {
		f.Add(s[0], s[1], s[2], "12.05.1990")
	}
	f.Add("Бектур", "", "Осмонов", "")
	f.Fuzz(func(t *testing.T, first, middle, last, birthdate string) {
		checkNamesAgree(t, first, middle, last, birthdate)
	})
}

// TestNamesAgreeOnThePairs runs every name of the evaluation pairs, and
// each split into a first and a middle name, through checkNamesAgree; with
// TUMAR_NAME_PAIRS naming a larger file of pairs (../shared/data/names/
// dev.tsv, say), that file's.
func TestNamesAgreeOnThePairs(t *testing.T) {
	path, least := filepath.Join("testdata", "pairs.tsv"), 5
	if p := os.Getenv("TUMAR_NAME_PAIRS"); p != "" {
		path, least = p, 1
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Scan() // header
	rows := 0
	for sc.Scan() {
		c := strings.Split(sc.Text(), "\t")
		for _, side := range [][2]string{{c[3], c[4]}, {c[6], c[7]}} {
			checkNamesAgree(t, side[0], "", side[1], "1990-05-12")
			if first, middle, ok := strings.Cut(strings.TrimSpace(side[0]), " "); ok {
				checkNamesAgree(t, first, middle, side[1], "1990-05-12")
			}
			checkNamesAgree(t, side[1], side[0], "", "1990-05-12")
		}
		rows++
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if rows < least {
		t.Fatalf("read %d pairs", rows)
	}
	t.Logf("%d pairs of %s", rows, path)
}

// TestCommonNamesMerge checks that the names of the people an exchange
// usually sees take the merge, not a second normalisation: without it,
// Names would save nothing.
func TestCommonNamesMerge(t *testing.T) {
	for _, s := range [][3]string{
		{"Жылдыз", "", "Асанбекова"},
		{"Айгүл", "Маратовна", "Ниязбекова"},
		{"BEKTUR", "", "OSMONOV"},
		{"Nurlan", "", "Abdyldaev"},
	} {
		var buf [512]byte
		if _, ok := NormalizeNames(s[0], s[1], s[2]).appendMerged(buf[:0]); !ok {
			t.Errorf("%q: not merged", s)
		}
	}
	if _, err := NormalizeNames("a", "", "b").Part(NamePart(7)); !errors.Is(err, ErrInvalid) {
		t.Errorf("Part of no part: %v", err)
	}
	// And the ones that must not merge do not.
	for _, s := range [][3]string{
		{"Асан", "", "Токтогул уулу"},
		{"Bakyt", "", "uulu"},
		{"Natal’ya", "", "Ivanova"},
	} {
		var buf [512]byte
		if _, ok := NormalizeNames(s[0], s[1], s[2]).appendMerged(buf[:0]); ok {
			t.Errorf("%q: merged", s)
		}
	}
}
