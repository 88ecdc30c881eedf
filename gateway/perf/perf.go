// Package perf measures the exchange path against its floor: the figures
// `tumar bench` prints. Each scenario runs the real code (the same gateway,
// store, policy and keys `tumar serve` uses) on a throw-away development
// environment, and reports records per second, allocations per record and the
// peak resident memory while it ran.
package perf

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/devenv"
)

// Options choose what runs and at what size.
type Options struct {
	// Quick scales every scenario down so the whole run takes under a minute.
	Quick bool
	// Only lists the scenarios to run ("a" to "e"); empty runs all.
	Only []string
	// Dir holds the scratch environments; a temporary directory if empty.
	Dir string
	// Progress, if set, is told when each scenario starts.
	Progress func(name string)
}

// Result is one scenario's figures.
type Result struct {
	Scenario        string  `json:"scenario"`
	Description     string  `json:"description"`
	Clients         int     `json:"clients,omitempty"`
	Records         int     `json:"records"`
	Seconds         float64 `json:"seconds"`
	PerSecond       float64 `json:"records_per_second"`
	AllocsPerRecord float64 `json:"allocs_per_record"`
	// CPUMicrosPerRecord is the process's CPU time (user and system, every
	// core) per record: throughput is bound by it once the cores are busy.
	CPUMicrosPerRecord float64 `json:"cpu_us_per_record"`
	PeakRSSMiB         float64 `json:"peak_rss_mib"`
	P50Millis          float64 `json:"p50_ms,omitempty"`
	P99Millis          float64 `json:"p99_ms,omitempty"`
}

// Target is one of issue 9's targets and whether this run met it.
type Target struct {
	Name string `json:"name"`
	Want string `json:"want"`
	Got  string `json:"got"`
	Met  bool   `json:"met"`
	// Skipped means this run could not judge the target (a --quick run is
	// smaller than the target's size).
	Skipped bool `json:"skipped,omitempty"`
}

// Report is a whole run.
type Report struct {
	Machine Machine  `json:"machine"`
	Quick   bool     `json:"quick"`
	Results []Result `json:"results"`
	// RatioBToA is (b)'s throughput over (a)'s, when both ran.
	RatioBToA float64  `json:"ratio_b_to_a,omitempty"`
	Targets   []Target `json:"targets"`
}

// Machine describes where the figures were taken.
type Machine struct {
	CPU       string `json:"cpu"`
	Cores     int    `json:"cores"`
	GoVersion string `json:"go_version"`
	OS        string `json:"os"`
	GCPercent int    `json:"gc_percent"` // the collector's goal in force (GOGC)
}

// scenario is one measured workload.
type scenario struct {
	id  string
	run func(ctx context.Context, e *env, quick bool) ([]Result, error)
}

var scenarios = []scenario{
	{"a", runFloor},
	{"b", runInProcess},
	{"c", runHTTPS},
	{"d", runBulk},
	{"e", runVault},
}

// Run runs the chosen scenarios in order and checks the targets.
func Run(ctx context.Context, opt Options) (*Report, error) {
	dir, scratch := opt.Dir, opt.Dir == ""
	if scratch {
		d, err := os.MkdirTemp("", "tumar-bench-")
		if err != nil {
			return nil, err
		}
		defer os.RemoveAll(d)
		dir = d
	}
	want := map[string]bool{}
	for _, s := range opt.Only {
		s = strings.TrimSpace(strings.ToLower(s))
		if !validScenario(s) {
			return nil, fmt.Errorf("perf: no scenario %q; the scenarios are a, b, c, d and e", s)
		}
		want[s] = true
	}
	rep := &Report{Machine: machine(), Quick: opt.Quick}
	for _, s := range scenarios {
		if len(want) > 0 && !want[s.id] {
			continue
		}
		if opt.Progress != nil {
			opt.Progress(s.id)
		}
		e := &env{dir: filepath.Join(dir, s.id), close: func() {}}
		rs, err := s.run(ctx, e, opt.Quick)
		e.close()
		if err != nil {
			return rep, fmt.Errorf("perf: scenario %s: %w", s.id, err)
		}
		rep.Results = append(rep.Results, rs...)
		// Each scenario starts on a quiet machine: the last one's files
		// (a gigabyte after (b)) neither linger in the page cache nor are
		// still being written back to the disk while the next measures.
		if scratch {
			os.RemoveAll(e.dir)
		}
		syscall.Sync()
		// Nor its heap: the next one's peak RSS is its own.
		debug.FreeOSMemory()
	}
	rep.check()
	return rep, nil
}

