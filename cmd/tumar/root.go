package main

import (
	"log/slog"

	"github.com/spf13/cobra"
)

func newRootCmd(log *slog.Logger) *cobra.Command {
	root := &cobra.Command{
		Use:   "tumar",
		Short: "Tumar: a privacy-preserving exchange gateway for referral data about victims of trafficking",
		Long: `Tumar lets the agencies of a National Referral Mechanism exchange referral data
without spreading a victim's identity: every field passes an Open Policy Agent
policy, identities become keyed pseudonyms in each recipient's own domain, and
every decision is written to a hash-chained audit log.

Start with 'tumar demo', which needs no set-up.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.AddCommand(
		newServeCmd(log),
		newDemoCmd(log),
		newKeysCmd(),
		newPolicyCmd(),
		newDevCmd(),
		newPseudonymizeCmd(),
		newLinkEvalCmd(),
		newVaultCmd(),
		newTokenCmd(),
		newStatusCmd(),
		newConnectorCmd(log),
		newConsularCmd(),
		newXRoadCmd(log),
		newAuditCmd(),
		newStoreCmd(),
		newBenchCmd(),
		newEnvelopeCmd(),
	)
	return root
}
