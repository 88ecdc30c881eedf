package main

import (
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/crypto/token"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/client"
)

// agencyFlags are how a CLI command reaches the gateway as an agency.
type agencyFlags struct {
	gateway, ca, cert, key string
	// conns is how many connections to keep to the gateway, for a command
	// with that many requests at once; 0 for Go's defaults.
	conns int
}

func (f *agencyFlags) register(cmd *cobra.Command) {
	cmd.Flags().StringVar(&f.gateway, "gateway", "https://127.0.0.1:8443", "gateway URL")
	cmd.Flags().StringVar(&f.ca, "ca", "", "CA certificate (PEM) that signed the gateway's certificate")
	cmd.Flags().StringVar(&f.cert, "cert", "", "the agency's client certificate (PEM)")
	cmd.Flags().StringVar(&f.key, "key", "", "the agency's private key (PEM)")
}

func (f *agencyFlags) client() (*client.Client, error) {
	if f.cert == "" || f.key == "" || f.ca == "" {
		return nil, errors.New("--ca, --cert and --key are required to reach the gateway as an agency")
	}
	cert, err := tls.LoadX509KeyPair(f.cert, f.key)
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(f.ca)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, fmt.Errorf("%s holds no certificate", f.ca)
	}
	tr := &http.Transport{TLSClientConfig: &tls.Config{
		Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS13}}
	if f.conns > 0 {
		// Kept alive, every one: Go keeps two idle by default, and closes
		// the rest after each burst. No more than that either, so that no
		// request waits for a connection against its timeout.
		tr.MaxConnsPerHost, tr.MaxIdleConnsPerHost = f.conns, f.conns
	}
	return client.New(f.gateway, &http.Client{Timeout: 30 * time.Second, Transport: tr}), nil
}

func newTokenCmd() *cobra.Command {
	tok := &cobra.Command{Use: "token", Short: "Issue, verify, redeem and revoke victim-status tokens"}
	tok.AddCommand(newTokenIssueCmd(), newTokenVerifyCmd(), newTokenRedeemCmd(), newTokenRevokeCmd())
	return tok
}

func newStatusCmd() *cobra.Command {
	st := &cobra.Command{Use: "status", Short: "Record victim-status decisions, and look a person's status up blind"}
	st.AddCommand(newStatusRecordCmd(), newStatusLookupCmd())
	return st
}

func newStatusLookupCmd() *cobra.Command {
	var (
		af                        agencyFlags
		record, purpose, keysFile string
		blind, encrypt            bool
	)
	cmd := &cobra.Command{
		Use:   "lookup --blind",
		Short: "Ask whether a person already has a victim status, without the identity leaving this machine",
		Long: `Ask whether a person already has a victim status, and which, without sending
the identity. The record's match keys are computed here, blinded, and
evaluated by the gateway with a key it never reveals (RFC 9497 OPRF); the
gateway's proof is checked against its published key. If the person has a
recorded status, the answer carries a single-use status token for this
agency. The gateway counts every evaluation against the agency's limit and
audits every look-up.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if !blind {
				return errors.New("status lookup needs --blind: only blind look-ups are built (to send the identity itself, use tumar token issue)")
			}
			c, err := af.client()
			if err != nil {
				return err
			}
			raw, err := readJSONArg(record)
			if err != nil {
				return err
			}
			opt := client.LookupOptions{Purpose: purpose, Encrypt: encrypt}
			if keysFile != "" {
				b, err := os.ReadFile(keysFile)
				if err != nil {
					return err
				}
				opt.Keys = new(gateway.OPRFKeys)
				if err := json.Unmarshal(b, opt.Keys); err != nil {
					return fmt.Errorf("%s: not an OPRF keys document: %w", keysFile, err)
				}
			}
			r, err := c.BlindLookup(cmd.Context(), raw, opt)
			if err != nil {
				return err
			}
			return printJSON(cmd, r)
		},
	}
	af.register(cmd)
	cmd.Flags().BoolVar(&blind, "blind", false, "look up blind: send only OPRF-blinded match keys (required)")
	cmd.Flags().StringVar(&record, "record", "", "the person's identity as HTCDS JSON, or @FILE; it is not sent")
	cmd.Flags().StringVar(&purpose, "purpose", "", "purpose of the status token, if a status is found")
	cmd.Flags().BoolVar(&encrypt, "encrypt", false, "encrypt the token to this agency (JWE)")
	cmd.Flags().StringVar(&keysFile, "oprf-keys", "", "the gateway's OPRF keys saved earlier from /.well-known/oprf-keys.json: answers under any other key are refused")
	return cmd
}

func newStatusRecordCmd() *cobra.Command {
	var (
		af           agencyFlags
		record, date string
	)
	cmd := &cobra.Command{
		Use:   "record",
		Short: "Record a victim-status decision once (identity and vic_TraffickingStatus fields as HTCDS JSON)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			raw, err := readJSONArg(record)
			if err != nil {
				return err
			}
			r, err := c.RecordStatus(cmd.Context(), raw, date)
			if err != nil {
				return err
			}
			return printJSON(cmd, r)
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&record, "record", "", "HTCDS record as JSON, or @FILE")
	cmd.Flags().StringVar(&date, "decision-date", time.Now().Format(time.DateOnly), "date of the decision, YYYY-MM-DD")
	return cmd
}

func newTokenIssueCmd() *cobra.Command {
	var (
		af     agencyFlags
		record string
		req    gateway.IssueRequest
	)
	cmd := &cobra.Command{
		Use:   "issue",
		Short: "Issue a status token of a person (identity as HTCDS JSON) for an audience and purpose",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			raw, err := readJSONArg(record)
			if err != nil {
				return err
			}
			t, err := c.IssueToken(cmd.Context(), raw, req)
			if err != nil {
				return err
			}
			return printJSON(cmd, t)
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&record, "record", "", "the person's identity as HTCDS JSON, or @FILE")
	cmd.Flags().StringVar(&req.Audience, "audience", "", "agency the token is for")
	cmd.Flags().StringVar(&req.Purpose, "purpose", "", "purpose of the token")
	cmd.Flags().BoolVar(&req.Encrypt, "encrypt", false, "encrypt the token to the audience (JWE)")
	return cmd
}

func newTokenVerifyCmd() *cobra.Command {
	var jwks, audience, decryptKey string
	cmd := &cobra.Command{
		Use:   "verify TOKEN",
		Short: "Check a status token offline against a JWKS file; exit 0 and print its claims when valid",
		Long: `verify checks a token with no network: the signature against the keys in
--jwks (saved from the gateway's /.well-known/jwks.json), the issuer, and the
times; with --audience, that it is addressed to that agency. An encrypted
token needs --decrypt-key. An invalid token exits 1 with the reason.
Redemption (single use, revocation, supersession) needs the gateway: 'tumar
token redeem'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			raw, err := os.ReadFile(jwks)
			if err != nil {
				return fmt.Errorf("--jwks: %w", err)
			}
			var set jose.JSONWebKeySet
			if err := json.Unmarshal(raw, &set); err != nil {
				return fmt.Errorf("--jwks: not a JWK set: %w", err)
			}
			tok := strings.TrimSpace(args[0])
			if token.IsEncrypted(tok) {
				if tok, err = decrypt(tok, decryptKey); err != nil {
					return err
				}
			}
			v := &token.Verifier{Keys: set, Issuer: gateway.Issuer}
			aud := audience
			if aud == "" {
				aud, err = unverifiedAudience(tok)
				if err != nil {
					return err
				}
			}
			c, err := v.Verify(tok, aud)
			if err != nil {
				return fmt.Errorf("invalid token: %w", err)
			}
			return printJSON(cmd, c)
		},
	}
	cmd.Flags().StringVar(&jwks, "jwks", "", "JWK set file of the gateway's token keys")
	cmd.Flags().StringVar(&audience, "audience", "", "require the token to be addressed to this agency")
	cmd.Flags().StringVar(&decryptKey, "decrypt-key", "", "the audience's P-256 private key (PEM), for an encrypted token")
	cmd.MarkFlagRequired("jwks")
	return cmd
}

