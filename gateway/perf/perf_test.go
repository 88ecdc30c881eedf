package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/tumarproject/tumar/gateway/htcds"
)

// The synthetic referrals are valid canonical records of about 1 KB, each
// with its own identity.
func TestReferralsAreValidAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i := range 500 {
		b := referral(i)
		if len(b) < 900 || len(b) > 1200 {
			t.Fatalf("referral %d is %d bytes, want about 1 KB", i, len(b))
		}
		var r htcds.Record
		if err := r.UnmarshalJSON(b); err != nil {
			t.Fatalf("referral %d: %v", i, err)
		}
		id, _ := htcds.Lookup("prs_IdentityNumber")
		v, _ := r.Get(id.ID)
		if seen[v.Str] {
			t.Fatalf("referral %d repeats a document number", i)
		}
		seen[v.Str] = true
	}
}

// A quick run of the floor, the in-process exchange and the Vault backend
// measures real work: every released record is in a verified audit log
// (checked inside the run), and the figures and targets are filled in.
func TestQuickRun(t *testing.T) {
	if testing.Short() {
		t.Skip("runs the gateway for a few seconds")
	}
	rep, err := Run(context.Background(), Options{Quick: true, Only: []string{"a", "b", "e"}, Dir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 3 {
		t.Fatalf("got %d results, want 3", len(rep.Results))
	}
	for _, r := range rep.Results {
		if r.Records == 0 || r.PerSecond <= 0 || r.AllocsPerRecord <= 0 || r.PeakRSSMiB <= 0 {
			t.Errorf("scenario %s has empty figures: %+v", r.Scenario, r)
		}
	}
	if rep.RatioBToA <= 0 || rep.RatioBToA > 1.5 {
		t.Errorf("(b)/(a) = %v", rep.RatioBToA)
	}
	if len(rep.Targets) != 2 {
		t.Errorf("targets judged: %+v", rep.Targets)
	}
	var out bytes.Buffer
	if err := rep.Print(&out); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"records/s", "(b)/(a)", "Targets (issue 9)"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("the table lacks %q:\n%s", want, out.String())
		}
	}
	if _, err := json.Marshal(rep); err != nil {
		t.Fatal(err)
	}
}

func TestUnknownScenario(t *testing.T) {
	_, err := Run(context.Background(), Options{Only: []string{"z"}, Dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), `"z"`) {
		t.Fatalf("err = %v", err)
	}
}

// (d)'s memory bound is the 300 MB read strictly, 300,000,000
// bytes: 290 MiB (304 MB) misses it, 280 MiB (294 MB) meets it.
func TestBulkMemoryBoundIs300MB(t *testing.T) {
	for _, tc := range []struct {
		mib  float64
		want bool
	}{{280, true}, {290, false}} {
		r := &Report{Results: []Result{{Scenario: "d", Records: 1_000_000, Seconds: 50, PeakRSSMiB: tc.mib}}}
		r.check()
		if len(r.Targets) != 1 || r.Targets[0].Met != tc.want {
			t.Errorf("peak RSS %.0f MiB: targets %+v, want met %v", tc.mib, r.Targets, tc.want)
		}
	}
}
