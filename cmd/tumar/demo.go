package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/gateway/demo"
)

func newDemoCmd(log *slog.Logger) *cobra.Command {
	var verbose bool
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Run a whole gateway on loopback and exchange bundled sample referrals (no set-up needed)",
		Long: `demo creates a keyring, a development CA and certificates, and a temporary
store; starts the gateway on loopback; has an NGO refer bundled invented people
to the crime register and to a consulate; and prints, side by side, what the
NGO sent and what each recipient received, with the policy rule behind every
field. Everything it creates is removed when it ends.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			l := slog.New(slog.DiscardHandler)
			if verbose {
				l = log
			}
			return demo.Run(cmd.Context(), cmd.OutOrStdout(), l, demo.Options{})
		},
	}
	cmd.Flags().BoolVarP(&verbose, "verbose", "v", false, "show the gateway's log on standard error")
	return cmd
}
