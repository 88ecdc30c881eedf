package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/crypto/identity"
	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/gateway/store"
)

// auditEnv is what the audit commands need: the store and the keys.
type auditEnv struct {
	cfg   *config.Config
	store *store.SQL
	keys  keys.Pseudonymizer
}

func openAudit(ctx context.Context, cfgPath string) (*auditEnv, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	k, err := gateway.OpenKeys(ctx, cfg.Keys, cfg.Domains())
	if err != nil {
		return nil, err
	}
	st, err := gateway.OpenStoreWithoutLinks(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	return &auditEnv{cfg: cfg, store: st, keys: k}, nil
}

func (a *auditEnv) Close() {
	a.store.Close()
	closeKeys(a.keys)
}

func (a *auditEnv) signer() (keys.Signer, error) {
	s, ok := a.keys.(keys.Signer)
	if !ok {
		return nil, errors.New("the key backend cannot sign audit checkpoints")
	}
	return s, nil
}

func newAuditCmd() *cobra.Command {
	c := &cobra.Command{Use: "audit", Short: "Verify, search and report on the audit log"}
	var cfgPath string
	c.PersistentFlags().StringVarP(&cfgPath, "config", "c", "tumar.yaml", "configuration file")
	c.AddCommand(newAuditVerifyCmd(&cfgPath), newAuditCheckpointCmd(&cfgPath), newAuditTruncateCmd(&cfgPath),
		newAuditSearchCmd(&cfgPath), newAuditReportCmd(&cfgPath))
	return c
}

func newAuditVerifyCmd(cfgPath *string) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "verify",
		Short: "Check the whole audit log: hash chain, signed checkpoints, retention; exit 1 and name the first bad entry when it was altered",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openAudit(cmd.Context(), *cfgPath)
			if err != nil {
				return err
			}
			defer a.Close()
			s, err := a.signer()
			if err != nil {
				return err
			}
			pubs, err := s.PublicKeys(cmd.Context(), keys.SigningKeyAudit)
			if err != nil {
				return err
			}
			rep, err := audit.VerifyLog(cmd.Context(), a.store, jose.JSONWebKeySet{Keys: pubs})
			if err != nil {
				return err
			}
			if asJSON {
				printJSON(cmd, rep)
			} else {
				printVerify(cmd.OutOrStdout(), rep)
			}
			if !rep.OK {
				return fmt.Errorf("the audit log does not verify: %s", rep.Problem)
			}
			return nil
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the report as JSON")
	return cmd
}

func printVerify(w io.Writer, rep *audit.Report) {
	if !rep.OK {
		fmt.Fprintf(w, "BROKEN at entry %d: %s\n", rep.BadSeq, rep.Problem)
		return
	}
	fmt.Fprintf(w, "OK: %d entries (seq %d to %d), %d signed checkpoints verified", rep.Entries, rep.FirstSeq, rep.LastSeq, rep.Checkpoints)
	if rep.TruncatedUpTo > 0 {
		fmt.Fprintf(w, ", entries up to %d removed behind a signed truncation", rep.TruncatedUpTo)
	}
	fmt.Fprintf(w, "; %d newest entries not yet covered by a checkpoint\n", rep.Unsigned)
}

func newAuditCheckpointCmd(cfgPath *string) *cobra.Command {
	return &cobra.Command{
		Use:   "checkpoint",
		Short: "Sign the audit chain up to its newest entry now",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openAudit(cmd.Context(), *cfgPath)
			if err != nil {
				return err
			}
			defer a.Close()
			s, err := a.signer()
			if err != nil {
				return err
			}
			cp, err := (&gateway.Checkpointer{Store: a.store, Signer: s}).Checkpoint(cmd.Context())
			if err != nil {
				return err
			}
			if cp == nil {
				fmt.Fprintln(cmd.OutOrStdout(), "nothing new to sign")
				return nil
			}
			fmt.Fprintf(cmd.OutOrStdout(), "signed the chain up to entry %d\n", cp.Seq)
			return nil
		},
	}
}

