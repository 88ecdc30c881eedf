package keys

import (
	"context"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v4"
	vault "github.com/hashicorp/vault/api"
	"github.com/hashicorp/vault/api/auth/approle"
	"github.com/hashicorp/vault/api/auth/kubernetes"
	"golang.org/x/sync/errgroup"
)

// Vault keeps every key in HashiCorp Vault's transit engine: pseudonyms are
// transit HMACs and signatures are transit signatures, so no key is ever in
// the gateway's memory or on its disk.
//
// Domain separation: one transit key per pseudonym domain, named
// "<prefix>pseudonym-<domain>". Transit HMAC has no context parameter; a key
// per domain separates domains by key, like the file backend, and lets an
// operator rotate or retire one recipient's key alone.
//
// Epochs are transit key versions. The current epoch of each domain is read
// when the backend opens (and after Rotate or Refresh) and pinned in every
// request with key_version, so a rotation done elsewhere never silently
// changes new pseudonyms. A pseudonym of epoch N can be recomputed while
// version N is at or above the key's min_decryption_version and
// min_encryption_version.
type Vault struct {
	client    *vault.Client
	opt       VaultOptions
	epochs    atomic.Pointer[map[string]uint32] // pinned current epoch per domain
	mu        sync.Mutex                        // serialises Rotate and Refresh
	authState atomic.Pointer[error]             // last renewal or login failure, nil when healthy
	stop      context.CancelFunc
}

var (
	_ Pseudonymizer = (*Vault)(nil)
	_ Rotator       = (*Vault)(nil)
	_ Signer        = (*Vault)(nil)
	_ Sealer        = (*Vault)(nil)
)

// VaultOptions configure the Vault backend.
type VaultOptions struct {
	Address   string        // Vault's address, e.g. https://vault.example:8200
	Mount     string        // transit mount path; default "transit"
	KeyPrefix string        // prefix of Tumar's transit key names; default "tumar-"
	Auth      VaultAuth     // how the gateway logs in
	BatchSize int           // inputs per transit/hmac request; default 1000, at most 10000 (Vault's array limit)
	InFlight  int           // concurrent batch requests; default 4
	Timeout   time.Duration // per request; default 10s
	// MaxRetries is how often the client retries a 5xx or network error
	// (Vault's client default is 2).
	MaxRetries int
	CACert     string // PEM file to verify Vault's TLS certificate; empty uses the system pool
}

// VaultAuth chooses a login method.
type VaultAuth struct {
	Method string // "token", "approle" or "kubernetes"
	// Token is the Vault token for the token method. Read it from a file or
	// the environment; it must never be in a configuration file.
	Token string
	// AppRole: the role id and secret id (secret id read from a file or env).
	RoleID, SecretID string
	// Kubernetes: the Vault role and the service account token file.
	KubernetesRole, KubernetesJWTPath string
	// MountPath of the auth method; default "approle" or "kubernetes".
	MountPath string
}

