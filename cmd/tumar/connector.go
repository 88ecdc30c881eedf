package main

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	"github.com/xuri/excelize/v2"
	"golang.org/x/term"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/connectors/cso"
	"github.com/tumarproject/tumar/connectors/mapping"
	"github.com/tumarproject/tumar/connectors/primero"
	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/store"
)

// openers are the connector types this binary has.
var openers = map[string]connectors.Opener{
	"csv": func(_ context.Context, c *config.Connector, _ string) (connectors.Connector, error) {
		m, err := mapping.Load(c.Mapping)
		if err != nil {
			return nil, err
		}
		return cso.OpenCSV(c.Name, c.Path, m)
	},
	"xlsx": func(_ context.Context, c *config.Connector, _ string) (connectors.Connector, error) {
		m, err := mapping.Load(c.Mapping)
		if err != nil {
			return nil, err
		}
		return cso.OpenXLSX(c.Name, c.Path, c.Sheet, m)
	},
	"primero": func(ctx context.Context, c *config.Connector, cursor string) (connectors.Connector, error) {
		pass, err := keys.ReadPassphrase(c.PasswordEnv, c.PasswordFile)
		if err != nil {
			return nil, fmt.Errorf("connector %s password: %w", c.Name, err)
		}
		var since time.Time
		if cursor != "" {
			if since, err = time.Parse(time.RFC3339, cursor); err != nil {
				return nil, fmt.Errorf("connector %s: the saved cursor is damaged", c.Name)
			}
		}
		return primero.Open(ctx, c.Name, primero.Options{URL: c.URL, User: c.User, Password: string(pass), Since: since})
	},
}

// remoteInFlight is a connector run's records in flight through the
// gateway's API (--gateway), each on a kept-alive connection of its own.
// Over HTTPS on 2 cores, 64 clients released 7,349 and 7,665 records/s,
// 256 clients 7,902 and 7,442, 512 clients 6,927 and 6,936
// (docs/benchmarks.md, "A tenth session"): past 64, more connections cost
// handshakes and memory on both sides, and latency, for nothing.
const remoteInFlight = 64

