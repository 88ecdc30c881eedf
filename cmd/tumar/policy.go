package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/policy"
)

func newPolicyCmd() *cobra.Command {
	pol := &cobra.Command{Use: "policy", Short: "Work with the release policy"}
	var dir string
	test := &cobra.Command{
		Use:   "test",
		Short: "Run the policy's own Rego tests (the embedded default, or --dir)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			mods := policy.Default()
			if dir != "" {
				var err error
				if mods, err = policy.FromDir(dir); err != nil {
					return err
				}
			}
			results, err := policy.Test(cmd.Context(), mods)
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			for _, r := range results {
				status := "PASS"
				if !r.Pass {
					status = "FAIL"
				}
				fmt.Fprintf(out, "%s %s (%s)", status, r.Name, r.Duration.Round(1000))
				if r.Message != "" {
					fmt.Fprintf(out, ": %s", r.Message)
				}
				fmt.Fprintln(out)
			}
			failed := policy.Failed(results)
			fmt.Fprintf(out, "policy %s: %d passed, %d failed\n", mods.Revision(), len(results)-len(failed), len(failed))
			if len(results) == 0 {
				return fmt.Errorf("the policy has no Rego tests")
			}
			if len(failed) > 0 {
				return fmt.Errorf("%d policy test(s) failed", len(failed))
			}
			return nil
		},
	}
	test.Flags().StringVar(&dir, "dir", "", "directory of .rego files to test instead of the embedded default")
	pol.AddCommand(test)
	return pol
}