func newTokenRedeemCmd() *cobra.Command {
	var (
		af                  agencyFlags
		subject, decryptKey string
	)
	cmd := &cobra.Command{
		Use:   "redeem TOKEN",
		Short: "Redeem a status token addressed to this agency, once; prints the agency's pseudonym of the person and the status",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			tok := strings.TrimSpace(args[0])
			if token.IsEncrypted(tok) {
				if tok, err = decrypt(tok, decryptKey); err != nil {
					return err
				}
			}
			r, err := c.Redeem(cmd.Context(), tok, subject)
			if err != nil {
				return err
			}
			return printJSON(cmd, r)
		},
	}
	af.register(cmd)
	cmd.Flags().StringVar(&subject, "subject", "", "this agency's pseudonym of the person expected; a token of anyone else is refused")
	cmd.Flags().StringVar(&decryptKey, "decrypt-key", "", "this agency's P-256 private key (PEM), for an encrypted token")
	return cmd
}

func newTokenRevokeCmd() *cobra.Command {
	var af agencyFlags
	cmd := &cobra.Command{
		Use:   "revoke JTI",
		Short: "Revoke a status token this agency issued",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := af.client()
			if err != nil {
				return err
			}
			if err := c.Revoke(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "revoked %s\n", args[0])
			return nil
		},
	}
	af.register(cmd)
	return cmd
}

func decrypt(tok, keyFile string) (string, error) {
	if keyFile == "" {
		return "", errors.New("the token is encrypted: give --decrypt-key")
	}
	raw, err := os.ReadFile(keyFile)
	if err != nil {
		return "", err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return "", errors.New("--decrypt-key: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return "", fmt.Errorf("--decrypt-key: %w", err)
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return "", errors.New("--decrypt-key: not a P-256 key")
	}
	inner, err := token.Decrypt(tok, ek)
	if err != nil {
		return "", fmt.Errorf("invalid token: %w", err)
	}
	return inner, nil
}

// unverifiedAudience reads the audience of a token before it is verified, so
// that verify can check a token without being told whom it is for. The
// signature check that follows covers the audience too.
func unverifiedAudience(tok string) (string, error) {
	if len(tok) > token.MaxTokenBytes {
		return "", fmt.Errorf("invalid token: %w", token.ErrTooLarge)
	}
	obj, err := jose.ParseSignedCompact(tok, token.SignatureAlgs)
	if err != nil {
		return "", fmt.Errorf("invalid token: %w", token.ErrMalformed)
	}
	var c token.Claims
	if err := json.Unmarshal(obj.UnsafePayloadWithoutVerification(), &c); err != nil || len(c.Audience) != 1 {
		return "", fmt.Errorf("invalid token: %w: one audience expected", token.ErrClaims)
	}
	return c.Audience[0], nil
}

func readJSONArg(s string) (json.RawMessage, error) {
	if strings.HasPrefix(s, "@") {
		b, err := os.ReadFile(s[1:])
		return b, err
	}
	if s == "" {
		return nil, errors.New("--record is required")
	}
	return json.RawMessage(s), nil
}

func printJSON(cmd *cobra.Command, v any) error {
	enc := json.NewEncoder(cmd.OutOrStdout())
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
