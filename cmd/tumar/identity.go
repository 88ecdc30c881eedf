package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/crypto/identity"
	"github.com/tumarproject/tumar/crypto/pseudonym"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/config"
)

func newPseudonymizeCmd() *cobra.Command {
	var (
		cfgPath, domain, in string
		fromEpoch           uint32
	)
	cmd := &cobra.Command{
		Use:   "pseudonymize",
		Short: "Turn JSON lines of identities into the match-key pseudonyms the gateway would compute",
		Long: `pseudonymize reads JSON lines {"first", "last", "birthdate", "document", "phone"}
(any may be missing) from standard input or --in, and writes one JSON line per
input line, in the same order: {"keys": [...]} with the pseudonyms of the
person's match keys (name + birth date, document, phone) in --domain, or
{"error": "..."} for that line. Identities are never written anywhere.

After 'tumar keys rotate', --from-epoch N adds "old": the same keys under
epoch N. The old-to-new pairs re-pseudonymise stored links to the new epoch:
run it over the identities behind the stored links and replace each old
pseudonym with its new one.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if domain == "" {
				return errors.New("--domain is required")
			}
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			k, err := gateway.OpenKeys(cmd.Context(), cfg.Keys, cfg.Domains())
			if err != nil {
				return err
			}
			var r io.Reader = cmd.InOrStdin()
			if in != "" && in != "-" {
				f, err := os.Open(in)
				if err != nil {
					return err
				}
				defer f.Close()
				r = f
			}
			st, err := pseudonym.Stream(cmd.Context(), k, domain, r, cmd.OutOrStdout(), pseudonym.Options{FromEpoch: fromEpoch})
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.ErrOrStderr(), "pseudonymize: %d lines, %d keyed, %d with an error\n", st.Lines, st.Keyed, st.Failed)
			return nil
		},
	}
	cmd.Flags().StringVarP(&cfgPath, "config", "c", "tumar.yaml", "configuration file naming the keyring")
	cmd.Flags().StringVar(&domain, "domain", "", "pseudonym domain (an agency's domain, or tumar.internal)")
	cmd.Flags().StringVar(&in, "in", "-", "input file of JSON lines (- for standard input)")
	cmd.Flags().Uint32Var(&fromEpoch, "from-epoch", 0, "also give each key under this earlier epoch (relinking after a rotation)")
	return cmd
}

func newLinkEvalCmd() *cobra.Command {
	var pairs string
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "link-eval",
		Short: "Measure identity linkage on labelled pairs of name records",
		Long: `link-eval reads a tab-separated file of labelled pairs (pair_id, label,
kind, a_first, a_last, a_birthdate, b_first, b_last, b_birthdate; label is
"same" or "different") and reports, overall and per kind, the share of
'same' pairs that share a match key (linked) and the share of 'different'
pairs wrongly linked.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if pairs == "" {
				return errors.New("--pairs is required")
			}
			f, err := os.Open(pairs)
			if err != nil {
				return err
			}
			defer f.Close()
			rep, err := identity.EvalPairs(f)
			if err != nil {
				return fmt.Errorf("%s: %w", pairs, err)
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetIndent("", "  ")
				return enc.Encode(rep)
			}
			printLinkReport(cmd.OutOrStdout(), rep)
			return nil
		},
	}
	cmd.Flags().StringVar(&pairs, "pairs", "", "pair file (TSV)")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print one JSON object instead of a table")
	return cmd
}

func printLinkReport(out io.Writer, rep identity.Report) {
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "kind\tsame linked\t\tdifferent linked\t\t")
	row := func(name string, c identity.Counts) {
		fmt.Fprintf(tw, "%s\t%d/%d\t%s\t%d/%d\t%s\t\n", name, c.SameLinked, c.SameTotal, pct(c.SameLinked, c.SameTotal), c.DifferentLinked, c.DifferentTotal, pct(c.DifferentLinked, c.DifferentTotal))
	}
	kinds := make([]string, 0, len(rep.ByKind))
	for k := range rep.ByKind {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	var noTypo identity.Counts
	for _, k := range kinds {
		c := rep.ByKind[k]
		row(k, c)
		if k != "typo" {
			noTypo.SameLinked += c.SameLinked
			noTypo.SameTotal += c.SameTotal
			noTypo.DifferentLinked += c.DifferentLinked
			noTypo.DifferentTotal += c.DifferentTotal
		}
	}
	row("all", rep.Counts)
	row("all but typo", noTypo)
	tw.Flush()
}

func pct(n, total int) string {
	if total == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f%%", 100*float64(n)/float64(total))
}
