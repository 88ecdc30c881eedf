package gateway

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/auditweb"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/store"
	"github.com/tumarproject/tumar/policy"
)

// App is a gateway assembled from a configuration: keys, policy, store,
// pipeline and HTTP server.
type App struct {
	cfg      *config.Config
	log      *slog.Logger
	Keys     keys.Pseudonymizer
	Store    store.Gateway
	Policy   *policy.Engine
	Exchange *Exchanger
	Status   *StatusService
	server   *http.Server
	api      *Server
	listener net.Listener
}

// Mount adds an agency route to the API (consular bundles, say). Mount
// before Serve.
func (a *App) Mount(pattern, route string, h AgencyHandler) { a.api.Mount(pattern, route, h) }

// MountWith adds a route with its own authentication (see Server.MountWith).
func (a *App) MountWith(pattern, route string, auth Authenticator, h AgencyHandler) {
	a.api.MountWith(pattern, route, auth, h)
}

// Open builds the gateway. Backends are chosen here and only here.
func Open(ctx context.Context, cfg *config.Config, log *slog.Logger) (*App, error) {
	k, err := OpenKeys(ctx, cfg.Keys, cfg.Domains())
	if err != nil {
		return nil, err
	}
	engine, err := OpenPolicy(ctx, cfg.Policy)
	if err != nil {
		return nil, err
	}
	st, err := OpenStore(ctx, cfg.Store)
	if err != nil {
		return nil, err
	}
	st.SetLogger(log)
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	m := NewMetrics(reg)
	ex, err := NewExchanger(ctx, cfg, k, engine, st, m)
	if err != nil {
		st.Close()
		return nil, err
	}
	tlsCfg, err := TLSConfig(cfg.TLS)
	if err != nil {
		st.Close()
		return nil, err
	}
	status, err := NewStatusService(cfg, k, engine, st, m)
	if err != nil {
		st.Close()
		return nil, err
	}
	ex.tokens = status
	if signer, ok := k.(keys.Signer); ok {
		ex.SignReleases(signer)
	}
	ex.GroupCommit()
	a := &App{cfg: cfg, log: log, Keys: k, Store: st, Policy: engine, Exchange: ex, Status: status}
	srv := NewServer(cfg, ex, status, st, log, m, reg, a.ready)
	a.api = srv
	srv.Handle("/audit/", auditweb.New(cfg, st, a.VerifyAudit).Handler())
	a.server = &http.Server{
		Handler: srv.Handler(), TLSConfig: tlsCfg,
		ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 30 * time.Second, WriteTimeout: 30 * time.Second, IdleTimeout: 120 * time.Second,
		ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	log.Info("gateway ready", slog.String("policy_revision", engine.Revision()), slog.Int("agencies", len(cfg.Agencies)))
	return a, nil
}

// OpenPolicy prepares the configured policy: the embedded default, or the
// one in policy.dir, whose tests must pass.
func OpenPolicy(ctx context.Context, c config.Policy) (*policy.Engine, error) {
	mods := policy.Default()
	if c.Dir != "" {
		var err error
		if mods, err = policy.FromDir(c.Dir); err != nil {
			return nil, err
		}
	}
	return policy.New(ctx, mods)
}

// OpenStore opens the configured store.
func OpenStore(ctx context.Context, c config.Store) (*store.SQL, error) {
	return openStore(ctx, c, true)
}

// OpenStoreWithoutLinks opens the configured store for the commands that
// release nothing (audit, quarantine, delivery, the register's events): on
// SQLite it leaves the person links index alone, so they run beside the
// gateway that holds it.
func OpenStoreWithoutLinks(ctx context.Context, c config.Store) (*store.SQL, error) {
	return openStore(ctx, c, false)
}

func openStore(ctx context.Context, c config.Store, links bool) (*store.SQL, error) {
	switch c.Type {
	case "sqlite":
		if !links {
			return store.OpenSQLiteWithoutLinks(ctx, c.Path)
		}
		return store.OpenSQLite(ctx, c.Path)
	case "postgres":
		dsn := os.Getenv(c.DSNEnv)
		if dsn == "" {
			return nil, fmt.Errorf("gateway: %s is not set: it must hold PostgreSQL's address", c.DSNEnv)
		}
		return store.OpenPostgres(ctx, dsn)
	}
	return nil, fmt.Errorf("gateway: store type %q is not built in", c.Type)
}

// OpenKeys opens the configured key backend for the given pseudonym domains.
func OpenKeys(ctx context.Context, c config.Keys, domains []string) (keys.Pseudonymizer, error) {
	switch c.Type {
	case "file":
		pass, err := keys.ReadPassphrase(c.PassphraseEnv, c.PassphraseFile)
		if err != nil {
			return nil, err
		}
		return keys.OpenFile(c.Path, pass)
	case "vault":
		opt, err := VaultOptions(c.Vault)
		if err != nil {
			return nil, err
		}
		return keys.OpenVault(ctx, opt, domains)
	}
	return nil, fmt.Errorf("gateway: key backend %q is not built in", c.Type)
}

// VaultOptions turns the Vault configuration into backend options, reading
// the referenced credentials.
func VaultOptions(v config.Vault) (keys.VaultOptions, error) {
	a := keys.VaultAuth{Method: v.Auth.Method, RoleID: v.Auth.RoleID, KubernetesRole: v.Auth.KubernetesRole,
		KubernetesJWTPath: v.Auth.KubernetesJWTPath, MountPath: v.Auth.MountPath}
	var err error
	switch v.Auth.Method {
	case "token":
		a.Token, err = secretFrom(v.Auth.TokenEnv, v.Auth.TokenFile)
	case "approle":
		a.SecretID, err = secretFrom(v.Auth.SecretIDEnv, v.Auth.SecretIDFile)
	}
	if err != nil {
		return keys.VaultOptions{}, fmt.Errorf("gateway: vault %s credentials: %w", v.Auth.Method, err)
	}
	retries := 2
	if v.MaxRetries != nil {
		retries = *v.MaxRetries
	}
	return keys.VaultOptions{Address: v.Address, Mount: v.Mount, KeyPrefix: v.KeyPrefix, CACert: v.CACert,
		BatchSize: v.BatchSize, InFlight: v.InFlight, MaxRetries: retries, Auth: a}, nil
}

func secretFrom(env, file string) (string, error) {
	if env != "" {
		if s := os.Getenv(env); s != "" {
			return s, nil
		}
		return "", fmt.Errorf("%s is not set", env)
	}
	return keys.ReadSecretFile(file)
}

func (a *App) ready(ctx context.Context) error {
	if err := a.Store.Ping(ctx); err != nil {
		return err
	}
	if h, ok := a.Keys.(interface{ Healthy(context.Context) error }); ok {
		if err := h.Healthy(ctx); err != nil {
			return err
		}
	}
	doms, err := a.Keys.Domains(ctx)
	if err != nil {
		return err
	}
	for _, d := range a.cfg.Domains() {
		if _, ok := doms[d]; !ok {
			return fmt.Errorf("%w: domain %s", keys.ErrUnknownDomain, d)
		}
	}
	return nil
}

// VerifyAudit checks the whole audit log against the audit key's public keys.
func (a *App) VerifyAudit(ctx context.Context) (*audit.Report, error) {
	signer, ok := a.Keys.(keys.Signer)
	if !ok {
		return nil, errors.New("gateway: the key backend cannot verify audit checkpoints")
	}
	pubs, err := signer.PublicKeys(ctx, keys.SigningKeyAudit)
	if err != nil {
		return nil, err
	}
	return audit.VerifyLog(ctx, a.Store, jose.JSONWebKeySet{Keys: pubs})
}

// Close releases what Open took, for an App that was never served (a
// connector run, say).
func (a *App) Close() error {
	a.Exchange.Close()
	if c, ok := a.Keys.(interface{ Close() }); ok {
		c.Close()
	}
	return a.Store.Close()
}

// refreshKeys re-reads the key backend's current epochs every 30 seconds, so
// that a rotation made with 'tumar keys rotate' reaches a running gateway.
func (a *App) refreshKeys(ctx context.Context, r interface{ Refresh(context.Context) error }) {
	t := time.NewTicker(30 * time.Second)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if err := r.Refresh(ctx); err != nil {
				a.log.Warn("key epochs not refreshed", slog.String("cause", err.Error()))
			}
		}
	}
}

