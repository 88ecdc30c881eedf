package keys

import (
	"context"
	"fmt"
	"strings"

	vault "github.com/hashicorp/vault/api"
)

// GatewayPolicyName and OperatorPolicyName are the Vault ACL policies that
// SetupVault writes.
const (
	GatewayPolicyName  = "tumar-gateway"
	OperatorPolicyName = "tumar-operator"
)

// GatewayPolicy is the least privilege the gateway needs: make HMACs with the
// pseudonym keys, sign with the signing keys, read their versions and public
// keys, and look up and renew its own token. It grants nothing under sys/,
// and in particular not sys/audit-hash, which would let its holder test
// guessed names against Vault's audit log.
func GatewayPolicy(o VaultOptions) string {
	o.defaults()
	m, p := o.Mount, o.KeyPrefix
	return fmt.Sprintf(`# Tumar gateway: pseudonyms, signatures and sealing through transit, nothing else.
# Written by 'tumar vault setup'. It must never grant sys/audit-hash.

path "%[1]s/hmac/%[2]spseudonym-*" {
  capabilities = ["update"]
}

path "%[1]s/sign/%[2]ssign-*" {
  capabilities = ["update"]
}

path "%[1]s/encrypt/%[2]sseal-*" {
  capabilities = ["update"]
}

path "%[1]s/decrypt/%[2]sseal-*" {
  capabilities = ["update"]
}

path "%[1]s/keys/%[2]s*" {
  capabilities = ["read"]
}

path "auth/token/lookup-self" {
  capabilities = ["read"]
}

path "auth/token/renew-self" {
  capabilities = ["update"]
}
`, m, p)
}

// OperatorPolicy adds what key management needs: create, rotate and
// configure Tumar's transit keys. Give it to people, not to the gateway.
func OperatorPolicy(o VaultOptions) string {
	o.defaults()
	return GatewayPolicy(o) + fmt.Sprintf(`
# Operators: create, rotate and configure Tumar's keys.
path "%[1]s/keys/%[2]s*" {
  capabilities = ["create", "read", "update"]
}
`, o.Mount, o.KeyPrefix)
}

// SetupReport says what SetupVault did.
type SetupReport struct {
	MountedTransit bool
	CreatedKeys    []string
	ExistingKeys   []string
	Policies       []string
}

// SetupVault prepares Vault for Tumar with an operator token: it mounts the
// transit engine if missing, creates a pseudonym key per domain and the
// signing keys if missing, and writes the gateway and operator policies. It
// is idempotent.
func SetupVault(ctx context.Context, o VaultOptions, operatorToken string, domains []string) (*SetupReport, error) {
	o.defaults()
	cfg := vault.DefaultConfig()
	cfg.Address, cfg.Timeout, cfg.MaxRetries = o.Address, o.Timeout, o.MaxRetries
	if o.CACert != "" {
		if err := cfg.ConfigureTLS(&vault.TLSConfig{CACert: o.CACert}); err != nil {
			return nil, err
		}
	}
	c, err := vault.NewClient(cfg)
	if err != nil {
		return nil, err
	}
	c.SetToken(operatorToken)
	rep := &SetupReport{}
	mounts, err := c.Sys().ListMountsWithContext(ctx)
	if err != nil {
		return nil, vaultError("list mounts", err)
	}
	if m, ok := mounts[strings.TrimSuffix(o.Mount, "/")+"/"]; !ok {
		if err := c.Sys().MountWithContext(ctx, o.Mount, &vault.MountInput{Type: "transit", Description: "Tumar pseudonym and signing keys"}); err != nil {
			return nil, vaultError("mount transit", err)
		}
		rep.MountedTransit = true
	} else if m.Type != "transit" {
		return nil, fmt.Errorf("keys: vault mount %s is %s, not transit", o.Mount, m.Type)
	}
	want := map[string]map[string]any{}
	for _, d := range domains {
		want[o.PseudonymKeyName(d)] = map[string]any{"type": "hmac", "key_size": 32}
	}
	for _, n := range SigningKeyNames {
		want[o.SigningKeyName(n)] = map[string]any{"type": "ed25519"}
	}
	for _, n := range SealingKeyNames {
		want[o.SealingKeyName(n)] = map[string]any{"type": "aes256-gcm96"}
	}
	for name, params := range want {
		s, err := c.Logical().ReadWithContext(ctx, o.Mount+"/keys/"+name)
		if err != nil {
			return nil, vaultError("read key", err)
		}
		if s != nil {
			rep.ExistingKeys = append(rep.ExistingKeys, name)
			continue
		}
		if _, err := c.Logical().WriteWithContext(ctx, o.Mount+"/keys/"+name, params); err != nil {
			return nil, vaultError("create key "+name, err)
		}
		rep.CreatedKeys = append(rep.CreatedKeys, name)
	}
	for name, rules := range map[string]string{GatewayPolicyName: GatewayPolicy(o), OperatorPolicyName: OperatorPolicy(o)} {
		if err := c.Sys().PutPolicyWithContext(ctx, name, rules); err != nil {
			return nil, vaultError("write policy "+name, err)
		}
		rep.Policies = append(rep.Policies, name)
	}
	return rep, nil
}
