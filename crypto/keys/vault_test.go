package keys_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/crypto/keys/keystest"
	"github.com/tumarproject/tumar/crypto/keys/vaulttest"
)

// openVault sets up Vault (mount, keys, policies) with the operator token
// and opens the backend with it.
func openVault(t *testing.T, addr, token, prefix string, domains ...string) *keys.Vault {
	t.Helper()
	ctx := context.Background()
	opt := keys.VaultOptions{Address: addr, KeyPrefix: prefix, Auth: keys.VaultAuth{Method: "token", Token: token}, BatchSize: 1000, Timeout: 5 * time.Second}
	if _, err := keys.SetupVault(ctx, opt, token, domains); err != nil {
		t.Fatal(err)
	}
	v, err := keys.OpenVault(ctx, opt, domains)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(v.Close)
	return v
}

func TestVaultContract(t *testing.T) {
	keystest.Run(t, func(t *testing.T, domains ...string) keystest.Backend {
		srv := vaulttest.New(t)
		return openVault(t, srv.URL, srv.RootToken, "", domains...)
	})
}

// TestVaultContractRealVault runs the same suite against a real Vault:
//
//	vault server -dev -dev-root-token-id=root &
//	VAULT_ADDR=http://127.0.0.1:8200 VAULT_TOKEN=root go test ./crypto/keys/ -run RealVault -v
func TestVaultContractRealVault(t *testing.T) {
	addr, token := os.Getenv("VAULT_ADDR"), os.Getenv("VAULT_TOKEN")
	if addr == "" || token == "" {
		t.Skip("VAULT_ADDR and VAULT_TOKEN are not set: skipped the key contract suite against a real Vault (it ran against the Vault-compatible test server in TestVaultContract)")
	}
	keystest.Run(t, func(t *testing.T, domains ...string) keystest.Backend {
		b := make([]byte, 4)
		rand.Read(b)
		return openVault(t, addr, token, "tumar-test-"+hex.EncodeToString(b)+"-", domains...)
	})
}

func TestVaultFailsClosed(t *testing.T) {
	ctx := context.Background()
	srv := vaulttest.New(t)
	v := openVault(t, srv.URL, srv.RootToken, "", "errp")
	in := [][]byte{[]byte("nb\x00asanbekova zhildiz|1990-05-12")}
	good, err := v.Pseudonymize(ctx, "errp", in)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		apply func()
	}{
		{"down", func() { srv.SetMode(vaulttest.Down) }},
		{"sealed", func() { srv.SetMode(vaulttest.Sealed) }},
		{"permission denied", func() { srv.SetMode(vaulttest.PermissionDenied) }},
		{"slow", func() { srv.SetDelay(time.Second) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.apply()
			defer func() { srv.SetMode(vaulttest.Healthy); srv.SetDelay(0) }()
			cctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
			defer cancel()
			ps, err := v.Pseudonymize(cctx, "errp", in)
			if !errors.Is(err, keys.ErrUnavailable) || ps != nil {
				t.Fatalf("want ErrUnavailable and nothing, got %v %v", ps, err)
			}
			if err := v.Healthy(cctx); err == nil {
				t.Fatal("Healthy says yes while Vault is failing")
			}
			if _, err := v.SigningKey(cctx, keys.SigningKeyTokens); err == nil {
				t.Fatal("a signing key was handed out while Vault is failing")
			}
		})
	}
	again, err := v.Pseudonymize(ctx, "errp", in)
	if err != nil || again[0] != good[0] {
		t.Fatalf("after Vault came back: %v", err)
	}
}

func TestVaultPinsTheEpoch(t *testing.T) {
	ctx := context.Background()
	srv := vaulttest.New(t)
	v := openVault(t, srv.URL, srv.RootToken, "", "errp")
	in := [][]byte{[]byte("x")}
	before, _ := v.Pseudonymize(ctx, "errp", in)
	// Someone rotates the key in Vault behind the gateway's back.
	other := openVault(t, srv.URL, srv.RootToken, "", "errp")
	if _, err := other.Rotate(ctx, "errp"); err != nil {
		t.Fatal(err)
	}
	after, err := v.Pseudonymize(ctx, "errp", in)
	if err != nil || after[0] != before[0] {
		t.Fatal("a rotation elsewhere silently changed the pinned epoch's pseudonyms")
	}
	if err := v.Refresh(ctx); err != nil {
		t.Fatal(err)
	}
	cur, _ := v.Pseudonymize(ctx, "errp", in)
	if cur[0].Epoch != 2 {
		t.Fatalf("after Refresh the epoch is %d, want 2", cur[0].Epoch)
	}
}