func (o *VaultOptions) defaults() {
	if o.Mount == "" {
		o.Mount = "transit"
	}
	if o.KeyPrefix == "" {
		o.KeyPrefix = "tumar-"
	}
	if o.BatchSize <= 0 {
		o.BatchSize = 1000
	}
	o.BatchSize = min(o.BatchSize, 10000)
	if o.InFlight <= 0 {
		o.InFlight = 4
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
}

// PseudonymKeyName is the transit key of a pseudonym domain.
func (o VaultOptions) PseudonymKeyName(domain string) string {
	return o.KeyPrefix + "pseudonym-" + domain
}

// SealingKeyName is the transit key of a named sealing key.
func (o VaultOptions) SealingKeyName(name string) string { return o.KeyPrefix + "seal-" + name }

// SigningKeyName is the transit key of a named signing key.
func (o VaultOptions) SigningKeyName(name string) string { return o.KeyPrefix + "sign-" + name }

// OpenVault connects and logs in, then pins the current epoch of each
// domain. A domain whose transit key does not exist is left out (Domains
// will not list it, and the gateway refuses to start without it). Token
// renewal and re-login run until Close.
func OpenVault(ctx context.Context, opt VaultOptions, domains []string) (*Vault, error) {
	opt.defaults()
	cfg := vault.DefaultConfig()
	if err := cfg.Error; err != nil {
		return nil, fmt.Errorf("keys: vault client: %w", err)
	}
	cfg.Address = opt.Address
	// No client-wide timeout: the client's raw calls cancel their context
	// when they return, before a large batch answer is read. Each call here
	// sets its own deadline instead (opt.Timeout).
	cfg.Timeout = 0
	cfg.MaxRetries = opt.MaxRetries
	if opt.CACert != "" {
		if err := cfg.ConfigureTLS(&vault.TLSConfig{CACert: opt.CACert}); err != nil {
			return nil, fmt.Errorf("keys: vault TLS: %w", err)
		}
	}
	if t, ok := cfg.HttpClient.Transport.(*http.Transport); ok {
		t.MaxIdleConnsPerHost = max(t.MaxIdleConnsPerHost, 4*opt.InFlight)
	}
	client, err := vault.NewClient(cfg)
	if err != nil {
		return nil, fmt.Errorf("keys: vault client: %w", err)
	}
	client.ClearNamespace()
	v := &Vault{client: client, opt: opt}
	secret, err := v.login(ctx)
	if err != nil {
		return nil, err
	}
	wctx, stop := context.WithCancel(context.Background())
	v.stop = stop
	if secret != nil && secret.Auth != nil && secret.Auth.Renewable {
		go v.watch(wctx, secret)
	}
	if err := v.pin(ctx, domains); err != nil {
		stop()
		return nil, err
	}
	return v, nil
}

// Close stops token renewal.
func (v *Vault) Close() { v.stop() }

func (v *Vault) login(ctx context.Context) (*vault.Secret, error) {
	a := v.opt.Auth
	var (
		method vault.AuthMethod
		err    error
	)
	switch a.Method {
	case "", "token":
		if a.Token == "" {
			return nil, errors.New("keys: vault token auth needs a token")
		}
		v.client.SetToken(a.Token)
		return nil, nil
	case "approle":
		opts := []approle.LoginOption{}
		if a.MountPath != "" {
			opts = append(opts, approle.WithMountPath(a.MountPath))
		}
		method, err = approle.NewAppRoleAuth(a.RoleID, &approle.SecretID{FromString: a.SecretID}, opts...)
	case "kubernetes":
		opts := []kubernetes.LoginOption{kubernetes.WithServiceAccountTokenPath(a.KubernetesJWTPath)}
		if a.MountPath != "" {
			opts = append(opts, kubernetes.WithMountPath(a.MountPath))
		}
		method, err = kubernetes.NewKubernetesAuth(a.KubernetesRole, opts...)
	default:
		return nil, fmt.Errorf("keys: vault auth method %q is not token, approle or kubernetes", a.Method)
	}
	if err != nil {
		return nil, fmt.Errorf("keys: vault %s auth: %w", a.Method, err)
	}
	lctx, cancel := context.WithTimeout(ctx, v.opt.Timeout)
	defer cancel()
	secret, err := v.client.Auth().Login(lctx, method)
	if err != nil {
		return nil, vaultError("login", err)
	}
	return secret, nil
}

// watch renews the login token before it expires and logs in again when
// renewal fails or the token reaches its maximum lifetime. Failures are kept
// for Healthy; the backend keeps refusing work while it has no valid token.
func (v *Vault) watch(ctx context.Context, secret *vault.Secret) {
	for {
		w, err := v.client.NewLifetimeWatcher(&vault.LifetimeWatcherInput{Secret: secret})
		if err != nil {
			v.setAuthErr(err)
			return
		}
		go w.Start()
		select {
		case <-ctx.Done():
			w.Stop()
			return
		case err := <-w.DoneCh():
			if err != nil {
				v.setAuthErr(fmt.Errorf("vault token renewal: %w", err))
			}
		}
		w.Stop()
		for {
			s, err := v.login(ctx)
			if err == nil {
				v.setAuthErr(nil)
				secret = s
				break
			}
			v.setAuthErr(err)
			select {
			case <-ctx.Done():
				return
			case <-time.After(2 * time.Second):
			}
		}
	}
}

func (v *Vault) setAuthErr(err error) {
	if err == nil {
		v.authState.Store(nil)
		return
	}
	v.authState.Store(&err)
}

// Healthy reports whether Vault answers and the gateway's token is valid.
func (v *Vault) Healthy(ctx context.Context) error {
	if e := v.authState.Load(); e != nil {
		return fmt.Errorf("%w: %w", ErrUnavailable, *e)
	}
	ctx, cancel := context.WithTimeout(ctx, v.opt.Timeout)
	defer cancel()
	if _, err := v.client.Auth().Token().LookupSelfWithContext(ctx); err != nil {
		return vaultError("token lookup", err)
	}
	return nil
}

// pin reads each domain's latest key version and makes it the current epoch.
func (v *Vault) pin(ctx context.Context, domains []string) error {
	epochs := map[string]uint32{}
	for _, d := range domains {
		k, err := v.readKey(ctx, v.opt.PseudonymKeyName(d))
		if errors.Is(err, ErrUnknownKey) {
			continue
		}
		if err != nil {
			return err
		}
		epochs[d] = uint32(k.Latest)
	}
	v.epochs.Store(&epochs)
	return nil
}

// Refresh re-reads the current epoch of every pinned domain, after a
// rotation done by another replica or by an operator.
func (v *Vault) Refresh(ctx context.Context) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	domains := make([]string, 0)
	for d := range *v.epochs.Load() {
		domains = append(domains, d)
	}
	return v.pin(ctx, domains)
}

