// Package devenv lays out a complete local gateway in one directory: a
// development CA, the gateway's and every agency's certificates, an encrypted
// keyring with its passphrase file, and a configuration naming them all.
// `tumar dev init`, `tumar demo` and the end-to-end tests use it.
package devenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tumarproject/tumar/crypto/devca"
	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/config"
)

// Agencies are the sample participants: an NGO crisis centre, the crime
// register, a consulate abroad and a health service.
func Agencies() []config.Agency {
	return []config.Agency{
		{ID: "ngo-sezim", Name: "Sezim crisis centre, Bishkek", Type: "NGO", Domain: "ngo-sezim"},
		{ID: "errp", Name: "Unified Register of Crimes (ERRP)", Type: "LawEnforcement", Domain: "errp"},
		{ID: "consulate-moscow", Name: "Consulate of the Kyrgyz Republic in Moscow", Type: "CentralGovernmentOrganisation", Domain: "consulate-moscow"},
		{ID: "health-bishkek", Name: "City health centre, Bishkek", Type: "HealthServiceOrganisation", Domain: "health-bishkek"},
	}
}

// Purposes are the sample purposes and their legal bases.
func Purposes() []config.Purpose {
	return []config.Purpose{
		{ID: "criminal-referral", Description: "Report a possible trafficking crime to the register", LegalBases: []string{"kg-law-trafficking-in-persons", "victim-consent"}},
		{ID: "prosecution", Description: "Identify a victim for a prosecution under a court order", LegalBases: []string{"court-order"}},
		{ID: "consular-assistance", Description: "Help a citizen abroad: documents, return home", LegalBases: []string{"victim-consent", "kg-law-consular-service"}},
		{ID: "support-services", Description: "Refer a victim for health, social or legal support", LegalBases: []string{"victim-consent"}},
	}
}

// SecurityServerCN is the development security server's certificate name.
const SecurityServerCN = "ss.tunduk.test"

// Options tune Create.
type Options struct {
	Listen string   // default 127.0.0.1:8443; port 0 picks a free one
	KDF    keys.KDF // zero means keys.DefaultKDF
}

// Env is a laid-out development gateway.
type Env struct {
	Dir        string
	ConfigPath string
	Config     *config.Config
}

// Create writes a development gateway into dir, which must be empty or absent.
func Create(ctx context.Context, dir string, opt Options) (*Env, error) {
	if entries, err := os.ReadDir(dir); err == nil && len(entries) > 0 {
		return nil, fmt.Errorf("devenv: %s is not empty; choose a new directory", dir)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	if opt.Listen == "" {
		opt.Listen = "127.0.0.1:8443"
	}
	cfg := &config.Config{
		Listen:   opt.Listen,
		TLS:      config.TLS{CA: "ca.pem", Cert: "gateway.pem", Key: "gateway-key.pem"},
		Store:    config.Store{Type: "sqlite", Path: "tumar.db"},
		Keys:     config.Keys{Type: "file", Path: "keyring.json", PassphraseFile: "keyring.pass"},
		Agencies: Agencies(),
		Purposes: Purposes(),
	}
	for i := range cfg.Agencies {
		cfg.Agencies[i].Auth.MTLSCommonName = cfg.Agencies[i].ID + ".agency.tumar.test"
	}
	cfg.Auditors = []config.Auditor{{ID: "privacy-officer", Name: "NRM privacy officer", MTLSCommonName: "privacy-officer.tumar.test"}}
	cfg.Defaults()
	if err := writeCerts(dir, cfg); err != nil {
		return nil, err
	}
	pass := make([]byte, 24)
	rand.Read(pass)
	passText := []byte(base64.RawURLEncoding.EncodeToString(pass))
	if err := os.WriteFile(filepath.Join(dir, "keyring.pass"), append(passText, '\n'), 0o600); err != nil {
		return nil, err
	}
	if _, err := keys.CreateFile(ctx, filepath.Join(dir, "keyring.json"), passText, opt.KDF, cfg.Domains()...); err != nil {
		return nil, err
	}
	out, err := yaml.Marshal(cfg)
	if err != nil {
		return nil, err
	}
	header := []byte("# Tumar development configuration, written by `tumar dev init`.\n# Paths are relative to this file. Not for production: the CA key is on disk.\n")
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, append(header, out...), 0o600); err != nil {
		return nil, err
	}
	loaded, err := config.Load(path)
	if err != nil {
		return nil, err
	}
	return &Env{Dir: dir, ConfigPath: path, Config: loaded}, nil
}

