package connectors_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/connectors/cso"
	"github.com/tumarproject/tumar/connectors/mapping"
	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

const mappingYAML = `source_id: "Номер дела"
columns:
  "Имя": prs_FirstName
  "Фамилия": prs_SecondName
  "Дата рождения": prs_Birthdate
  "Статус дела": cas_Status
`

const sheet = "Номер дела;Имя;Фамилия;Дата рождения;Статус дела\n" +
	"SZ-1;Айгүл;Токтосунова;14.03.1996;Active\n" +
	"SZ-2;Канарейка;Канарейкова;31.02.1989;Active\n" +
	"SZ-3;Бермет;Жумабек кызы;21.07.2004;Closed\n" +
	"SZ-4;?!;Токтогул уулу;06.05.1991;Active\n"

func setup(t *testing.T, body string) (*gatewaytest.Gateway, *connectors.Runner, string) {
	t.Helper()
	g := gatewaytest.Start(t)
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(mappingYAML), 0o600)
	path := filepath.Join(dir, "cases.csv")
	os.WriteFile(path, []byte(body), 0o600)
	m, err := mapping.Load(filepath.Join(dir, "m.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cso.OpenCSV("sezim-csv", path, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r := &connectors.Runner{
		Connector: c, Source: "ngo-sezim", Sink: g.App.Exchange,
		Target:     connectors.Target{Destination: "errp", Purpose: "criminal-referral", LegalBasis: "victim-consent"},
		Quarantine: &connectors.Quarantine{Store: g.App.Store, Sealer: g.App.Keys.(keys.Sealer)},
		Metrics:    connectors.NewMetrics(prometheus.NewRegistry()),
	}
	return g, r, path
}

func TestRunBringsGoodRowsInAndQuarantinesTheRest(t *testing.T) {
	g, r, path := setup(t, sheet)
	ctx := context.Background()
	st, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Read != 4 || st.Accepted != 2 || st.Rejected != 2 || st.ByReason["mapping"] != 1 || st.ByReason["cannot_pseudonymise"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	msgs, _ := g.App.Store.Inbox(ctx, "errp", 10)
	if len(msgs) != 2 {
		t.Fatalf("errp got %d records", len(msgs))
	}
	q, _ := g.App.Store.QuarantineList(ctx, "sezim-csv")
	if len(q) != 2 || q[0].Position != "line 3" || q[1].Position != "line 5" {
		t.Fatalf("quarantine %+v", q)
	}
	if strings.Contains(q[1].Reason, "?!") || !strings.Contains(q[1].Reason, "prs_FirstName") {
		t.Fatalf("reason %q", q[1].Reason)
	}
	full, _ := g.App.Store.QuarantineGet(ctx, q[0].ID)
	raw, err := r.Quarantine.Open(ctx, full)
	if err != nil || !strings.Contains(raw.Line, "Канарейкова") {
		t.Fatalf("the quarantined row does not open to its line: %v", err)
	}
	files, _ := filepath.Glob(g.Env.Config.Store.Path + "*")
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if strings.Contains(string(b), "Канарейк") {
			t.Fatalf("a quarantined identity is readable in %s", filepath.Base(f))
		}
	}

	// Running the same file again makes no second case.
	_, r2, _ := setupAgain(t, g, path)
	st2, err := r2.Run(ctx)
	if err != nil || st2.Duplicates != 2 || st2.Accepted != 0 {
		t.Fatalf("a second run: %+v %v", st2, err)
	}
	msgs, _ = g.App.Store.Inbox(ctx, "errp", 10)
	if len(msgs) != 2 {
		t.Fatalf("a second run released again: %d records", len(msgs))
	}
}

func setupAgain(t *testing.T, g *gatewaytest.Gateway, path string) (*gatewaytest.Gateway, *connectors.Runner, string) {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(mappingYAML), 0o600)
	m, _ := mapping.Load(filepath.Join(dir, "m.yaml"))
	c, err := cso.OpenCSV("sezim-csv", path, m)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return g, &connectors.Runner{Connector: c, Source: "ngo-sezim", Sink: g.App.Exchange,
		Target:     connectors.Target{Destination: "errp", Purpose: "criminal-referral", LegalBasis: "victim-consent"},
		Quarantine: &connectors.Quarantine{Store: g.App.Store, Sealer: g.App.Keys.(keys.Sealer)}}, path
}

// failingSink fails like a gateway whose key store is down, after n submissions.
type failingSink struct {
	connectors.Sink
	n int
}

