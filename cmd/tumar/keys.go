package main

import (
	"errors"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/config"
)

func newKeysCmd() *cobra.Command {
	k := &cobra.Command{Use: "keys", Short: "Manage pseudonym and signing keys (file keyring or Vault)"}
	var cfgPath, tokenEnv string
	k.PersistentFlags().StringVarP(&cfgPath, "config", "c", "tumar.yaml", "configuration file naming the key backend")
	k.PersistentFlags().StringVar(&tokenEnv, "vault-token-env", "", "with the Vault backend: log in with the operator token in this environment variable instead of the configured auth")

	open := func(cmd *cobra.Command) (keys.Pseudonymizer, error) {
		cfg, err := config.Load(cfgPath)
		if err != nil {
			return nil, err
		}
		if tokenEnv != "" && cfg.Keys.Type == "vault" {
			cfg.Keys.Vault.Auth = config.VaultAuth{Method: "token", TokenEnv: tokenEnv}
		}
		return gateway.OpenKeys(cmd.Context(), cfg.Keys, cfg.Domains())
	}

	k.AddCommand(&cobra.Command{
		Use:   "init",
		Short: "Create an encrypted keyring with keys for every configured pseudonym domain and the signing keys",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if cfg.Keys.Type != "file" {
				return fmt.Errorf("keys.type is %q: use 'tumar vault setup' to create keys in Vault", cfg.Keys.Type)
			}
			pass, err := keys.ReadPassphrase(cfg.Keys.PassphraseEnv, cfg.Keys.PassphraseFile)
			if err != nil {
				return err
			}
			if _, err := keys.CreateFile(cmd.Context(), cfg.Keys.Path, pass, keys.KDF{}, cfg.Domains()...); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s with keys for %d domains and the signing keys %s\n", cfg.Keys.Path, len(cfg.Domains()), strings.Join(keys.SigningKeyNames, ", "))
			return nil
		},
	})
	k.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the pseudonym domains and their current epochs (never the keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := open(cmd)
			if err != nil {
				return err
			}
			defer closeKeys(b)
			doms, err := b.Domains(cmd.Context())
			if err != nil {
				return err
			}
			names := make([]string, 0, len(doms))
			for d := range doms {
				names = append(names, d)
			}
			sort.Strings(names)
			for _, d := range names {
				fmt.Fprintf(cmd.OutOrStdout(), "%s\tv%d\n", d, doms[d])
			}
			return nil
		},
	})
	var domain, signing string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Start a new epoch for a pseudonym domain (--domain) or a new version of a signing key (--signing-key)",
		Long: `rotate starts a new key epoch. Pseudonyms of older epochs carry their epoch and
stay reproducible while the old key is kept; to move stored links to the new
epoch, run 'tumar pseudonymize --domain D --from-epoch OLD' over the
identities behind them. Restart the gateway (or let it refresh) to use the
new epoch.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if (domain == "") == (signing == "") {
				return errors.New("give exactly one of --domain or --signing-key")
			}
			b, err := open(cmd)
			if err != nil {
				return err
			}
			defer closeKeys(b)
			if signing != "" {
				sr, ok := b.(keys.SigningRotator)
				if !ok {
					return errors.New("this key backend cannot rotate signing keys")
				}
				v, err := sr.RotateSigningKey(cmd.Context(), signing)
				if err != nil {
					return err
				}
				fmt.Fprintf(cmd.OutOrStdout(), "signing key %s is now at version v%d (kid %s)\n", signing, v, keys.KeyID(signing, v))
				return nil
			}
			r, ok := b.(keys.Rotator)
			if !ok {
				return errors.New("this key backend cannot rotate")
			}
			epoch, err := r.Rotate(cmd.Context(), domain)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s now uses epoch v%d; restart the gateway to use it\n", domain, epoch)
			return nil
		},
	}
	rotate.Flags().StringVar(&domain, "domain", "", "pseudonym domain to rotate")
	rotate.Flags().StringVar(&signing, "signing-key", "", "signing key to rotate ("+strings.Join(keys.SigningKeyNames, ", ")+")")
	k.AddCommand(rotate)
	k.AddCommand(&cobra.Command{
		Use:   "add-domain DOMAIN",
		Short: "Create keys for a new pseudonym domain in the file keyring (with Vault: 'tumar vault setup')",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			b, err := open(cmd)
			if err != nil {
				return err
			}
			defer closeKeys(b)
			f, ok := b.(*keys.File)
			if !ok {
				return errors.New("add-domain manages the file keyring; with Vault, add the agency to the configuration and run 'tumar vault setup'")
			}
			if err := f.AddDomain(cmd.Context(), args[0]); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "added domain %s at epoch v1\n", args[0])
			return nil
		},
	})
	return k
}

func closeKeys(b keys.Pseudonymizer) {
	if c, ok := b.(interface{ Close() }); ok {
		c.Close()
	}
}

func newVaultCmd() *cobra.Command {
	v := &cobra.Command{Use: "vault", Short: "Prepare HashiCorp Vault for the gateway"}
	var cfgPath, tokenEnv string
	setup := &cobra.Command{
		Use:   "setup",
		Short: "Mount transit if missing, create the configured keys, and write the gateway's least-privilege policy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := config.Load(cfgPath)
			if err != nil {
				return err
			}
			if cfg.Keys.Type != "vault" {
				return fmt.Errorf("keys.type is %q, not vault", cfg.Keys.Type)
			}
			token := os.Getenv(tokenEnv)
			if token == "" {
				return fmt.Errorf("%s is not set: vault setup needs an operator token", tokenEnv)
			}
			vc := cfg.Keys.Vault
			opt := keys.VaultOptions{Address: vc.Address, Mount: vc.Mount, KeyPrefix: vc.KeyPrefix, CACert: vc.CACert}
			rep, err := keys.SetupVault(cmd.Context(), opt, token, cfg.Domains())
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if rep.MountedTransit {
				fmt.Fprintln(out, "mounted the transit engine")
			}
			fmt.Fprintf(out, "created %d keys, %d already existed\n", len(rep.CreatedKeys), len(rep.ExistingKeys))
			fmt.Fprintf(out, "wrote policies %s; give %s to the gateway's login, %s to operators\n", strings.Join(rep.Policies, ", "), keys.GatewayPolicyName, keys.OperatorPolicyName)
			return nil
		},
	}
	setup.Flags().StringVarP(&cfgPath, "config", "c", "tumar.yaml", "configuration file with keys.type vault")
	setup.Flags().StringVar(&tokenEnv, "token-env", "VAULT_TOKEN", "environment variable holding an operator token")
	var operator bool
	policy := &cobra.Command{
		Use:   "policy",
		Short: "Print the gateway's least-privilege Vault policy (HCL); --operator for the key managers' policy",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if operator {
				fmt.Fprint(cmd.OutOrStdout(), keys.OperatorPolicy(keys.VaultOptions{}))
				return nil
			}
			fmt.Fprint(cmd.OutOrStdout(), keys.GatewayPolicy(keys.VaultOptions{}))
			return nil
		},
	}
	policy.Flags().BoolVar(&operator, "operator", false, "print the operator policy instead")
	v.AddCommand(setup, policy)
	return v
}
