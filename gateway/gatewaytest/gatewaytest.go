// Package gatewaytest starts a real gateway (TLS, mutual authentication,
// SQLite, file keyring, embedded policy) on loopback for tests, with its log
// captured.
package gatewaytest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"testing"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/client"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/devenv"
)

// FastKDF keeps tests quick; real keyrings use keys.DefaultKDF.
var FastKDF = keys.KDF{Alg: "argon2id", Time: 1, MemoryKiB: 64, Threads: 1}

// Gateway is a running test gateway.
type Gateway struct {
	Env  *devenv.Env
	App  *gateway.App
	Base string
	Log  *SyncBuffer // everything the gateway logged
}

// SyncBuffer is a bytes.Buffer safe for concurrent writes.
type SyncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *SyncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *SyncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// Start lays out a development gateway in a temporary directory and serves it
// until the test ends.
func Start(t testing.TB) *Gateway { t.Helper(); return StartWith(t, nil) }

// StartWith is Start with a chance to change the configuration (the key
// backend, say) before the gateway opens.
func StartWith(t testing.TB, edit func(*config.Config)) *Gateway {
	t.Helper()
	ctx := context.Background()
	env, err := devenv.Create(ctx, t.TempDir(), devenv.Options{Listen: "127.0.0.1:0", KDF: FastKDF})
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(env.Config)
	}
	logs := &SyncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	app, err := gateway.Open(ctx, env.Config, log)
	if err != nil {
		t.Fatal(err)
	}
	addr, err := app.Listen()
	if err != nil {
		t.Fatal(err)
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- app.Serve(sctx) }()
	t.Cleanup(func() {
		stop()
		if err := <-done; err != nil {
			t.Errorf("gateway shutdown: %v", err)
		}
	})
	return &Gateway{Env: env, App: app, Base: "https://" + addr.String(), Log: logs}
}

// HTTP is an HTTPS client authenticated as the agency.
func (g *Gateway) HTTP(t *testing.T, agencyID string) *http.Client {
	t.Helper()
	hc, err := g.Env.Client(agencyID)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(hc.CloseIdleConnections)
	return hc
}

// Client is an API client authenticated as the agency.
func (g *Gateway) Client(t *testing.T, agencyID string) *client.Client {
	t.Helper()
	return client.New(g.Base, g.HTTP(t, agencyID))
}

// Get fetches a path with the agency's client and returns the body.
func (g *Gateway) Get(t *testing.T, agencyID, path string) (int, string) {
	t.Helper()
	resp, err := g.HTTP(t, agencyID).Get(g.Base + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}
