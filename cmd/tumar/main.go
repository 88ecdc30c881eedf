// Command tumar is the Tumar gateway and its tools: serve, demo, keys,
// policy and dev set-up, as subcommands of one binary.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/tumarproject/tumar/gateway"
)

func main() {
	gateway.TuneGC()
	os.Exit(mainCode(os.Args[1:]))
}

// mainCode runs the command line and returns the exit code; the tests run
// it as a separate process too, as several gateway replicas.
func mainCode(args []string) int {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if err := run(ctx, log, args, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "tumar:", err)
		return 1
	}
	return 0
}

func run(ctx context.Context, log *slog.Logger, args []string, stdout io.Writer) error {
	root := newRootCmd(log)
	root.SetArgs(args)
	root.SetOut(stdout)
	return root.ExecuteContext(ctx)
}
