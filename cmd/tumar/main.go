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
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	log := slog.New(slog.NewJSONHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	err := run(ctx, log, os.Args[1:], os.Stdout)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, "tumar:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, log *slog.Logger, args []string, stdout io.Writer) error {
	root := newRootCmd(log)
	root.SetArgs(args)
	root.SetOut(stdout)
	return root.ExecuteContext(ctx)
}
