package perf

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/tumarproject/tumar/gateway"
)

// The Go benchmarks run the scenarios of `tumar bench` with b.N records, for
// benchstat to compare before and after a change:
//
//	go test -run XXX -bench . -benchtime 20000x -count 6 ./gateway/perf/ > new.txt
//	benchstat old.txt new.txt
//
// ns/op includes setting up the environment; read ns/record, records/s and
// allocs/record.
func benchScenario(b *testing.B, run func(context.Context, *env, bool) ([]Result, error), clients []int) {
	e := &env{dir: filepath.Join(b.TempDir(), "env"), n: b.N, clients: clients, close: func() {}}
	rs, err := run(context.Background(), e, false)
	e.close()
	if err != nil {
		b.Fatal(err)
	}
	r := rs[len(rs)-1]
	b.ReportMetric(r.Seconds*1e9/float64(r.Records), "ns/record")
	b.ReportMetric(r.PerSecond, "records/s")
	b.ReportMetric(r.AllocsPerRecord, "allocs/record")
	b.ReportMetric(r.CPUMicrosPerRecord, "cpu-us/record")
	if r.P99Millis > 0 {
		b.ReportMetric(r.P99Millis, "p99-ms")
	}
}

func BenchmarkFloor(b *testing.B)     { benchScenario(b, runFloor, nil) }
func BenchmarkInProcess(b *testing.B) { benchScenario(b, runInProcess, nil) }
func BenchmarkBulkCSV(b *testing.B)   { benchScenario(b, runBulk, nil) }
func BenchmarkVault(b *testing.B)     { benchScenario(b, runVault, nil) }

func BenchmarkHTTPS(b *testing.B) {
	for _, c := range []int{1, 16, 64} {
		b.Run("clients="+strconv.Itoa(c), func(b *testing.B) { benchScenario(b, runHTTPS, []int{c}) })
	}
}

// TestMain runs the tests and benchmarks with the collector set as the
// tumar binary sets it.
func TestMain(m *testing.M) {
	gateway.TuneGC()
	os.Exit(m.Run())
}
