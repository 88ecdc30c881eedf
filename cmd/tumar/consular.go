package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/connectors/consular"
)

func newConsularCmd() *cobra.Command {
	c := &cobra.Command{Use: "consular", Short: "Pack and send offline bundles of cases from a consulate"}
	var (
		in, out, keyFile, kid, consulate, gatewayKey string
		seq                                          uint64
	)
	pack := &cobra.Command{
		Use:   "pack",
		Short: "Build a signed, encrypted bundle of cases with no network",
		Long: `pack reads JSON lines {"source_record_id", "destination", "purpose",
"legal_basis", "record": {HTCDS fields}}, signs them with the consulate's
Ed25519 key and encrypts them to the gateway's bundle key. Give every bundle
the next sequence number; a number cannot be used twice.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			lines, err := readLines(in)
			if err != nil {
				return err
			}
			signer, err := consular.ReadEd25519Private(keyFile)
			if err != nil {
				return fmt.Errorf("--key: %w", err)
			}
			gw, err := consular.ReadP256Public(gatewayKey)
			if err != nil {
				return fmt.Errorf("--gateway-key: %w", err)
			}
			b, m, err := consular.Pack(lines, consulate, kid, seq, signer, gw, time.Now())
			if err != nil {
				return err
			}
			if err := os.WriteFile(out, b, 0o600); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "packed %d records into %s (bundle %s, sequence %d)\n", m.Count, out, m.BundleID, m.Sequence)
			return nil
		},
	}
	pack.Flags().StringVar(&in, "in", "-", "JSON lines of cases (- for standard input)")
	pack.Flags().StringVar(&out, "out", "bundle.tumar", "bundle file to write")
	pack.Flags().StringVar(&keyFile, "key", "", "the consulate's Ed25519 signing key (PEM)")
	pack.Flags().StringVar(&kid, "key-id", "", "the key's id on the gateway's trust list")
	pack.Flags().StringVar(&consulate, "consulate", "", "the consulate's agency id")
	pack.Flags().StringVar(&gatewayKey, "gateway-key", "", "the gateway's bundle public key (PEM)")
	pack.Flags().Uint64Var(&seq, "sequence", 0, "this bundle's sequence number")
	for _, f := range []string{"key", "key-id", "consulate", "gateway-key", "sequence"} {
		pack.MarkFlagRequired(f)
	}

	var af agencyFlags
	push := &cobra.Command{
		Use:   "push FILE",
		Short: "Send a bundle to the gateway (POST /v1/bundles)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			body, err := os.ReadFile(args[0])
			if err != nil {
				return err
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			var rep consular.Report
			if err := c.Do(cmd.Context(), http.MethodPost, "/v1/bundles", body, &rep); err != nil {
				return err
			}
			return printJSON(cmd, rep)
		},
	}
	af.register(push)
	c.AddCommand(pack, push)
	return c
}

func readLines(path string) ([]consular.Line, error) {
	var r io.Reader = os.Stdin
	if path != "-" {
		b, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		r = bytes.NewReader(b)
	}
	var out []consular.Line
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for n := 1; sc.Scan(); n++ {
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		var l consular.Line
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&l); err != nil {
			return nil, fmt.Errorf("line %d: not a case line (source_record_id, destination, purpose, legal_basis, record)", n)
		}
		out = append(out, l)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(out) == 0 {
		return nil, errors.New("no cases to pack")
	}
	return out, nil
}
