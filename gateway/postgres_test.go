package gateway_test

import (
	"context"
	"testing"

	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
	"github.com/tumarproject/tumar/gateway/store/storetest"
)

// The whole referral path on PostgreSQL, with the audit log verified.
func TestGatewayOnPostgres(t *testing.T) {
	dsn := storetest.PostgresDSN(t)
	t.Setenv("TUMAR_TEST_GATEWAY_DSN", dsn)
	g := gatewaytest.StartWith(t, func(c *config.Config) {
		c.Store = config.Store{Type: "postgres", DSNEnv: "TUMAR_TEST_GATEWAY_DSN"}
	})
	ngo := g.Client(t, "ngo-sezim")
	submit(t, ngo, "errp", "criminal-referral", "victim-consent", referral)
	submit(t, ngo, "errp", "criminal-referral", "victim-consent", referral)
	if got := pull(t, g.Client(t, "errp")); len(got) != 2 || got[0].Subject.Keys[0] != got[1].Subject.Keys[0] {
		t.Fatalf("errp got %d records", len(got))
	}
	rep, err := g.App.VerifyAudit(context.Background())
	if err != nil || !rep.OK || rep.Entries != 2 {
		t.Fatalf("audit on postgres: %+v %v", rep, err)
	}
}