func validScenario(id string) bool {
	for _, s := range scenarios {
		if s.id == id {
			return true
		}
	}
	return false
}

// env is a scenario's scratch gateway: a development environment with file
// keys and SQLite, as `tumar demo` uses.
type env struct {
	dir     string
	n       int   // records, when a Go benchmark sets them
	clients []int // the client counts of (c), when set
	dev     *devenv.Env
	app     *gateway.App
	close   func()
}

func (e *env) open(ctx context.Context) error {
	dev, err := devenv.Create(ctx, e.dir, devenv.Options{Listen: "127.0.0.1:0"})
	if err != nil {
		return err
	}
	app, err := gateway.Open(ctx, dev.Config, slog.New(slog.DiscardHandler))
	if err != nil {
		return err
	}
	e.dev, e.app = dev, app
	e.close = func() { app.Close() }
	return nil
}

// measure runs fn, which handles n records, and takes its figures.
func measure(scenario, desc string, n int, fn func() error) (Result, error) {
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	peak := sampleRSS()
	cpu0 := cpuTime()
	start := time.Now()
	err := fn()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	rss := peak()
	runtime.ReadMemStats(&after)
	if err != nil {
		return Result{}, err
	}
	return Result{
		Scenario: scenario, Description: desc, Records: n, Seconds: elapsed.Seconds(),
		PerSecond:          float64(n) / elapsed.Seconds(),
		AllocsPerRecord:    float64(after.Mallocs-before.Mallocs) / float64(n),
		CPUMicrosPerRecord: float64(cpu.Microseconds()) / float64(n),
		PeakRSSMiB:         float64(rss) / (1 << 20),
	}, nil
}

// sampleRSS samples the process's resident memory every 10 ms until the
// returned function is called, which returns the highest sample.
func sampleRSS() func() uint64 {
	var (
		mu   sync.Mutex
		peak = rss()
	)
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-stop:
				return
			case <-t.C:
				r := rss()
				mu.Lock()
				peak = max(peak, r)
				mu.Unlock()
			}
		}
	}()
	return func() uint64 {
		close(stop)
		<-done
		mu.Lock()
		defer mu.Unlock()
		return max(peak, rss())
	}
}

// cpuTime is the CPU time the process has used so far, user and system;
// 0 where getrusage is not available.
func cpuTime() time.Duration {
	var u syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &u); err != nil {
		return 0
	}
	return time.Duration(u.Utime.Nano() + u.Stime.Nano())
}

// rss is the resident set size in bytes, from /proc; 0 where there is none.
func rss() uint64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	var size, resident uint64
	if _, err := fmt.Sscan(string(b), &size, &resident); err != nil {
		return 0
	}
	return resident * uint64(os.Getpagesize())
}

func machine() Machine {
	m := Machine{Cores: runtime.NumCPU(), GoVersion: runtime.Version(), OS: runtime.GOOS + "/" + runtime.GOARCH, CPU: "unknown", GCPercent: gcPercent()}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	return m
}

// parallel runs n calls of fn over workers goroutines and stops at the first
// error. Each worker takes the next index from a shared counter: a channel
// fed by one more goroutine, as before, kept the floor's two workers
// waiting on it, and measured the floor about 30% low (docs/benchmarks.md).
func parallel(n, workers int, fn func(worker, i int) error) error {
	var (
		next   atomic.Int64
		failed atomic.Bool
		errMu  sync.Mutex
		first  error
		wg     sync.WaitGroup
	)
	for w := range workers {
		wg.Go(func() {
			for !failed.Load() {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(w, i); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
					failed.Store(true)
				}
			}
		})
	}
	wg.Wait()
	return first
}

// gcPercent reads the collector's goal in force.
func gcPercent() int {
	p := debug.SetGCPercent(100)
	debug.SetGCPercent(p)
	return p
}
