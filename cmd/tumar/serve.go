package main

import (
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/connectors/consular"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/config"
)

// mountBundles serves POST /v1/bundles when the configuration trusts consulates.
func mountBundles(app *gateway.App, cfg *config.Config) error {
	if cfg.Bundles.DecryptionKey == "" {
		return nil
	}
	checker, err := consular.NewChecker(cfg.Bundles)
	if err != nil {
		return err
	}
	im := &consular.Importer{Checker: checker, Sink: app.Exchange, Store: app.Store}
	app.Mount("POST /v1/bundles", "bundles", im.Handler())
	return nil
}

func newServeCmd(log *slog.Logger) *cobra.Command {
	var cfgPath string
	cmd := &cobra.Command{
		Use:   "serve",
		Short: "Run the gateway's HTTPS API",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			app, err := gateway.Open(cmd.Context(), cfg, log)
			if err != nil {
				return err
			}
			if err := mountBundles(app, cfg); err != nil {
				return err
			}
			mountXRoad(app, cfg)
			return app.Serve(cmd.Context())
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "tumar.yaml", "configuration file")
	return cmd
}
