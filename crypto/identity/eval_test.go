package identity

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEvalPairs(t *testing.T) {
	t.Parallel()
	f, err := os.Open(filepath.Join("testdata", "pairs.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := EvalPairs(f)
	if err != nil {
		t.Fatal(err)
	}
	want := Report{
		Counts: Counts{SameLinked: 3, SameTotal: 4, DifferentLinked: 0, DifferentTotal: 3},
		ByKind: map[string]Counts{
			"icao":                {SameLinked: 1, SameTotal: 1},
			"bgn":                 {SameLinked: 1, SameTotal: 1},
			"order_swap":          {SameLinked: 1, SameTotal: 1},
			"typo":                {SameLinked: 0, SameTotal: 1},
			"gender_suffix":       {DifferentTotal: 1},
			"same_name_diff_date": {DifferentTotal: 1},
			"siblings":            {DifferentTotal: 1},
		},
	}
	got, _ := json.Marshal(rep)
	exp, _ := json.Marshal(want)
	if string(got) != string(exp) {
		t.Errorf("report\n got %s\nwant %s", got, exp)
	}
}

func TestEvalPairsJSON(t *testing.T) {
	t.Parallel()
	rep := Report{Counts: Counts{1, 2, 3, 4}, ByKind: map[string]Counts{"k": {5, 6, 7, 8}}}
	got, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	const want = `{"same_linked":1,"same_total":2,"different_linked":3,"different_total":4,` +
		`"by_kind":{"k":{"same_linked":5,"same_total":6,"different_linked":7,"different_total":8}}}`
	if string(got) != want {
		t.Errorf("got %s, want %s", got, want)
	}
}

func TestEvalPairsMalformed(t *testing.T) {
	t.Parallel()
	const header = "pair_id\tlabel\tkind\ta_first\ta_last\ta_birthdate\tb_first\tb_last\tb_birthdate\n"
	const good = "T1\tsame\ticao\tA\tB\t1990-01-01\tA\tB\t1990-01-01\n"
	tests := []struct {
		name, in, line string
	}{
		{"empty", "", "empty input"},
		{"bad header", "id\tlabel\n" + good, "line 1:"},
		{"too few fields", header + good + "T2\tsame\ticao\tSecretname\n", "line 3:"},
		{"bad label", header + "T2\tmaybe\ticao\tA\tB\t1990-01-01\tA\tB\t1990-01-01\n", "line 2:"},
		{"empty kind", header + good + good + "T2\tsame\t\tA\tB\t1990-01-01\tA\tB\t1990-01-01\n", "line 4:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			_, err := EvalPairs(strings.NewReader(tt.in))
			if !errors.Is(err, ErrEvalFormat) {
				t.Fatalf("got %v, want ErrEvalFormat", err)
			}
			if !strings.Contains(err.Error(), tt.line) {
				t.Errorf("error %q does not name %q", err, tt.line)
			}
			if strings.Contains(err.Error(), "Secretname") {
				t.Errorf("error %q leaks a field", err)
			}
		})
	}
}

// TestEvalDevSet runs EvalPairs on a labelled pair file named by
// TUMAR_NAMES_DEV (for example the shared dev set) and logs the report; it
// skips when the variable is unset, as the file is not part of the project.
func TestEvalDevSet(t *testing.T) {
	path := os.Getenv("TUMAR_NAMES_DEV")
	if path == "" {
		t.Skip("TUMAR_NAMES_DEV not set; skipping the dev-set measurement")
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rep, err := EvalPairs(f)
	if err != nil {
		t.Fatal(err)
	}
	out, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("report:\n%s", out)
}