func newAuditTruncateCmd(cfgPath *string) *cobra.Command {
	var olderThan time.Duration
	cmd := &cobra.Command{
		Use:   "truncate --older-than DURATION",
		Short: "Retention: remove entries older than DURATION behind a signed truncation checkpoint",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if olderThan < 24*time.Hour {
				return errors.New("--older-than must be at least 24h")
			}
			a, err := openAudit(cmd.Context(), *cfgPath)
			if err != nil {
				return err
			}
			defer a.Close()
			s, err := a.signer()
			if err != nil {
				return err
			}
			n, err := (&gateway.Checkpointer{Store: a.store, Signer: s}).Truncate(cmd.Context(), time.Now().Add(-olderThan))
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "removed %d entries behind a signed truncation checkpoint\n", n)
			return nil
		},
	}
	cmd.Flags().DurationVar(&olderThan, "older-than", 0, "remove entries older than this (e.g. 43800h for five years)")
	return cmd
}

// searchFlags are the audit search filters, as typed.
type searchFlags struct {
	from, to, agency, purpose, outcome, field, event, format string
	limit                                                    int
}

func (f *searchFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.from, "from", "", "entries at or after this time (YYYY-MM-DD or RFC 3339)")
	cmd.Flags().StringVar(&f.to, "to", "", "entries before this time")
	cmd.Flags().StringVar(&f.agency, "agency", "", "entries with this agency as source or destination")
	cmd.Flags().StringVar(&f.purpose, "purpose", "", "entries for this purpose")
	cmd.Flags().StringVar(&f.outcome, "outcome", "", "released, denied, recorded, issued, redeemed, possible_replay, refused, revoked")
	cmd.Flags().StringVar(&f.field, "field", "", "entries that decided about this HTCDS field")
	cmd.Flags().StringVar(&f.event, "event", "", "exchange, status, token_issue, token_redeem, token_revoke, case_event")
	cmd.Flags().StringVar(&f.format, "format", "jsonl", "jsonl, csv or opa (OPA decision-log events)")
	cmd.Flags().IntVar(&f.limit, "limit", 1000, "most entries to print")
}

var outcomes = []string{"released", "denied", "recorded", "issued", "redeemed", "possible_replay", "refused", "revoked"}

// query checks every filter and reports all the bad ones at once.
func (f *searchFlags) query(cfg *config.Config) (store.AuditQuery, error) {
	q := store.AuditQuery{Agency: f.agency, Purpose: f.purpose, Outcome: f.outcome, Field: f.field, Event: f.event, Limit: f.limit}
	var errs []error
	for name, s := range map[string]string{"--from": f.from, "--to": f.to} {
		if s == "" {
			continue
		}
		t, err := config.ParseTime(s)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %q is not a date (YYYY-MM-DD) or an RFC 3339 time", name, s))
		}
		if name == "--from" {
			q.From = t
		} else {
			q.To = t
		}
	}
	if _, ok := cfg.Agency(f.agency); f.agency != "" && !ok {
		errs = append(errs, fmt.Errorf("--agency: %q is not a configured agency", f.agency))
	}
	if _, ok := cfg.Purpose(f.purpose); f.purpose != "" && !ok {
		errs = append(errs, fmt.Errorf("--purpose: %q is not a configured purpose", f.purpose))
	}
	if f.outcome != "" && !slices.Contains(outcomes, f.outcome) {
		errs = append(errs, fmt.Errorf("--outcome: %q is not one of %s", f.outcome, strings.Join(outcomes, ", ")))
	}
	if _, ok := htcds.Lookup(f.field); f.field != "" && !ok {
		errs = append(errs, fmt.Errorf("--field: %q is not an HTCDS field", f.field))
	}
	if !slices.Contains(audit.Formats, f.format) {
		errs = append(errs, fmt.Errorf("--format: %q is not jsonl, csv or opa", f.format))
	}
	if f.limit < 1 || f.limit > 1000000 {
		errs = append(errs, errors.New("--limit: must be from 1 to 1000000"))
	}
	return q, errors.Join(errs...)
}