func writeCerts(dir string, cfg *config.Config) error {
	ca, err := devca.New("Tumar development CA")
	if err != nil {
		return err
	}
	files := map[string][]byte{"ca.pem": ca.CertPEM()}
	cert, key, err := ca.Issue("gateway.tumar.test", true, "localhost", "127.0.0.1", "::1", "gateway.tumar.test")
	if err != nil {
		return err
	}
	files["gateway.pem"], files["gateway-key.pem"] = cert, key
	// A stand-in Tunduk security server, for trying the crime-register connector.
	cert, key, err = ca.Issue(SecurityServerCN, true, "localhost", "127.0.0.1", SecurityServerCN)
	if err != nil {
		return err
	}
	files["security-server.pem"], files["security-server-key.pem"] = cert, key
	// The privacy officer's certificate: it opens the audit pages.
	cert, key, err = ca.Issue("privacy-officer.tumar.test", false)
	if err != nil {
		return err
	}
	files["privacy-officer.pem"], files["privacy-officer-key.pem"] = cert, key
	// A client certificate for scraping /metrics (Prometheus), not an agency.
	cert, key, err = ca.Issue("monitoring.tumar.test", false)
	if err != nil {
		return err
	}
	files["monitoring.pem"], files["monitoring-key.pem"] = cert, key
	for i, a := range cfg.Agencies {
		cert, key, err := ca.Issue(a.Auth.MTLSCommonName, false)
		if err != nil {
			return err
		}
		files[a.ID+".pem"], files[a.ID+"-key.pem"] = cert, key
		// A P-256 key pair to which status tokens for the agency can be encrypted.
		pub, priv, err := tokenKeyPair()
		if err != nil {
			return err
		}
		files[a.ID+"-token-enc.pem"], files[a.ID+"-token-enc-key.pem"] = pub, priv
		cfg.Agencies[i].TokenEncryptionKey = a.ID + "-token-enc.pem"
	}
	if err := bundleKeys(cfg, files); err != nil {
		return err
	}
	for name, b := range files {
		if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// bundleKeys makes the gateway's bundle decryption key and, for each
// consulate, a signing key on the trust list.
func bundleKeys(cfg *config.Config, files map[string][]byte) error {
	pub, priv, err := tokenKeyPair()
	if err != nil {
		return err
	}
	files["bundle.pub.pem"], files["bundle-key.pem"] = pub, priv
	cfg.Bundles.DecryptionKey = "bundle-key.pem"
	for _, a := range cfg.Agencies {
		if !strings.HasPrefix(a.ID, "consulate-") {
			continue
		}
		spub, spriv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return err
		}
		pubDER, _ := x509.MarshalPKIXPublicKey(spub)
		privDER, _ := x509.MarshalPKCS8PrivateKey(spriv)
		files[a.ID+"-sign.pem"] = pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pubDER})
		files[a.ID+"-sign-key.pem"] = pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: privDER})
		cfg.Bundles.Trust = append(cfg.Bundles.Trust, config.TrustedKey{Consulate: a.ID, KeyID: a.ID + "-1", PublicKey: a.ID + "-sign.pem",
			NotBefore: time.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)})
	}
	return nil
}

func tokenKeyPair() (pubPEM, privPEM []byte, err error) {
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	pub, err := x509.MarshalPKIXPublicKey(&k.PublicKey)
	if err != nil {
		return nil, nil, err
	}
	priv, err := x509.MarshalPKCS8PrivateKey(k)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: priv}), nil
}

// TokenDecryptionKey is the private key of an agency's token encryption key pair.
func (e *Env) TokenDecryptionKey(agencyID string) (*ecdsa.PrivateKey, error) {
	raw, err := os.ReadFile(filepath.Join(e.Dir, agencyID+"-token-enc-key.pem"))
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("devenv: no PEM block")
	}
	k, err := x509.ParsePKCS8PrivateKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	ek, ok := k.(*ecdsa.PrivateKey)
	if !ok {
		return nil, errors.New("devenv: not an ECDSA key")
	}
	return ek, nil
}

// ClientTLS is the TLS configuration an agency's client uses: its own
// certificate, and the development CA as the only trusted root.
func (e *Env) ClientTLS(agencyID string) (*tls.Config, error) {
	if _, ok := e.Config.Agency(agencyID); !ok {
		return nil, fmt.Errorf("devenv: no agency %s", agencyID)
	}
	cert, err := tls.LoadX509KeyPair(filepath.Join(e.Dir, agencyID+".pem"), filepath.Join(e.Dir, agencyID+"-key.pem"))
	if err != nil {
		return nil, err
	}
	caPEM, err := os.ReadFile(filepath.Join(e.Dir, "ca.pem"))
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(caPEM) {
		return nil, errors.New("devenv: ca.pem holds no certificate")
	}
	return &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: roots, MinVersion: tls.VersionTLS13}, nil
}

// Client is an HTTPS client authenticated as the agency.
func (e *Env) Client(agencyID string) (*http.Client, error) {
	tc, err := e.ClientTLS(agencyID)
	if err != nil {
		return nil, err
	}
	return &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}}, nil
}
