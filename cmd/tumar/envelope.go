package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/tumarproject/tumar/crypto/envelope"
)

// privateKeyFile is how `tumar envelope keygen` stores a private key.
type privateKeyFile struct {
	Suite envelope.Suite `json:"suite"`
	Key   []byte         `json:"key"`
}

var suiteNames = map[string]envelope.Suite{"xwing": envelope.XWing, "x25519": envelope.X25519}

func newEnvelopeCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "envelope",
		Short: "Seal records to a recipient agency's key, and open them (HPKE; X-Wing by default)",
		Long: `envelope makes an agency's envelope key pair and seals or opens records with
HPKE. X-Wing (X25519 with ML-KEM-768) is the default, since case files must
stay confidential for decades. Once an agency's public key is set as its
envelope_key in the gateway's configuration, every record released to it is
sealed, and only its private key opens it.`,
	}
	var suite, outDir, name string
	keygen := &cobra.Command{
		Use:   "keygen",
		Short: "Make an agency's envelope key pair: NAME-envelope.pub.json to publish, NAME-envelope.key to keep",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			s, ok := suiteNames[suite]
			if !ok {
				return fmt.Errorf("--suite must be xwing or x25519, not %q", suite)
			}
			if name == "" {
				return errors.New("--name (the agency id) is required")
			}
			k, err := envelope.GenerateKey(s)
			if err != nil {
				return err
			}
			pub, err := json.MarshalIndent(&k.Public, "", "  ")
			if err != nil {
				return err
			}
			raw, err := k.MarshalPrivate()
			if err != nil {
				return err
			}
			priv, _ := json.Marshal(privateKeyFile{Suite: s, Key: raw})
			keyPath := filepath.Join(outDir, name+"-envelope.key")
			if _, err := os.Stat(keyPath); err == nil {
				return fmt.Errorf("%s exists; refusing to overwrite a key", keyPath)
			}
			if err := os.WriteFile(keyPath, priv, 0o600); err != nil {
				return err
			}
			pubPath := filepath.Join(outDir, name+"-envelope.pub.json")
			if err := os.WriteFile(pubPath, append(pub, '\n'), 0o644); err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "key id %s\npublic key: %s\nprivate key: %s (keep it secret)\n", k.Public.ID, pubPath, keyPath)
			return nil
		},
	}
	keygen.Flags().StringVar(&suite, "suite", "xwing", "xwing (post-quantum hybrid) or x25519")
	keygen.Flags().StringVar(&outDir, "out-dir", ".", "directory to write the keys to")
	keygen.Flags().StringVar(&name, "name", "", "the agency id the key is for")

	var to, keyFile, recipient, in, aad string
	seal := &cobra.Command{
		Use:   "seal",
		Short: "Seal a file to a recipient's published envelope key; the envelope goes to standard output",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			pubJSON, err := os.ReadFile(to)
			if err != nil {
				return err
			}
			pub, err := envelope.ParsePublicKey(pubJSON)
			if err != nil {
				return fmt.Errorf("%s: %w", to, err)
			}
			plain, err := os.ReadFile(in)
			if err != nil {
				return err
			}
			env, err := envelope.Seal(pub, recipient, plain, []byte(aad))
			if err != nil {
				return err
			}
			_, err = cmd.OutOrStdout().Write(append(env, '\n'))
			return err
		},
	}
	seal.Flags().StringVar(&to, "to", "", "the recipient's public key (NAME-envelope.pub.json)")
	open := &cobra.Command{
		Use:   "open",
		Short: "Open an envelope with the agency's private key; the record goes to standard output",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			b, err := os.ReadFile(keyFile)
			if err != nil {
				return err
			}
			var f privateKeyFile
			if err := json.Unmarshal(b, &f); err != nil {
				return fmt.Errorf("%s is not an envelope key file", keyFile)
			}
			k, err := envelope.ParsePrivateKey(f.Suite, f.Key)
			if err != nil {
				return fmt.Errorf("%s: %w", keyFile, err)
			}
			env, err := os.ReadFile(in)
			if err != nil {
				return err
			}
			plain, err := envelope.Open(k, recipient, env, []byte(aad))
			if err != nil {
				return fmt.Errorf("%s: %w", in, err)
			}
			_, err = cmd.OutOrStdout().Write(plain)
			return err
		},
	}
	open.Flags().StringVar(&keyFile, "key", "", "the agency's private key (NAME-envelope.key)")
	for _, c := range []*cobra.Command{seal, open} {
		c.Flags().StringVar(&recipient, "recipient", "", "the agency the envelope is for")
		c.Flags().StringVar(&in, "in", "", "the file to seal or open")
		c.Flags().StringVar(&aad, "aad", "", "associated data bound to the envelope (an exchange id, say); the same must be given to open")
		c.MarkFlagRequired("recipient")
		c.MarkFlagRequired("in")
	}
	seal.MarkFlagRequired("to")
	open.MarkFlagRequired("key")
	cmd.AddCommand(keygen, seal, open)
	return cmd
}
