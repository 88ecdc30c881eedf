package main

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/gateway/devenv"
)

func newDevCmd() *cobra.Command {
	dev := &cobra.Command{Use: "dev", Short: "Set up a local gateway for trying Tumar out"}
	var dir, listen string
	initCmd := &cobra.Command{
		Use:   "init",
		Short: "Create a development CA, certificates for the gateway and each sample agency, a keyring and a configuration",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			env, err := devenv.Create(cmd.Context(), dir, devenv.Options{Listen: listen})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "Wrote a development gateway to %s.\n", env.Dir)
			fmt.Fprintf(out, "  start it:   tumar serve --config %s\n", env.ConfigPath)
			fmt.Fprintf(out, "  agencies:   ")
			for _, a := range env.Config.Agencies {
				fmt.Fprintf(out, "%s (%s.pem) ", a.ID, a.ID)
			}
			fmt.Fprintf(out, "\n  for example: curl --cacert %[1]s/ca.pem --cert %[1]s/ngo-sezim.pem --key %[1]s/ngo-sezim-key.pem https://%[2]s/v1/inbox\n", env.Dir, env.Config.Listen)
			return nil
		},
	}
	initCmd.Flags().StringVar(&dir, "dir", ".tumar-dev", "directory to create (must be empty or absent)")
	initCmd.Flags().StringVar(&listen, "listen", "127.0.0.1:8443", "address the gateway will listen on")
	dev.AddCommand(initCmd)
	return dev
}