func newAuditSearchCmd(cfgPath *string) *cobra.Command {
	var f searchFlags
	cmd := &cobra.Command{
		Use:   "search",
		Short: "Find audit entries by time, agency, purpose, outcome, event or field; export as JSON lines, CSV or OPA decision logs",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openAudit(cmd.Context(), *cfgPath)
			if err != nil {
				return err
			}
			defer a.Close()
			q, err := f.query(a.cfg)
			if err != nil {
				return err
			}
			entries, err := a.store.SearchAudit(cmd.Context(), q)
			if err != nil {
				return err
			}
			return audit.Export(cmd.OutOrStdout(), f.format, entries)
		},
	}
	f.register(cmd)
	return cmd
}

func newAuditReportCmd(cfgPath *string) *cobra.Command {
	var (
		id     identity.Identity
		format string
	)
	cmd := &cobra.Command{
		Use:   "report --subject --first NAME --last NAME --birthdate DATE [--document N] [--phone N]",
		Short: "For a person's access request: which agencies received which fields about them, when and why",
		Long: `report answers a victim's access request. The identity typed here is
pseudonymised in this process, looked up by its pseudonyms, and never stored
or logged. The report lists every release about the person (agency, time,
purpose, legal basis, each field received and the rule that allowed it), and
the status, token and case events.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			a, err := openAudit(cmd.Context(), *cfgPath)
			if err != nil {
				return err
			}
			defer a.Close()
			entries, err := subjectEntries(cmd.Context(), a, id)
			if err != nil {
				return err
			}
			if format != "text" {
				return audit.Export(cmd.OutOrStdout(), format, entries)
			}
			printReport(cmd.OutOrStdout(), entries)
			return nil
		},
	}
	var subject bool
	cmd.Flags().BoolVar(&subject, "subject", true, "report on one person (the only kind of report)")
	cmd.Flags().StringVar(&id.First, "first", "", "first name, in any script")
	cmd.Flags().StringVar(&id.Last, "last", "", "last name, in any script")
	cmd.Flags().StringVar(&id.Birthdate, "birthdate", "", "birth date (YYYY-MM-DD, DD.MM.YYYY ...)")
	cmd.Flags().StringVar(&id.Document, "document", "", "identity document number")
	cmd.Flags().StringVar(&id.Phone, "phone", "", "mobile phone")
	cmd.Flags().StringVar(&format, "format", "text", "text, jsonl, csv or opa")
	return cmd
}

// subjectEntries finds every entry about the person the identity names.
func subjectEntries(ctx context.Context, a *auditEnv, id identity.Identity) ([]audit.Entry, error) {
	mks, err := identity.MatchKeys(id)
	if err != nil {
		return nil, fmt.Errorf("the identity is not enough to find the person: %w", err)
	}
	in := make([][]byte, len(mks))
	for i, k := range mks {
		in[i] = k.Input()
	}
	ps, err := a.keys.Pseudonymize(ctx, config.InternalDomain, in)
	if err != nil {
		return nil, err
	}
	subjectKeys := make([]string, len(ps))
	for i, p := range ps {
		subjectKeys[i] = p.String()
	}
	person, err := a.store.Person(ctx, subjectKeys)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	return a.store.SearchAudit(ctx, store.AuditQuery{Subject: person, Limit: 1000000})
}

func printReport(w io.Writer, entries []audit.Entry) {
	if len(entries) == 0 {
		fmt.Fprintln(w, "No decision about this person is in the audit log.")
		return
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tAGENCY\tPURPOSE\tLEGAL BASIS\tOUTCOME\tFIELDS RECEIVED (ACTION BY RULE)")
	for _, e := range entries {
		var got []string
		for _, f := range e.Fields {
			if f.Action != "redact" {
				got = append(got, f.Field+" ("+f.Action+" by "+f.Rule+")")
			}
		}
		agency := e.Destination
		if e.Event != "exchange" {
			agency = e.Source
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", e.Time.UTC().Format("2006-01-02 15:04"), e.Event, agency, e.Purpose, e.LegalBasis, e.Outcome, strings.Join(got, ", "))
	}
	tw.Flush()
}
