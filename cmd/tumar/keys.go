package main

import (
	"errors"
	"fmt"
	"sort"

	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/config"
)

func newKeysCmd() *cobra.Command {
	k := &cobra.Command{Use: "keys", Short: "Manage the pseudonym keyring"}
	var cfgPath string
	k.PersistentFlags().StringVarP(&cfgPath, "config", "c", "tumar.yaml", "configuration file naming the keyring and its passphrase source")

	k.AddCommand(&cobra.Command{
		Use:   "init",
		Short: "Create an encrypted keyring with a key for every configured pseudonym domain",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, pass, err := keyringConfig(cfgPath)
			if err != nil {
				return err
			}
			if _, err := keys.CreateFile(cmd.Context(), cfg.Keys.Path, pass, keys.KDF{}, cfg.Domains()...); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "created %s with keys for %d domains\n", cfg.Keys.Path, len(cfg.Domains()))
			return nil
		},
	})
	k.AddCommand(&cobra.Command{
		Use:   "list",
		Short: "List the keyring's domains and their current epochs (never the keys)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			f, err := openKeyring(cfgPath)
			if err != nil {
				return err
			}
			doms, err := f.Domains(cmd.Context())
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
	var domain string
	rotate := &cobra.Command{
		Use:   "rotate",
		Short: "Start a new key epoch for one domain; pseudonyms of older epochs stay reproducible",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if domain == "" {
				return errors.New("--domain is required")
			}
			f, err := openKeyring(cfgPath)
			if err != nil {
				return err
			}
			epoch, err := f.Rotate(cmd.Context(), domain)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s now uses epoch v%d; restart the gateway to use it\n", domain, epoch)
			return nil
		},
	}
	rotate.Flags().StringVar(&domain, "domain", "", "pseudonym domain to rotate")
	k.AddCommand(rotate)
	k.AddCommand(&cobra.Command{
		Use:   "add-domain DOMAIN",
		Short: "Create keys for a new pseudonym domain (a newly added agency)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f, err := openKeyring(cfgPath)
			if err != nil {
				return err
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

func keyringConfig(path string) (*config.Config, []byte, error) {
	cfg, err := config.Load(path)
	if err != nil {
		return nil, nil, err
	}
	if cfg.Keys.Type != "file" {
		return nil, nil, fmt.Errorf("keys.type is %q: these commands manage the file keyring", cfg.Keys.Type)
	}
	pass, err := keys.ReadPassphrase(cfg.Keys.PassphraseEnv, cfg.Keys.PassphraseFile)
	return cfg, pass, err
}

func openKeyring(path string) (*keys.File, error) {
	cfg, pass, err := keyringConfig(path)
	if err != nil {
		return nil, err
	}
	return keys.OpenFile(cfg.Keys.Path, pass)
}