func newConnectorCmd(log *slog.Logger) *cobra.Command {
	cmd := &cobra.Command{Use: "connector", Short: "Bring records in from source systems (spreadsheets, case systems)"}
	var cfgPath string
	cmd.PersistentFlags().StringVarP(&cfgPath, "config", "c", "tumar.yaml", "configuration file")
	var (
		metricsFile         string
		inFlight, batchSize int
		remote              agencyFlags
	)
	run := &cobra.Command{
		Use:   "run NAME",
		Short: "Run one configured connector to the end of its source",
		Long: `run reads the connector's source, submits every record to the gateway, and
keeps each row it could not bring in, sealed, in the quarantine with its
position and reason. A gateway failure stops the run; run it again when the
gateway is back: records already released are recognised and not sent twice.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			var (
				run *connectorRun
				err error
			)
			if remote.ca != "" || remote.cert != "" || remote.key != "" {
				if !cmd.Flags().Changed("in-flight") {
					inFlight = remoteInFlight
				}
				remote.conns = inFlight // a connection each
				run, err = openRemoteConnector(cmd.Context(), cfgPath, args[0], &remote)
			} else {
				run, err = openLocalConnector(cmd.Context(), cfgPath, args[0], log)
			}
			if err != nil {
				return err
			}
			defer run.close()
			kc, c := run.kc, run.c
			reg := prometheus.NewRegistry()
			r := &connectors.Runner{Connector: c, Source: kc.Agency, Sink: run.sink,
				Target:     connectors.Target{Destination: kc.Destination, Purpose: kc.Purpose, LegalBasis: kc.LegalBasis},
				Quarantine: &connectors.Quarantine{Store: run.store, Sealer: run.sealer},
				Metrics:    connectors.NewMetrics(reg), Workers: inFlight, BatchSize: batchSize}
			bar := progress(cmd.ErrOrStderr())
			r.Progress = func(st connectors.Stats) { bar(st) }
			st, err := r.Run(cmd.Context())
			if cc, ok := c.(connectors.Cursored); ok && err == nil && cc.Cursor() != "" {
				err = run.store.SetCursor(cmd.Context(), kc.Name, cc.Cursor())
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: read %d, released %d, already released %d, quarantined %d\n", kc.Name, st.Read, st.Accepted, st.Duplicates, st.Rejected)
			for code, n := range st.ByReason {
				fmt.Fprintf(cmd.OutOrStdout(), "  quarantined for %s: %d\n", code, n)
			}
			if metricsFile != "" {
				if werr := prometheus.WriteToTextfile(metricsFile, reg); werr != nil {
					err = errors.Join(err, werr)
				}
			}
			return err
		},
	}
	remote.register(run)
	run.Flags().StringVar(&metricsFile, "metrics-textfile", "", "write the run's Prometheus metrics to this file (node exporter textfile format)")
	run.Flags().IntVar(&inFlight, "in-flight", connectors.DefaultInFlight, fmt.Sprintf("records in the pipeline at once: the gateway commits together the records that wait while it writes (up to 256 a commit), so more in flight makes larger commits, for more memory; with --gateway, %d unless set, each with a connection of its own", remoteInFlight))
	run.Flags().IntVar(&batchSize, "batch-size", 2000, "rows read from the source at a time")

	var suggest bool
	mapCmd := &cobra.Command{
		Use:   "map --suggest FILE",
		Short: "Propose a mapping file from the header row of a CSV or XLSX file",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if !suggest {
				return errors.New("only --suggest is supported: it prints a mapping to review")
			}
			header, err := readHeader(args[0])
			if err != nil {
				return err
			}
			fmt.Fprint(cmd.OutOrStdout(), mapping.SuggestYAML(header))
			return nil
		},
	}
	mapCmd.Flags().BoolVar(&suggest, "suggest", false, "propose a mapping from the header row")
	cmd.AddCommand(run, mapCmd, newQuarantineCmd(&cfgPath, log))
	return cmd
}

// connectorRun is what a connector run needs: where it submits, and the
// store and sealer of its quarantine and cursor.
type connectorRun struct {
	kc    *config.Connector
	c     connectors.Connector
	sink  connectors.Sink
	store interface {
		store.QuarantineStore
		SetCursor(ctx context.Context, name, cursor string) error
	}
	sealer keys.Sealer
	close  func()
}

// openLocalConnector runs the gateway in this process.
func openLocalConnector(ctx context.Context, cfgPath, name string, log *slog.Logger) (*connectorRun, error) {
	app, kc, c, err := openConnector(ctx, cfgPath, name, log)
	if err != nil {
		return nil, err
	}
	return &connectorRun{kc: kc, c: c, sink: app.Exchange, store: app.Store, sealer: app.Keys.(keys.Sealer),
		close: func() { c.Close(); app.Close() }}, nil
}

// openRemoteConnector submits through a running gateway (--gateway, --ca,
// --cert, --key), as the agency of the certificate, which must be the
// connector's; the quarantine and the cursor stay in the local store,
// opened without the links index, beside the gateway.
func openRemoteConnector(ctx context.Context, cfgPath, name string, af *agencyFlags) (*connectorRun, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	kc, ok := cfg.Connector(name)
	if !ok {
		return nil, fmt.Errorf("no connector %q in %s", name, cfgPath)
	}
	if err := certIsAgency(cfg, af.cert, kc.Agency); err != nil {
		return nil, err
	}
	cl, err := af.client()
	if err != nil {
		return nil, err
	}
	k, err := gateway.OpenKeys(ctx, cfg.Keys, cfg.Domains())
	if err != nil {
		return nil, err
	}
	sealer, ok := k.(keys.Sealer)
	if !ok {
		closeKeys(k)
		return nil, errors.New("the key backend cannot seal the quarantine")
	}
	st, err := gateway.OpenStoreWithoutLinks(ctx, cfg.Store)
	if err != nil {
		closeKeys(k)
		return nil, err
	}
	done := func() { st.Close(); closeKeys(k) }
	cursor, err := st.Cursor(ctx, kc.Name)
	if err != nil {
		done()
		return nil, err
	}
	c, err := connectors.Open(ctx, kc, cursor, openers)
	if err != nil {
		done()
		return nil, err
	}
	return &connectorRun{kc: kc, c: c, sink: connectors.RemoteSink{Client: cl}, store: st, sealer: sealer,
		close: func() { c.Close(); done() }}, nil
}

// certIsAgency checks that the client certificate is the connector's
// agency's: the gateway takes the source from the certificate alone.
func certIsAgency(cfg *config.Config, certPath, agency string) error {
	raw, err := os.ReadFile(certPath)
	if err != nil {
		return err
	}
	b, _ := pem.Decode(raw)
	if b == nil {
		return fmt.Errorf("%s holds no PEM certificate", certPath)
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return fmt.Errorf("%s: %w", certPath, err)
	}
	a, ok := cfg.Agency(agency)
	if !ok || a.Auth.MTLSCommonName != cert.Subject.CommonName {
		return fmt.Errorf("%s is not the certificate of %s, the connector's agency", certPath, agency)
	}
	return nil
}

func openConnector(ctx context.Context, cfgPath, name string, log *slog.Logger) (*gateway.App, *config.Connector, connectors.Connector, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, nil, nil, err
	}
	kc, ok := cfg.Connector(name)
	if !ok {
		return nil, nil, nil, fmt.Errorf("no connector %q in %s", name, cfgPath)
	}
	app, err := gateway.Open(ctx, cfg, log)
	if err != nil {
		return nil, nil, nil, err
	}
	if _, ok := app.Keys.(keys.Sealer); !ok {
		app.Close()
		return nil, nil, nil, errors.New("the key backend cannot seal the quarantine")
	}
	cursor, err := app.Store.Cursor(ctx, kc.Name)
	if err != nil {
		app.Close()
		return nil, nil, nil, err
	}
	c, err := connectors.Open(ctx, kc, cursor, openers)
	if err != nil {
		app.Close()
		return nil, nil, nil, err
	}
	return app, kc, c, nil
}

// progress draws a spinner with counts on a terminal, and nothing elsewhere.
func progress(w io.Writer) func(connectors.Stats) {
	f, ok := w.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return func(connectors.Stats) {}
	}
	bar := progressbar.NewOptions(-1, progressbar.OptionSetWriter(w), progressbar.OptionSpinnerType(14), progressbar.OptionSetDescription("reading"))
	return func(st connectors.Stats) {
		bar.Describe(fmt.Sprintf("read %d, released %d, already %d, quarantined %d", st.Read, st.Accepted, st.Duplicates, st.Rejected))
		bar.Set(st.Read)
	}
}

func readHeader(path string) ([]string, error) {
	if strings.EqualFold(filepath.Ext(path), ".xlsx") {
		f, err := excelize.OpenFile(path)
		if err != nil {
			return nil, fmt.Errorf("%s: not a readable XLSX workbook", path)
		}
		defer f.Close()
		rows, err := f.Rows(f.GetSheetName(0))
		if err != nil || !rows.Next() {
			return nil, fmt.Errorf("%s: the first sheet has no header row", path)
		}
		defer rows.Close()
		return rows.Columns()
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return cso.ReadHeader(f)
}

func newQuarantineCmd(cfgPath *string, log *slog.Logger) *cobra.Command {
	q := &cobra.Command{Use: "quarantine", Short: "List, retry or discard records a connector could not bring in"}
	q.AddCommand(&cobra.Command{
		Use:   "list [NAME]",
		Short: "List quarantined records (position and reason, never the content)",
		Args:  cobra.MaximumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(*cfgPath)
			if err != nil {
				return err
			}
			st, err := gateway.OpenStoreWithoutLinks(cmd.Context(), cfg.Store)
			if err != nil {
				return err
			}
			defer st.Close()
			name := ""
			if len(args) == 1 {
				name = args[0]
			}
			items, err := st.QuarantineList(cmd.Context(), name)
			if err != nil {
				return err
			}
			for _, it := range items {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\t%s\t%s\t%s\t%s\n", it.ID, it.Connector, it.Position, it.SourceRecordID, it.Reason)
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%d quarantined\n", len(items))
			return nil
		},
	})
	q.AddCommand(&cobra.Command{
		Use:   "retry ID",
		Short: "Read a quarantined record again under the connector's current mapping and submit it",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return retryQuarantined(cmd, *cfgPath, args[0], log)
		},
	})
	q.AddCommand(&cobra.Command{
		Use:   "discard ID",
		Short: "Delete a quarantined record for good",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := config.Load(*cfgPath)
			if err != nil {
				return err
			}
			st, err := gateway.OpenStoreWithoutLinks(cmd.Context(), cfg.Store)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.QuarantineDelete(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "discarded %s\n", args[0])
			return nil
		},
	})
	return q
}

func retryQuarantined(cmd *cobra.Command, cfgPath, id string, log *slog.Logger) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	st, err := gateway.OpenStoreWithoutLinks(cmd.Context(), cfg.Store)
	if err != nil {
		return err
	}
	item, err := st.QuarantineGet(cmd.Context(), id)
	st.Close()
	if err != nil {
		return fmt.Errorf("quarantine %s: %w", id, err)
	}
	app, kc, c, err := openConnector(cmd.Context(), cfgPath, item.Connector, log)
	if err != nil {
		return err
	}
	defer app.Close()
	defer c.Close()
	q := &connectors.Quarantine{Store: app.Store, Sealer: app.Keys.(keys.Sealer)}
	raw, err := q.Open(cmd.Context(), item)
	if err != nil {
		return err
	}
	it, rej := c.Reparse(raw, item.Position)
	if rej != nil {
		return fmt.Errorf("%s still cannot be read: %s (it stays in the quarantine)", item.Position, rej.Reason)
	}
	receipt, err := app.Exchange.Exchange(cmd.Context(), &gateway.Submission{Source: kc.Agency, Destination: kc.Destination, Purpose: kc.Purpose,
		LegalBasis: kc.LegalBasis, SourceRecordID: it.SourceID, Record: it.Record})
	if err != nil {
		return fmt.Errorf("%s was refused again (it stays in the quarantine): %w", item.Position, err)
	}
	if err := app.Store.QuarantineDelete(cmd.Context(), id); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "%s: %s as exchange %s; removed from the quarantine\n", item.Position, receipt.Outcome, receipt.ExchangeID)
	return nil
}
