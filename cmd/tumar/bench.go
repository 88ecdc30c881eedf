package main

import (
	"encoding/json"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/gateway/perf"
)

func newBenchCmd() *cobra.Command {
	var (
		quick, asJSON          bool
		only, cpuprofile, keep string
	)
	cmd := &cobra.Command{
		Use:   "bench",
		Short: "Measure the exchange path against its floor and print a table",
		Long: fmt.Sprintf(`bench runs the real gateway on throw-away development environments and
measures, in one run:

  (a) the floor: JSON decode, three keyed pseudonyms and JSON encode of a
      1 KB referral, on every core; no policy, no store
  (b) the whole exchange in-process: file keys, default policy, SQLite,
      %d in flight as the connector runner keeps, every record durably
      stored and audited
  (c) the same over HTTPS with mutual TLS and keep-alive, 1, 16 and 64 clients
  (d) bulk: 1,000,000 CSV rows through the NGO connector
  (e) the Vault backend against the Vault-compatible test server, batched

For each it prints records per second, allocations per record and peak
resident memory, then the issue 9 targets and whether this run met them.
A full run takes 2 to 6 minutes on 2 cores and 4 GB of scratch disk; --quick
runs a scaled-down version in under a minute.`, connectors.DefaultInFlight),
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			opt := perf.Options{Quick: quick, Dir: keep}
			if only != "" {
				opt.Only = strings.Split(only, ",")
			}
			if !asJSON {
				opt.Progress = func(s string) { fmt.Fprintf(cmd.ErrOrStderr(), "running (%s)...\n", s) }
			}
			if cpuprofile != "" {
				f, err := os.Create(cpuprofile)
				if err != nil {
					return err
				}
				defer f.Close()
				if err := pprof.StartCPUProfile(f); err != nil {
					return err
				}
				defer pprof.StopCPUProfile()
			}
			rep, err := perf.Run(cmd.Context(), opt)
			if err != nil {
				return err
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			return rep.Print(cmd.OutOrStdout())
		},
	}
	cmd.Flags().BoolVar(&quick, "quick", false, "run a scaled-down version (under a minute)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the results as one JSON object")
	cmd.Flags().StringVar(&cpuprofile, "cpuprofile", "", "write a CPU profile of the run to this file (for go tool pprof)")
	cmd.Flags().StringVar(&only, "only", "", "run only these scenarios, comma-separated (a,b,c,d,e)")
	cmd.Flags().StringVar(&keep, "keep", "", "keep each scenario's gateway (database, links index, keys) in this directory, for inspection")
	return cmd
}
