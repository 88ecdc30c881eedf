package gateway

import (
	"context"
	"errors"
	"net/http"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/devenv"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/gateway/store"
	"github.com/tumarproject/tumar/policy"
)

// flakyKeys wraps a real keyring and fails on demand, as an unreachable key
// store would.
type flakyKeys struct {
	*keys.Memory
	fail bool
}

func (f *flakyKeys) Pseudonymize(ctx context.Context, domain string, in [][]byte) ([]keys.Pseudonym, error) {
	if f.fail {
		return nil, keys.ErrUnavailable
	}
	return f.Memory.Pseudonymize(ctx, domain, in)
}

// flakyStore fails its writes on demand, as a full disk would.
type flakyStore struct {
	store.Store
	fail bool
}

func (f *flakyStore) Release(ctx context.Context, m *store.Message, e *audit.Entry) error {
	if f.fail {
		return store.ErrUnavailable
	}
	return f.Store.Release(ctx, m, e)
}

func (f *flakyStore) Audit(ctx context.Context, e *audit.Entry) error {
	if f.fail {
		return store.ErrUnavailable
	}
	return f.Store.Audit(ctx, e)
}

type fixture struct {
	ex      *Exchanger
	keys    *flakyKeys
	store   *flakyStore
	metrics *Metrics
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	ctx := context.Background()
	cfg := &config.Config{Agencies: devenv.Agencies(), Purposes: devenv.Purposes()}
	mem, err := keys.NewMemory(cfg.Domains()...)
	if err != nil {
		t.Fatal(err)
	}
	eng, err := policy.New(ctx, policy.Default())
	if err != nil {
		t.Fatal(err)
	}
	sq, err := store.OpenSQLite(ctx, filepath.Join(t.TempDir(), "t.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sq.Close() })
	f := &fixture{keys: &flakyKeys{Memory: mem}, store: &flakyStore{Store: sq}, metrics: NewMetrics(prometheus.NewRegistry())}
	f.ex, err = NewExchanger(ctx, cfg, f.keys, eng, f.store, f.metrics)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func sampleSubmission(t testing.TB, dest string) *Submission {
	t.Helper()
	var r htcds.Record
	if err := r.UnmarshalJSON(devenv.Samples()[0].Record); err != nil {
		t.Fatal(err)
	}
	return &Submission{Source: "ngo-sezim", Destination: dest, Purpose: "criminal-referral", LegalBasis: "victim-consent", Record: &r}
}

func TestFailsClosed(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(*fixture)
		stage  string
	}{
		{"key store down", func(f *fixture) { f.keys.fail = true }, "key_store"},
		{"store down", func(f *fixture) { f.store.fail = true }, "store"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			tc.break_(f)
			_, err := f.ex.Exchange(context.Background(), sampleSubmission(t, "errp"))
			var ge *Error
			if !errors.As(err, &ge) || ge.Status != http.StatusServiceUnavailable || !errors.Is(err, ErrPrivacy) {
				t.Fatalf("want a 503 privacy failure, got %v", err)
			}
			if got := testutil.ToFloat64(f.metrics.privacyFailures.WithLabelValues(tc.stage)); got != 1 {
				t.Fatalf("privacy failure metric for %s = %v", tc.stage, got)
			}
			msgs, _ := f.store.Store.Inbox(context.Background(), "errp", 10)
			log, _ := f.store.Store.AuditLog(context.Background(), 0, 10)
			if len(msgs) != 0 || len(log) != 0 {
				t.Fatalf("a failed exchange left %d messages and %d audit entries", len(msgs), len(log))
			}
		})
	}
}

func TestDenialThatCannotBeAuditedIsAnError(t *testing.T) {
	f := newFixture(t)
	f.store.fail = true
	_, err := f.ex.Exchange(context.Background(), sampleSubmission(t, "consulate-moscow"))
	var ge *Error
	if !errors.As(err, &ge) || ge.Status != http.StatusServiceUnavailable {
		t.Fatalf("want 503 when the denial cannot be audited, got %v", err)
	}
}

func TestMissingDomainKeyStopsStartUp(t *testing.T) {
	cfg := &config.Config{Agencies: devenv.Agencies(), Purposes: devenv.Purposes()}
	mem, _ := keys.NewMemory(config.InternalDomain, "errp")
	eng, _ := policy.New(context.Background(), policy.Default())
	_, err := NewExchanger(context.Background(), cfg, mem, eng, nil, NewMetrics(prometheus.NewRegistry()))
	if err == nil || !strings.Contains(err.Error(), "consulate-moscow has no key") {
		t.Fatal("a gateway without keys for every agency started")
	}
}
