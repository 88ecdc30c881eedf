package audit

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func chain(t *testing.T, n int) []Entry {
	t.Helper()
	var prev []byte
	out := make([]Entry, n)
	for i := range out {
		out[i] = Entry{DecisionID: fmt.Sprintf("d%d", i), Time: time.Now(), Event: "exchange", Source: "ngo", Destination: "errp", Outcome: Released,
			Fields: []FieldAction{{Field: "prs_FirstName", Action: "pseudonymise", Rule: "r"}}}
		if _, err := out[i].Seal(int64(i+1), prev); err != nil {
			t.Fatal(err)
		}
		prev = out[i].Hash
	}
	return out
}

func TestVerifyFindsTheFirstBadEntry(t *testing.T) {
	for _, tc := range []struct {
		name   string
		tamper func([]Entry) []Entry
		want   string
	}{
		{"intact", func(e []Entry) []Entry { return e }, ""},
		{"modified", func(e []Entry) []Entry { e[2].Destination = "consulate"; return e }, "seq 3: content"},
		{"modified action", func(e []Entry) []Entry { e[3].Fields[0].Action = "keep"; return e }, "seq 4: content"},
		{"deleted", func(e []Entry) []Entry { return append(e[:2], e[3:]...) }, "seq 4: sequence jumps"},
		{"reordered", func(e []Entry) []Entry { e[1], e[2] = e[2], e[1]; return e }, "seq 3: sequence jumps"},
		{"inserted", func(e []Entry) []Entry {
			forged := e[1]
			forged.DecisionID = "forged"
			return append(e[:2], append([]Entry{forged}, e[2:]...)...)
		}, "seq 2: sequence jumps"},
		{"truncated head", func(e []Entry) []Entry { return e[1:] }, "seq 2: does not follow"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := Verify(nil, tc.tamper(chain(t, 5)))
			if tc.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if !errors.Is(err, ErrBroken) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("got %v, want %q", err, tc.want)
			}
		})
	}
}
