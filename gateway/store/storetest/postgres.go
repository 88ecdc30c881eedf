package storetest

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
)

// PostgresEnv names the variable with the test PostgreSQL's address; .ci/run
// sets it to the machine's PostgreSQL.
const PostgresEnv = "TUMAR_TEST_POSTGRES_URL"

// PostgresDSN returns the address of a fresh, empty schema in the test
// PostgreSQL, dropped when the test ends. Without TUMAR_TEST_POSTGRES_URL
// the test is skipped, saying so.
func PostgresDSN(t testing.TB) string {
	t.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		t.Skipf("%s is not set: skipped this PostgreSQL test (.ci/run sets it to the machine's PostgreSQL)", PostgresEnv)
	}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatalf("the test PostgreSQL at %s does not answer: %v", PostgresEnv, err)
	}
	defer conn.Close(ctx)
	schema := fmt.Sprintf("tumar_test_%d", time.Now().UnixNano())
	if _, err := conn.Exec(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		c, err := pgx.Connect(context.Background(), base)
		if err == nil {
			c.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`)
			c.Close(context.Background())
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}