type transitKey struct {
	Latest  int                        `json:"latest_version"`
	MinDec  int                        `json:"min_decryption_version"`
	MinEnc  int                        `json:"min_encryption_version"`
	Type    string                     `json:"type"`
	Keys    map[string]json.RawMessage `json:"keys"`
	Signing bool                       `json:"supports_signing"`
}

func (v *Vault) readKey(ctx context.Context, name string) (*transitKey, error) {
	ctx, cancel := context.WithTimeout(ctx, v.opt.Timeout)
	defer cancel()
	resp, err := v.client.Logical().ReadRawWithContext(ctx, v.opt.Mount+"/keys/"+name)
	if resp != nil {
		defer resp.Body.Close()
	}
	if resp != nil && resp.StatusCode == http.StatusNotFound {
		return nil, fmt.Errorf("%w: transit key %s", ErrUnknownKey, name)
	}
	if err != nil {
		return nil, vaultError("read key", err)
	}
	var out struct {
		Data transitKey `json:"data"`
	}
	if err := resp.DecodeJSON(&out); err != nil || out.Data.Latest == 0 {
		return nil, fmt.Errorf("%w: transit key %s: malformed answer", ErrUnavailable, name)
	}
	return &out.Data, nil
}

// Domains implements Pseudonymizer: the pinned domains and epochs.
func (v *Vault) Domains(ctx context.Context) (map[string]uint32, error) {
	if e := v.authState.Load(); e != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnavailable, *e)
	}
	return maps.Clone(*v.epochs.Load()), nil
}

// Pseudonymize implements Pseudonymizer with the domain's pinned epoch.
func (v *Vault) Pseudonymize(ctx context.Context, domain string, inputs [][]byte) ([]Pseudonym, error) {
	epoch, ok := (*v.epochs.Load())[domain]
	if !ok {
		return nil, domainError(domain)
	}
	return v.PseudonymizeAt(ctx, domain, epoch, inputs)
}