func TestVaultAppRoleAndKubernetesLogin(t *testing.T) {
	ctx := context.Background()
	srv := vaulttest.New(t)
	if _, err := keys.SetupVault(ctx, keys.VaultOptions{Address: srv.URL}, srv.RootToken, []string{"errp"}); err != nil {
		t.Fatal(err)
	}
	srv.AddAppRole("role-1", "secret-1")
	jwt := filepath.Join(t.TempDir(), "token")
	os.WriteFile(jwt, []byte("eyJhbGciOi.k8s.sa"), 0o600)
	srv.AddKubernetesRole("tumar-gateway", "eyJhbGciOi.k8s.sa")
	for _, auth := range []keys.VaultAuth{
		{Method: "approle", RoleID: "role-1", SecretID: "secret-1"},
		{Method: "kubernetes", KubernetesRole: "tumar-gateway", KubernetesJWTPath: jwt},
	} {
		t.Run(auth.Method, func(t *testing.T) {
			v, err := keys.OpenVault(ctx, keys.VaultOptions{Address: srv.URL, Auth: auth}, []string{"errp"})
			if err != nil {
				t.Fatal(err)
			}
			defer v.Close()
			if _, err := v.Pseudonymize(ctx, "errp", [][]byte{[]byte("x")}); err != nil {
				t.Fatal(err)
			}
		})
	}
	if _, err := keys.OpenVault(ctx, keys.VaultOptions{Address: srv.URL, Auth: keys.VaultAuth{Method: "approle", RoleID: "role-1", SecretID: "wrong"}}, nil); err == nil {
		t.Fatal("a wrong AppRole secret logged in")
	}
}

func TestVaultRenewsAndLogsInAgain(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for token renewal")
	}
	ctx := context.Background()
	srv := vaulttest.New(t)
	keys.SetupVault(ctx, keys.VaultOptions{Address: srv.URL}, srv.RootToken, []string{"errp"})
	srv.AddAppRole("role-1", "secret-1")
	srv.SetTokenTTL(2 * time.Second)
	v, err := keys.OpenVault(ctx, keys.VaultOptions{Address: srv.URL, Auth: keys.VaultAuth{Method: "approle", RoleID: "role-1", SecretID: "secret-1"}}, []string{"errp"})
	if err != nil {
		t.Fatal(err)
	}
	defer v.Close()
	waitFor(t, 6*time.Second, func() bool { return srv.Calls("auth/token/renew-self") > 0 })
	// Every token is revoked: renewal fails, and the backend logs in again.
	logins := srv.Calls("auth/approle/login")
	srv.RevokeAll()
	waitFor(t, 8*time.Second, func() bool { return srv.Calls("auth/approle/login") > logins })
	waitFor(t, 3*time.Second, func() bool {
		_, err := v.Pseudonymize(ctx, "errp", [][]byte{[]byte("x")})
		return err == nil
	})
}

func waitFor(t *testing.T, d time.Duration, ok func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !ok() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met in time")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestVaultPolicies(t *testing.T) {
	ctx := context.Background()
	srv := vaulttest.New(t)
	rep, err := keys.SetupVault(ctx, keys.VaultOptions{Address: srv.URL}, srv.RootToken, []string{"errp", "consulate-moscow"})
	if err != nil {
		t.Fatal(err)
	}
	if !rep.MountedTransit || len(rep.CreatedKeys) != 5 {
		t.Fatalf("setup report %+v", rep)
	}
	again, err := keys.SetupVault(ctx, keys.VaultOptions{Address: srv.URL}, srv.RootToken, []string{"errp", "consulate-moscow"})
	if err != nil || again.MountedTransit || len(again.CreatedKeys) != 0 || len(again.ExistingKeys) != 5 {
		t.Fatalf("setup is not idempotent: %+v %v", again, err)
	}
	gw, ok := srv.Policy(keys.GatewayPolicyName)
	if !ok || gw != keys.GatewayPolicy(keys.VaultOptions{}) {
		t.Fatal("the gateway policy was not written as rendered")
	}
	var rules []string
	for _, line := range strings.Split(gw, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(line), "#") {
			rules = append(rules, line)
		}
	}
	for _, forbidden := range []string{"sys/", "audit-hash", "rotate", "create", "delete", "export"} {
		if strings.Contains(strings.Join(rules, "\n"), forbidden) {
			t.Errorf("the gateway policy mentions %q", forbidden)
		}
	}
	shipped, err := os.ReadFile(filepath.Join("..", "..", "deploy", "vault", "tumar-gateway.hcl"))
	if err != nil || string(shipped) != gw {
		t.Fatalf("deploy/vault/tumar-gateway.hcl differs from keys.GatewayPolicy (regenerate it with 'tumar vault policy'): %v", err)
	}
}
