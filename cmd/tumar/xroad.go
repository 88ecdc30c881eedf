package main

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/connectors/errp"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/config"
)

// mountXRoad serves the crime register's case events when X-Road is configured.
func mountXRoad(app *gateway.App, cfg *config.Config) {
	if cfg.XRoad.SecurityServerURL == "" {
		return
	}
	app.MountWith("POST /xroad/v1/case-events", "xroad_case_events", errp.Authenticator(cfg.XRoad, cfg), errp.Events(app.Store, app.Policy.Revision))
}

// registerClient is the crime register behind the security server, called
// with the gateway's own certificate.
func registerClient(cfg *config.Config) (*errp.Connector, error) {
	svc, err := errp.ParseServiceID(cfg.XRoad.ERRPService)
	if err != nil {
		return nil, fmt.Errorf("xroad.errp_service: %w", err)
	}
	cli, err := errp.ParseClientID(cfg.XRoad.Client)
	if err != nil {
		return nil, fmt.Errorf("xroad.client: %w", err)
	}
	cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
	if err != nil {
		return nil, err
	}
	ca, err := os.ReadFile(cfg.TLS.CA)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 60 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS12}}}
	return &errp.Connector{Register: &errp.Register{SecurityServer: cfg.XRoad.SecurityServerURL, Client: cli, Service: svc, HTTP: hc}}, nil
}

func newXRoadCmd(log *slog.Logger) *cobra.Command {
	x := &cobra.Command{Use: "xroad", Short: "Exchange with the crime register through Tunduk (X-Road)"}
	var cfgPath string
	var max int
	var lease time.Duration
	deliver := &cobra.Command{
		Use:   "deliver",
		Short: "Send the crime register's released referrals as crime reports through the security server",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if cfg.XRoad.SecurityServerURL == "" {
				return fmt.Errorf("%s has no xroad section", cfgPath)
			}
			conn, err := registerClient(cfg)
			if err != nil {
				return err
			}
			// Without the links index: it runs beside the gateway.
			store, err := gateway.OpenStoreWithoutLinks(cmd.Context(), cfg.Store)
			if err != nil {
				return err
			}
			defer store.Close()
			host, _ := os.Hostname()
			st, err := connectors.DeliverAs(cmd.Context(), store, cfg.XRoad.ERRPAgency, conn, max, fmt.Sprintf("%s/%d", host, os.Getpid()), lease)
			if st != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "delivered %d crime reports; %d refused by the register\n", st.Delivered, len(st.Refused))
				for _, r := range st.Refused {
					fmt.Fprintf(cmd.OutOrStdout(), "  %s: %s\n", r.Position, r.Reason)
				}
			}
			return err
		},
	}
	deliver.Flags().StringVarP(&cfgPath, "config", "c", "tumar.yaml", "configuration file")
	deliver.Flags().IntVar(&max, "max", 1000, "most records to deliver in this run")
	deliver.Flags().DurationVar(&lease, "lease", connectors.Lease, "how long this run holds the records it claimed (longer than one delivery takes)")
	var limit int
	poll := &cobra.Command{
		Use:   "poll-export",
		Short: "Record the crime register's case events from its PostgreSQL export table (the pilot mode)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			dsn := os.Getenv(cfg.XRoad.ExportDSNEnv)
			if cfg.XRoad.ExportDSNEnv == "" || dsn == "" {
				return fmt.Errorf("set xroad.export_dsn_env in %s and that environment variable", cfgPath)
			}
			pool, err := pgxpool.New(cmd.Context(), dsn)
			if err != nil {
				return err
			}
			defer pool.Close()
			engine, err := gateway.OpenPolicy(cmd.Context(), cfg.Policy)
			if err != nil {
				return err
			}
			// Without the links index: it runs beside the gateway.
			store, err := gateway.OpenStoreWithoutLinks(cmd.Context(), cfg.Store)
			if err != nil {
				return err
			}
			defer store.Close()
			const cursorName = "errp-export"
			cur, err := store.Cursor(cmd.Context(), cursorName)
			if err != nil {
				return err
			}
			var since time.Time
			if cur != "" {
				since, _ = time.Parse(time.RFC3339Nano, cur)
			}
			x := &errp.Export{Pool: pool, Table: cfg.XRoad.ExportTable, Agency: cfg.XRoad.ERRPAgency}
			rep, err := x.Poll(cmd.Context(), store, since, limit, engine.Revision())
			if rep != nil {
				fmt.Fprintf(cmd.OutOrStdout(), "recorded %d case events, %d seen before, %d refused\n", rep.Recorded, rep.Duplicates, len(rep.Refused))
				for _, r := range rep.Refused {
					fmt.Fprintln(cmd.OutOrStdout(), "  "+r)
				}
				if serr := store.SetCursor(cmd.Context(), cursorName, rep.Cursor.UTC().Format(time.RFC3339Nano)); serr != nil && err == nil {
					err = serr
				}
			}
			return err
		},
	}
	poll.Flags().StringVarP(&cfgPath, "config", "c", "tumar.yaml", "configuration file")
	poll.Flags().IntVar(&limit, "max", 10000, "most rows to take in this poll")
	x.AddCommand(deliver, poll)
	return x
}
