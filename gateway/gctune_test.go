package gateway

import (
	"os"
	"runtime/debug"
	"testing"
)

func TestTuneGCSetsTheGoalUnlessGOGCDoes(t *testing.T) {
	old := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(old) })

	t.Setenv("GOGC", "") // to restore it after
	os.Unsetenv("GOGC")
	if got := TuneGC(); got != GCPercent {
		t.Fatalf("TuneGC without GOGC = %d, want %d", got, GCPercent)
	}
	if got := debug.SetGCPercent(100); got != GCPercent {
		t.Fatalf("goal in force %d, want %d", got, GCPercent)
	}

	// GOGC set: the runtime read it at start; TuneGC leaves the goal alone.
	t.Setenv("GOGC", "50")
	debug.SetGCPercent(50)
	if got := TuneGC(); got != 50 {
		t.Fatalf("TuneGC with GOGC=50 = %d, want 50", got)
	}
	if got := debug.SetGCPercent(100); got != 50 {
		t.Fatalf("goal in force %d, want 50", got)
	}
}
