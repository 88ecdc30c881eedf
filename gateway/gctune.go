package gateway

import (
	"os"
	"runtime/debug"
)

// GCPercent is the garbage collector's goal the tumar binary runs with,
// unless the GOGC environment variable sets one. The gateway's live heap is
// small (20 to 30 MB through a bulk load of a million records) and it
// allocates about 27 KB a record, so Go's default of 100 collects every 600
// or so records, and the collector took about a tenth of the CPU. At 150 a
// bulk load runs 5.5% fewer instructions (200 saves 7.4%, for twice the
// extra memory): docs/benchmarks.md, "A ninth session".
const GCPercent = 150

// TuneGC sets the collector's goal to GCPercent unless GOGC is set, and
// returns the goal in force. The binary calls it first thing; so do the Go
// benchmarks, to measure what the binary runs.
func TuneGC() int {
	if _, set := os.LookupEnv("GOGC"); set { // as the runtime read it at start
		old := debug.SetGCPercent(100)
		debug.SetGCPercent(old)
		return old
	}
	debug.SetGCPercent(GCPercent)
	return GCPercent
}
