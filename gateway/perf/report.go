package perf

import (
	"fmt"
	"io"
	"text/tabwriter"
)

func (r *Report) result(scenario string, clients int) (Result, bool) {
	for _, x := range r.Results {
		if x.Scenario == scenario && (clients == 0 || x.Clients == clients) {
			return x, true
		}
	}
	return Result{}, false
}

// maxBulkRSSMiB is (d)'s bound on resident memory: 300 MB.
const maxBulkRSSMiB = 300e6 / (1 << 20)

// check judges the run against issue 9's targets.
func (r *Report) check() {
	a, okA := r.result("a", 0)
	b, okB := r.result("b", 0)
	if okA && okB && a.PerSecond > 0 {
		r.RatioBToA = b.PerSecond / a.PerSecond
		r.Targets = append(r.Targets, Target{Name: "(b) vs (a)", Want: "(b) ≥ 0.5 × (a)",
			Got: fmt.Sprintf("%.3f × (a)", r.RatioBToA), Met: r.RatioBToA >= 0.5})
	}
	if c, ok := r.result("c", 64); ok {
		r.Targets = append(r.Targets, Target{Name: "(c) 64 clients", Want: "≥ 3,000/s, p99 < 50 ms",
			Got: fmt.Sprintf("%.0f/s, p99 %.1f ms", c.PerSecond, c.P99Millis), Met: c.PerSecond >= 3000 && c.P99Millis < 50})
	}
	if c, ok := r.result("c", 1); ok {
		r.Targets = append(r.Targets, Target{Name: "(c) 1 client", Want: "p99 < 5 ms",
			Got: fmt.Sprintf("p99 %.2f ms", c.P99Millis), Met: c.P99Millis < 5})
	}
	if d, ok := r.result("d", 0); ok {
		// The 300 MB, read strictly: 300,000,000 bytes, 286 MiB.
		t := Target{Name: "(d) bulk", Want: "1,000,000 rows < 60 s, RSS < 300 MB (286 MiB)",
			Got: fmt.Sprintf("%d rows in %.1f s, peak RSS %.0f MiB", d.Records, d.Seconds, d.PeakRSSMiB),
			Met: d.Records >= 1_000_000 && d.Seconds < 60 && d.PeakRSSMiB < maxBulkRSSMiB}
		t.Skipped = d.Records < 1_000_000
		r.Targets = append(r.Targets, t)
	}
	if e, ok := r.result("e", 0); ok {
		r.Targets = append(r.Targets, Target{Name: "(e) Vault", Want: "≥ 20,000 pseudonyms/s",
			Got: fmt.Sprintf("%.0f/s", e.PerSecond), Met: e.PerSecond >= 20000})
	}
}

// Print writes the report as tables for people.
func (r *Report) Print(w io.Writer) error {
	fmt.Fprintf(w, "Machine: %d cores, %s, %s, %s, GOGC=%d", r.Machine.Cores, r.Machine.CPU, r.Machine.GoVersion, r.Machine.OS, r.Machine.GCPercent)
	if r.Quick {
		fmt.Fprint(w, " (--quick: scaled down)")
	}
	fmt.Fprint(w, "\n\n")
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tclients\trecords\tseconds\trecords/s\tallocs/record\tCPU µs/record\tpeak RSS MiB\tp50 ms\tp99 ms\t")
	for _, x := range r.Results {
		clients, p50, p99 := "-", "-", "-"
		if x.Clients > 0 {
			clients = fmt.Sprint(x.Clients)
		}
		if x.P99Millis > 0 {
			p50, p99 = fmt.Sprintf("%.2f", x.P50Millis), fmt.Sprintf("%.2f", x.P99Millis)
		}
		fmt.Fprintf(tw, "%s\t%s\t%d\t%.2f\t%.0f\t%.0f\t%.1f\t%.0f\t%s\t%s\t\n", x.Scenario, clients, x.Records, x.Seconds, x.PerSecond, x.AllocsPerRecord, x.CPUMicrosPerRecord, x.PeakRSSMiB, p50, p99)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w)
	described := map[string]bool{}
	for _, x := range r.Results {
		if !described[x.Scenario] {
			described[x.Scenario] = true
			fmt.Fprintf(w, "  (%s) %s\n", x.Scenario, x.Description)
		}
	}
	if r.RatioBToA > 0 {
		fmt.Fprintf(w, "\n(b)/(a) = %.3f\n", r.RatioBToA)
	}
	if len(r.Targets) == 0 {
		return nil
	}
	fmt.Fprintln(w, "\nTargets (issue 9):")
	tw = tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, t := range r.Targets {
		verdict := "not met"
		switch {
		case t.Skipped:
			verdict = "not judged (--quick)"
		case t.Met:
			verdict = "met"
		}
		fmt.Fprintf(tw, "  %s\twant %s\tgot %s\t%s\n", t.Name, t.Want, t.Got, verdict)
	}
	return tw.Flush()
}