// PseudonymizeAt implements Pseudonymizer. Inputs are sent in batches of
// BatchSize, InFlight batches at a time; any failed item fails the call.
func (v *Vault) PseudonymizeAt(ctx context.Context, domain string, epoch uint32, inputs [][]byte) ([]Pseudonym, error) {
	if !ValidDomain(domain) {
		return nil, ErrUnknownDomain
	}
	out := make([]Pseudonym, len(inputs))
	path := v.opt.Mount + "/hmac/" + v.opt.PseudonymKeyName(domain) + "/sha2-256"
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(v.opt.InFlight)
	for start := 0; start < len(inputs); start += v.opt.BatchSize {
		end := min(start+v.opt.BatchSize, len(inputs))
		g.Go(func() error {
			return v.hmacBatch(gctx, path, domain, epoch, inputs[start:end], out[start:end])
		})
	}
	if err := g.Wait(); err != nil {
		return nil, err
	}
	return out, nil
}

type hmacItem struct {
	Input string `json:"input"`
}

type hmacRequest struct {
	BatchInput []hmacItem `json:"batch_input"`
	KeyVersion uint32     `json:"key_version"`
}

type hmacResponse struct {
	Data struct {
		Results []struct {
			HMAC  string `json:"hmac"`
			Error string `json:"error"`
		} `json:"batch_results"`
	} `json:"data"`
}

func (v *Vault) hmacBatch(ctx context.Context, path, domain string, epoch uint32, in [][]byte, out []Pseudonym) error {
	ctx, cancel := context.WithTimeout(ctx, v.opt.Timeout)
	defer cancel()
	req := hmacRequest{BatchInput: make([]hmacItem, len(in)), KeyVersion: epoch}
	for i, b := range in {
		req.BatchInput[i].Input = base64.StdEncoding.EncodeToString(b)
	}
	body, err := json.Marshal(req)
	if err != nil {
		return err
	}
	resp, err := v.client.Logical().WriteRawWithContext(ctx, path, body)
	if resp != nil {
		defer resp.Body.Close()
	}
	if err != nil {
		return vaultError("hmac", err)
	}
	body, err = io.ReadAll(io.LimitReader(resp.Body, maxHMACAnswer))
	if err != nil {
		return vaultError("hmac", err)
	}
	return parseHMACAnswer(body, domain, epoch, out)
}

// maxHMACAnswer bounds the answer to one batch (10,000 results of ~60 bytes).
const maxHMACAnswer = 8 << 20

// parseHMACAnswer reads a transit/hmac batch answer into out, which has one
// slot per input. Any failed, missing or malformed item, or an HMAC made with
// another key version, fails the whole batch.
func parseHMACAnswer(body []byte, domain string, epoch uint32, out []Pseudonym) error {
	var res hmacResponse
	if err := json.Unmarshal(body, &res); err != nil || len(res.Data.Results) != len(out) {
		return fmt.Errorf("%w: transit hmac: malformed or short answer (%d results for %d inputs)", ErrUnavailable, len(res.Data.Results), len(out))
	}
	prefix := "vault:v" + strconv.FormatUint(uint64(epoch), 10) + ":"
	for i, r := range res.Data.Results {
		if r.Error != "" || !strings.HasPrefix(r.HMAC, prefix) {
			return fmt.Errorf("%w: transit hmac item %d failed or has the wrong key version", ErrUnavailable, i)
		}
		mac, err := base64.StdEncoding.DecodeString(r.HMAC[len(prefix):])
		if err != nil || len(mac) != 32 {
			return fmt.Errorf("%w: transit hmac item %d is malformed", ErrUnavailable, i)
		}
		out[i].Domain, out[i].Epoch = domain, epoch
		copy(out[i].MAC[:], mac)
	}
	return nil
}

// Rotate implements Rotator: a new transit key version becomes the domain's
// pinned epoch.
func (v *Vault) Rotate(ctx context.Context, domain string) (uint32, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	epochs := *v.epochs.Load()
	if _, ok := epochs[domain]; !ok {
		return 0, domainError(domain)
	}
	name := v.opt.PseudonymKeyName(domain)
	rctx, cancel := context.WithTimeout(ctx, v.opt.Timeout)
	defer cancel()
	if _, err := v.client.Logical().WriteWithContext(rctx, v.opt.Mount+"/keys/"+name+"/rotate", nil); err != nil {
		return 0, vaultError("rotate", err)
	}
	k, err := v.readKey(ctx, name)
	if err != nil {
		return 0, err
	}
	next := maps.Clone(epochs)
	next[domain] = uint32(k.Latest)
	v.epochs.Store(&next)
	return uint32(k.Latest), nil
}

