package gateway_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/crypto/keys/vaulttest"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/devenv"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

// startOnVault runs a gateway whose keys live in a Vault-compatible server.
func startOnVault(t *testing.T) (*gatewaytest.Gateway, *vaulttest.Server) {
	t.Helper()
	srv := vaulttest.New(t)
	domains := (&config.Config{Agencies: devenv.Agencies()}).Domains()
	if _, err := keys.SetupVault(context.Background(), keys.VaultOptions{Address: srv.URL}, srv.RootToken, domains); err != nil {
		t.Fatal(err)
	}
	srv.AddAppRole("gateway-role", "gateway-secret")
	t.Setenv("TUMAR_TEST_VAULT_SECRET_ID", "gateway-secret")
	noRetry := 0
	g := gatewaytest.StartWith(t, func(c *config.Config) {
		c.Keys = config.Keys{Type: "vault", Vault: config.Vault{Address: srv.URL, MaxRetries: &noRetry,
			Auth: config.VaultAuth{Method: "approle", RoleID: "gateway-role", SecretIDEnv: "TUMAR_TEST_VAULT_SECRET_ID"}}}
	})
	return g, srv
}

func TestGatewayOnVault(t *testing.T) {
	g, srv := startOnVault(t)
	ngo := g.Client(t, "ngo-sezim")
	submit(t, ngo, "errp", "criminal-referral", "victim-consent", referral)
	if srv.Calls("transit/hmac/tumar-pseudonym-errp") == 0 || srv.Calls("transit/hmac/tumar-pseudonym-tumar.internal") == 0 {
		t.Fatal("the pseudonyms were not made by Vault transit")
	}
	// A record accepted before Vault goes away stays deliverable.
	submit(t, ngo, "errp", "criminal-referral", "victim-consent", referral)

	srv.SetMode(vaulttest.Sealed)
	body := `{"destination":"errp","purpose":"criminal-referral","legal_basis":"victim-consent","record":` + referral + `}`
	resp, err := g.HTTP(t, "ngo-sezim").Post(g.Base+"/v1/exchanges", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("with Vault sealed: %d, want 503 with Retry-After", resp.StatusCode)
	}
	if status, _ := g.Get(t, "errp", "/readyz"); status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with Vault sealed", status)
	}
	if _, m := g.Get(t, "errp", "/metrics"); !strings.Contains(m, `tumar_privacy_failures_total{stage="key_store"} 1`) {
		t.Fatal("the key store failure was not counted")
	}
	got := pull(t, g.Client(t, "errp"))
	if len(got) != 2 {
		t.Fatalf("errp received %d records during the outage, want the 2 accepted before it", len(got))
	}
	srv.SetMode(vaulttest.Healthy)
	submit(t, ngo, "errp", "criminal-referral", "victim-consent", referral)
	after := pull(t, g.Client(t, "errp"))
	if len(after) != 1 || after[0].Subject.Keys[0] != got[0].Subject.Keys[0] {
		t.Fatal("after Vault came back the same person got another pseudonym")
	}
	log, _ := g.App.Store.AuditLog(context.Background(), 0, 100)
	if len(log) != 3 {
		t.Fatalf("audit log has %d entries, want the 3 releases", len(log))
	}
}