// Listen binds the configured address (port 0 picks a free one).
func (a *App) Listen() (net.Addr, error) {
	ln, err := net.Listen("tcp", a.cfg.Listen)
	if err != nil {
		return nil, fmt.Errorf("gateway: listen on %s: %w", a.cfg.Listen, err)
	}
	a.listener = ln
	return ln.Addr(), nil
}

// Serve serves HTTPS until ctx is done, then shuts down gracefully and closes
// the store.
func (a *App) Serve(ctx context.Context) error {
	if a.listener == nil {
		if _, err := a.Listen(); err != nil {
			return err
		}
	}
	errc := make(chan error, 1)
	go func() { errc <- a.server.ServeTLS(a.listener, "", "") }()
	if r, ok := a.Keys.(interface{ Refresh(context.Context) error }); ok {
		go a.refreshKeys(ctx, r)
	}
	if signer, ok := a.Keys.(keys.Signer); ok {
		cp := &Checkpointer{Store: a.Store, Signer: signer}
		go cp.Run(ctx, a.log)
	}
	a.log.Info("serving", slog.String("addr", a.listener.Addr().String()))
	var err error
	select {
	case err = <-errc:
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		err = a.server.Shutdown(sctx)
	}
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	a.Exchange.Close()
	if c, ok := a.Keys.(interface{ Close() }); ok {
		c.Close()
	}
	return errors.Join(err, a.Store.Close())
}