func (f *failingSink) Exchange(ctx context.Context, sub *gateway.Submission) (*gateway.Receipt, error) {
	if f.n <= 0 {
		return nil, &gateway.Error{Status: 503, Code: "pseudonymisation_failed", Message: "key store down"}
	}
	f.n--
	return f.Sink.Exchange(ctx, sub)
}

func TestACrashMidRunLosesNothing(t *testing.T) {
	g, r, path := setup(t, sheet)
	ctx := context.Background()
	r.Workers = 1
	r.Sink = &failingSink{Sink: g.App.Exchange, n: 1}
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "the gateway failed, the run stops") {
		t.Fatalf("a gateway failure did not stop the run: %v", err)
	}
	_, again, _ := setupAgain(t, g, path)
	st, err := again.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := g.App.Store.Inbox(ctx, "errp", 10)
	if len(msgs) != 2 || st.Duplicates+st.Accepted != 2 {
		t.Fatalf("after the re-run errp has %d records (stats %+v), want exactly the 2 good rows", len(msgs), st)
	}
}

// manyRows is a sheet of n rows; every tenth has an impossible date.
func manyRows(n int) string {
	var b strings.Builder
	b.WriteString("Номер дела;Имя;Фамилия;Дата рождения;Статус дела\n")
	for i := range n {
		date := fmt.Sprintf("%02d.%02d.%d", 1+i%28, 1+i%12, 1970+i%30)
		if i%10 == 9 {
			date = "31.02.1989"
		}
		fmt.Fprintf(&b, "SZ-%d;Айгүл;Токтосунова;%s;Active\n", i, date)
	}
	return b.String()
}

// With batches in flight at once (the next read while this one is
// submitted, the next submitted while this one finishes), every row is
// counted once, in its batch.
func TestRunOverlapsBatches(t *testing.T) {
	g, r, _ := setup(t, manyRows(200))
	ctx := context.Background()
	r.BatchSize, r.Workers = 7, 5
	batches := 0
	r.Progress = func(connectors.Stats) { batches++ }
	st, err := r.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if st.Read != 200 || st.Accepted != 180 || st.Rejected != 20 || st.Duplicates != 0 {
		t.Fatalf("stats %+v, want 200 read, 180 released, 20 quarantined", st)
	}
	if batches != 29 { // 200 rows in batches of 7
		t.Fatalf("progress after %d batches, want 29", batches)
	}
	msgs, _ := g.App.Store.Inbox(ctx, "errp", 1000)
	if len(msgs) != 180 {
		t.Fatalf("errp has %d records, want 180", len(msgs))
	}
}

// A gateway failure in the middle of a run of many batches stops it with
// the failure, leaving nothing running; the re-run brings in every row
// exactly once, whatever the overlap had already released.
func TestAFailureMidRunOfManyBatchesLosesNothing(t *testing.T) {
	g, r, path := setup(t, manyRows(200))
	ctx := context.Background()
	r.BatchSize, r.Workers = 7, 5
	sink := &countingFailSink{Sink: g.App.Exchange}
	sink.left.Store(60)
	r.Sink = sink
	if _, err := r.Run(ctx); err == nil || !strings.Contains(err.Error(), "the gateway failed, the run stops") {
		t.Fatalf("a gateway failure did not stop the run: %v", err)
	}
	calls := sink.calls.Load()
	time.Sleep(50 * time.Millisecond)
	if sink.calls.Load() != calls {
		t.Fatal("submissions went on after Run returned")
	}
	_, again, _ := setupAgain(t, g, path)
	again.BatchSize, again.Workers = 7, 5
	st, err := again.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	msgs, _ := g.App.Store.Inbox(ctx, "errp", 1000)
	if len(msgs) != 180 || st.Duplicates+st.Accepted != 180 || st.Duplicates < 60 {
		t.Fatalf("after the re-run errp has %d records (stats %+v), want the 180 good rows, at least 60 of them from the first run", len(msgs), st)
	}
}

// countingFailSink fails like a gateway whose key store is down once left
// submissions have gone through; safe for concurrent use.
type countingFailSink struct {
	connectors.Sink
	left, calls atomic.Int64
}

func (f *countingFailSink) Exchange(ctx context.Context, sub *gateway.Submission) (*gateway.Receipt, error) {
	f.calls.Add(1)
	if f.left.Add(-1) < 0 {
		return nil, &gateway.Error{Status: 503, Code: "pseudonymisation_failed", Message: "key store down"}
	}
	return f.Sink.Exchange(ctx, sub)
}