// RotateSigningKey makes a new version of a signing key current.
func (v *Vault) RotateSigningKey(ctx context.Context, name string) (uint32, error) {
	path := v.opt.Mount + "/keys/" + v.opt.SigningKeyName(name)
	rctx, cancel := context.WithTimeout(ctx, v.opt.Timeout)
	defer cancel()
	if _, err := v.client.Logical().WriteWithContext(rctx, path+"/rotate", nil); err != nil {
		return 0, vaultError("rotate signing key", err)
	}
	k, err := v.readKey(ctx, v.opt.SigningKeyName(name))
	if err != nil {
		return 0, err
	}
	return uint32(k.Latest), nil
}

// SigningKey implements Signer: signatures are made by transit/sign with the
// key's latest version pinned; the private key stays in Vault.
func (v *Vault) SigningKey(ctx context.Context, name string) (jose.OpaqueSigner, error) {
	keys, latest, err := v.publicKeys(ctx, name)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.KeyID == KeyID(name, latest) {
			return &vaultSigner{v: v, path: v.opt.Mount + "/sign/" + v.opt.SigningKeyName(name), version: latest, jwk: k}, nil
		}
	}
	return nil, fmt.Errorf("%w: transit key %s has no public key for version %d", ErrUnavailable, name, latest)
}

// PublicKeys implements Signer: every version Vault still lists.
func (v *Vault) PublicKeys(ctx context.Context, name string) ([]jose.JSONWebKey, error) {
	keys, _, err := v.publicKeys(ctx, name)
	return keys, err
}

func (v *Vault) publicKeys(ctx context.Context, name string) ([]jose.JSONWebKey, uint32, error) {
	k, err := v.readKey(ctx, v.opt.SigningKeyName(name))
	if err != nil {
		return nil, 0, err
	}
	if k.Type != "ed25519" {
		return nil, 0, fmt.Errorf("keys: transit key %s is %s, not ed25519", v.opt.SigningKeyName(name), k.Type)
	}
	var out []jose.JSONWebKey
	for ver, raw := range k.Keys {
		n, err := strconv.ParseUint(ver, 10, 32)
		if err != nil {
			continue
		}
		var pk struct {
			PublicKey string `json:"public_key"`
		}
		if json.Unmarshal(raw, &pk) != nil {
			continue
		}
		b, err := base64.StdEncoding.DecodeString(pk.PublicKey)
		if err != nil || len(b) != ed25519.PublicKeySize {
			return nil, 0, fmt.Errorf("%w: transit key %s version %s: malformed public key", ErrUnavailable, name, ver)
		}
		out = append(out, jose.JSONWebKey{Key: ed25519.PublicKey(b), KeyID: KeyID(name, uint32(n)), Algorithm: string(jose.EdDSA), Use: "sig"})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].KeyID < out[j].KeyID })
	return out, uint32(k.Latest), nil
}

// Seal implements Sealer with transit/encrypt (AES-256-GCM in Vault, the
// associated data bound in); the plaintext key never leaves Vault.
func (v *Vault) Seal(ctx context.Context, name string, plaintext, aad []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, v.opt.Timeout)
	defer cancel()
	secret, err := v.client.Logical().WriteWithContext(ctx, v.opt.Mount+"/encrypt/"+v.opt.SealingKeyName(name), map[string]any{
		"plaintext": base64.StdEncoding.EncodeToString(plaintext), "associated_data": base64.StdEncoding.EncodeToString(bindAAD(name, aad)),
	})
	if err != nil {
		return nil, vaultError("encrypt", err)
	}
	ct, _ := secret.Data["ciphertext"].(string)
	if !strings.HasPrefix(ct, "vault:v") {
		return nil, fmt.Errorf("%w: transit encrypt: unexpected answer", ErrUnavailable)
	}
	return []byte(ct), nil
}

// Open implements Sealer with transit/decrypt.
func (v *Vault) Open(ctx context.Context, name string, sealed, aad []byte) ([]byte, error) {
	ctx, cancel := context.WithTimeout(ctx, v.opt.Timeout)
	defer cancel()
	secret, err := v.client.Logical().WriteWithContext(ctx, v.opt.Mount+"/decrypt/"+v.opt.SealingKeyName(name), map[string]any{
		"ciphertext": string(sealed), "associated_data": base64.StdEncoding.EncodeToString(bindAAD(name, aad)),
	})
	if err != nil {
		var re *vault.ResponseError
		if errors.As(err, &re) && re.StatusCode == http.StatusBadRequest {
			return nil, ErrSealed
		}
		return nil, vaultError("decrypt", err)
	}
	pt, _ := secret.Data["plaintext"].(string)
	out, err := base64.StdEncoding.DecodeString(pt)
	if err != nil {
		return nil, ErrSealed
	}
	return out, nil
}

// vaultSigner is a go-jose OpaqueSigner backed by transit/sign.
type vaultSigner struct {
	v       *Vault
	path    string
	version uint32
	jwk     jose.JSONWebKey
}

func (s *vaultSigner) Public() *jose.JSONWebKey { k := s.jwk; return &k }

func (s *vaultSigner) Algs() []jose.SignatureAlgorithm { return []jose.SignatureAlgorithm{jose.EdDSA} }

func (s *vaultSigner) SignPayload(payload []byte, alg jose.SignatureAlgorithm) ([]byte, error) {
	if alg != jose.EdDSA {
		return nil, fmt.Errorf("keys: %s signs EdDSA only, not %s", s.jwk.KeyID, alg)
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.v.opt.Timeout)
	defer cancel()
	secret, err := s.v.client.Logical().WriteWithContext(ctx, s.path, map[string]any{
		"input": base64.StdEncoding.EncodeToString(payload), "key_version": s.version,
	})
	if err != nil {
		return nil, vaultError("sign", err)
	}
	sig, _ := secret.Data["signature"].(string)
	prefix := "vault:v" + strconv.FormatUint(uint64(s.version), 10) + ":"
	if !strings.HasPrefix(sig, prefix) {
		return nil, fmt.Errorf("%w: transit sign: unexpected answer", ErrUnavailable)
	}
	raw, err := base64.StdEncoding.DecodeString(sig[len(prefix):])
	if err != nil || len(raw) != ed25519.SignatureSize {
		return nil, fmt.Errorf("%w: transit sign: malformed signature", ErrUnavailable)
	}
	return raw, nil
}

// vaultError turns a Vault client error into a package sentinel. Vault being
// unreachable, sealed, or refusing the token are all ErrUnavailable: the
// caller must release nothing and may retry later.
func vaultError(op string, err error) error {
	var re *vault.ResponseError
	if errors.As(err, &re) {
		msg := strings.Join(re.Errors, "; ")
		switch {
		case re.StatusCode == http.StatusForbidden:
			return fmt.Errorf("%w: vault %s: permission denied", ErrUnavailable, op)
		case re.StatusCode == http.StatusServiceUnavailable:
			return fmt.Errorf("%w: vault %s: sealed or unavailable", ErrUnavailable, op)
		case re.StatusCode == http.StatusBadRequest && strings.Contains(msg, "version"):
			return fmt.Errorf("%w: vault %s: %s", ErrUnknownEpoch, op, msg)
		case re.StatusCode == http.StatusBadRequest && strings.Contains(msg, "not found"):
			return fmt.Errorf("%w: vault %s: %s", ErrUnknownDomain, op, msg)
		}
		return fmt.Errorf("%w: vault %s: status %d: %s", ErrUnavailable, op, re.StatusCode, msg)
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: vault %s: %w", ErrUnavailable, op, err)
	}
	return fmt.Errorf("%w: vault %s: unreachable: %v", ErrUnavailable, op, err)
}

// ReadSecretFile reads a credential (Vault token, AppRole secret id) from a
// file, trimming the final newline.
func ReadSecretFile(path string) (string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(b), "\r\n"), nil
}
