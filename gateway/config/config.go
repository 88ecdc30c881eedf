// Package config is the gateway's configuration: where it listens, where its
// keys and store are, and which agencies and purposes take part. It is loaded
// from one YAML file and validated as a whole before anything starts, so an
// operator sees every mistake at once, each naming its setting.
package config

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tumarproject/tumar/crypto/envelope"
	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/htcds"
)

// InternalDomain is the gateway's own pseudonym domain. Its pseudonyms link
// records inside the gateway and are never released to an agency.
const InternalDomain = "tumar.internal"

// LookupDomain is the domain of blind status look-ups: the gateway indexes
// every person with a recorded status by their blind pseudonyms in it, and
// agencies ask about a person by evaluating their match keys under its OPRF
// key (crypto/oprf) without revealing them.
const LookupDomain = "tumar.lookup"

// Config is the whole configuration.
type Config struct {
	// Listen is the address of the HTTPS API, host:port.
	Listen string `yaml:"listen"`
	// MaxBodyBytes bounds a request body; larger requests get 413.
	MaxBodyBytes int64       `yaml:"max_body_bytes"`
	TLS          TLS         `yaml:"tls"`
	Store        Store       `yaml:"store"`
	Keys         Keys        `yaml:"keys"`
	Policy       Policy      `yaml:"policy"`
	Tokens       Tokens      `yaml:"tokens"`
	Blind        Blind       `yaml:"blind,omitempty"`
	Agencies     []Agency    `yaml:"agencies"`
	Auditors     []Auditor   `yaml:"auditors,omitempty"`
	Purposes     []Purpose   `yaml:"purposes"`
	Connectors   []Connector `yaml:"connectors,omitempty"`
	Bundles      Bundles     `yaml:"bundles,omitempty"`
	XRoad        XRoad       `yaml:"xroad,omitempty"`
}

// XRoad configures the gateway as a subsystem behind a Tunduk (X-Road)
// security server, for the crime register. Empty SecurityServerURL turns it off.
type XRoad struct {
	SecurityServerURL string        `yaml:"security_server_url,omitempty"` // outgoing calls go through it
	SecurityServerCN  string        `yaml:"security_server_cn,omitempty"`  // its client certificate's name, for incoming calls
	Client            string        `yaml:"client,omitempty"`              // the gateway's subsystem: INSTANCE/CLASS/MEMBER/SUBSYSTEM
	ERRPService       string        `yaml:"errp_service,omitempty"`        // the register's service: INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE
	ERRPAgency        string        `yaml:"errp_agency,omitempty"`         // the agency id of the register
	Members           []XRoadMember `yaml:"members,omitempty"`             // X-Road clients allowed to call in, by agency
	// ExportDSNEnv names the environment variable with the PostgreSQL address
	// of the register's export table (the pilot mode); ExportTable its name.
	ExportDSNEnv string `yaml:"export_dsn_env,omitempty"`
	ExportTable  string `yaml:"export_table,omitempty"`
}

// XRoadMember maps an X-Road client to an agency.
type XRoadMember struct {
	Client string `yaml:"client"`
	Agency string `yaml:"agency"`
}

// Bundles configures consular bundle import. Empty DecryptionKey turns it off.
type Bundles struct {
	// DecryptionKey is a PEM file with the gateway's P-256 private key that
	// bundles are encrypted to.
	DecryptionKey string `yaml:"decryption_key,omitempty"`
	// MaxAge refuses bundles created longer ago; default 4320h (180 days).
	MaxAge Duration `yaml:"max_age,omitempty"`
	// Trust lists the consulates' signing keys.
	Trust []TrustedKey `yaml:"trust,omitempty"`
}

// TrustedKey is one consulate signing key on the trust list.
type TrustedKey struct {
	Consulate string `yaml:"consulate"` // agency id
	KeyID     string `yaml:"key_id"`
	PublicKey string `yaml:"public_key"` // PEM file with the Ed25519 public key
	NotBefore string `yaml:"not_before"` // YYYY-MM-DD
	NotAfter  string `yaml:"not_after,omitempty"`
	RevokedAt string `yaml:"revoked_at,omitempty"` // RFC 3339 or YYYY-MM-DD: bundles created from then on are refused
}

// Connector is one configured source: where its records are, how their
// columns map to HTCDS, on whose behalf they come and where they go.
type Connector struct {
	Name    string `yaml:"name"`
	Type    string `yaml:"type"`   // csv, xlsx or primero
	Agency  string `yaml:"agency"` // the agency the records come from
	Path    string `yaml:"path,omitempty"`
	Sheet   string `yaml:"sheet,omitempty"`
	Mapping string `yaml:"mapping,omitempty"`
	// Primero: its URL, a user, and where the password is (never inline).
	URL          string `yaml:"url,omitempty"`
	User         string `yaml:"user,omitempty"`
	PasswordEnv  string `yaml:"password_env,omitempty"`
	PasswordFile string `yaml:"password_file,omitempty"`
	Destination  string `yaml:"destination"`
	Purpose      string `yaml:"purpose"`
	LegalBasis   string `yaml:"legal_basis"`
}

// TLS names the files of the gateway's certificate and of the CA that signs
// agency client certificates.
type TLS struct {
	CA   string `yaml:"ca"`   // PEM bundle of CAs trusted for agency certificates
	Cert string `yaml:"cert"` // the gateway's certificate (PEM)
	Key  string `yaml:"key"`  // its private key (PEM); a file reference, never inline
}

// Store chooses the store backend.
type Store struct {
	Type string `yaml:"type"` // "sqlite" or "postgres"
	Path string `yaml:"path"` // SQLite database file
	// DSNEnv names the environment variable holding PostgreSQL's address
	// (a secret: it can carry a password).
	DSNEnv string `yaml:"dsn_env,omitempty"`
}

// Keys chooses the key backend. The passphrase is referenced, never inlined.
type Keys struct {
	Type           string `yaml:"type"` // "file" or "vault"
	Path           string `yaml:"path"` // file: the keyring
	PassphraseEnv  string `yaml:"passphrase_env"`
	PassphraseFile string `yaml:"passphrase_file"`
	Vault          Vault  `yaml:"vault"`
}

// Vault configures the Vault key backend. Credentials are referenced (a
// file or an environment variable), never inlined.
type Vault struct {
	Address   string `yaml:"address"`
	Mount     string `yaml:"mount"`      // transit mount; default "transit"
	KeyPrefix string `yaml:"key_prefix"` // default "tumar-"
	CACert    string `yaml:"ca_cert"`
	BatchSize int    `yaml:"batch_size"`
	InFlight  int    `yaml:"in_flight"`
	// MaxRetries is how often a failed Vault request is retried; nil means 2.
	MaxRetries *int      `yaml:"max_retries"`
	Auth       VaultAuth `yaml:"auth"`
}

// VaultAuth says how the gateway logs in to Vault.
type VaultAuth struct {
	Method            string `yaml:"method"` // token, approle or kubernetes
	TokenEnv          string `yaml:"token_env"`
	TokenFile         string `yaml:"token_file"`
	RoleID            string `yaml:"role_id"`
	SecretIDEnv       string `yaml:"secret_id_env"`
	SecretIDFile      string `yaml:"secret_id_file"`
	KubernetesRole    string `yaml:"kubernetes_role"`
	KubernetesJWTPath string `yaml:"kubernetes_jwt_path"`
	MountPath         string `yaml:"mount_path"`
}

// Policy chooses the release policy; an empty Dir means the embedded default.
type Policy struct {
	Dir string `yaml:"dir"`
}

// Auditor is a privacy officer who may open the audit pages; nothing else.
type Auditor struct {
	ID             string `yaml:"id"`
	Name           string `yaml:"name"`
	MTLSCommonName string `yaml:"mtls_common_name"`
}

// Tokens configures victim-status tokens.
type Tokens struct {
	TTL Duration `yaml:"ttl"` // lifetime of a token; default 72h
}

// Blind configures blind evaluations (POST /v1/oprf/evaluate). A blind
// oracle is a guessing oracle: every evaluation lets an agency test one
// guessed identity, so each agency gets at most Limit evaluated elements in
// any Window, counted in the store across restarts and replicas.
type Blind struct {
	Limit  int      `yaml:"limit"`  // elements per agency per window; default 300
	Window Duration `yaml:"window"` // default 1h
}

// Duration is a time.Duration written as "72h" in YAML.
type Duration time.Duration

// Duration returns the value as a time.Duration.
func (d Duration) Duration() time.Duration { return time.Duration(d) }

// UnmarshalYAML reads "72h", "30m" and the like.
func (d *Duration) UnmarshalYAML(n *yaml.Node) error {
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		return fmt.Errorf("line %d: %q is not a duration like 72h", n.Line, n.Value)
	}
	*d = Duration(v)
	return nil
}

// MarshalYAML writes the duration as text.
func (d Duration) MarshalYAML() (any, error) { return time.Duration(d).String(), nil }

// Agency is one participant of the referral mechanism.
type Agency struct {
	ID     string `yaml:"id"`
	Name   string `yaml:"name"`
	Type   string `yaml:"type"`   // HTCDS organisation type (org_Type)
	Domain string `yaml:"domain"` // its pseudonym domain
	Auth   Auth   `yaml:"auth"`
	// TokenEncryptionKey is a PEM file with the agency's P-256 public key;
	// status tokens for it can then be encrypted to it (JWE).
	TokenEncryptionKey string `yaml:"token_encryption_key,omitempty"`
	// TokenKey is the key read from TokenEncryptionKey.
	TokenKey *ecdsa.PublicKey `yaml:"-"`
	// EnvelopeKeyFile is the agency's published envelope key
	// (`tumar envelope keygen`). When set, every record released to the
	// agency is sealed to it: the gateway's store keeps only the envelope.
	EnvelopeKeyFile string `yaml:"envelope_key,omitempty"`
	// EnvelopeKey is the key read from EnvelopeKeyFile.
	EnvelopeKey *envelope.PublicKey `yaml:"-"`
}

// Auth says how an agency proves who it is.
type Auth struct {
	// MTLSCommonName is the subject common name of the agency's client
	// certificate, issued by the configured CA.
	MTLSCommonName string `yaml:"mtls_common_name"`
}

// Purpose is one reason for an exchange and the legal acts that allow it.
type Purpose struct {
	ID          string   `yaml:"id"`
	Description string   `yaml:"description"`
	LegalBases  []string `yaml:"legal_bases"`
}

// Defaults fills what was left empty.
func (c *Config) Defaults() {
	if c.Listen == "" {
		c.Listen = "127.0.0.1:8443"
	}
	if c.MaxBodyBytes == 0 {
		c.MaxBodyBytes = 1 << 20
	}
	if c.Store.Type == "" {
		c.Store.Type = "sqlite"
	}
	if c.Keys.Type == "" {
		c.Keys.Type = "file"
	}
	if c.Tokens.TTL == 0 {
		c.Tokens.TTL = Duration(72 * time.Hour)
	}
	if c.Blind.Limit == 0 {
		c.Blind.Limit = 300
	}
	if c.Blind.Window == 0 {
		c.Blind.Window = Duration(time.Hour)
	}
	if c.Bundles.MaxAge == 0 {
		c.Bundles.MaxAge = Duration(180 * 24 * time.Hour)
	}
	if c.Keys.Type == "vault" && c.Keys.Vault.Auth.Method == "kubernetes" && c.Keys.Vault.Auth.KubernetesJWTPath == "" {
		c.Keys.Vault.Auth.KubernetesJWTPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"
	}
}

// Load reads, defaults and validates a configuration file. Relative paths in
// it are taken from the file's directory.
func Load(path string) (*Config, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	var c Config
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("config: %s: %w", path, err)
	}
	c.Defaults()
	c.resolve(filepath.Dir(path))
	err = c.Validate()
	if err == nil {
		err = c.loadTokenKeys()
	}
	if err != nil {
		return nil, fmt.Errorf("config: %s:\n%w", path, err)
	}
	return &c, nil
}

func (c *Config) resolve(dir string) {
	for i := range c.Agencies {
		if p := &c.Agencies[i].TokenEncryptionKey; *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
		if p := &c.Agencies[i].EnvelopeKeyFile; *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	if c.Bundles.DecryptionKey != "" && !filepath.IsAbs(c.Bundles.DecryptionKey) {
		c.Bundles.DecryptionKey = filepath.Join(dir, c.Bundles.DecryptionKey)
	}
	for i := range c.Bundles.Trust {
		if p := &c.Bundles.Trust[i].PublicKey; *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
	for i := range c.Connectors {
		for _, p := range []*string{&c.Connectors[i].Path, &c.Connectors[i].Mapping, &c.Connectors[i].PasswordFile} {
			if *p != "" && !filepath.IsAbs(*p) {
				*p = filepath.Join(dir, *p)
			}
		}
	}
	v := &c.Keys.Vault
	for _, p := range []*string{&c.TLS.CA, &c.TLS.Cert, &c.TLS.Key, &c.Store.Path, &c.Keys.Path, &c.Keys.PassphraseFile, &c.Policy.Dir,
		&v.CACert, &v.Auth.TokenFile, &v.Auth.SecretIDFile} {
		if *p != "" && !filepath.IsAbs(*p) {
			*p = filepath.Join(dir, *p)
		}
	}
}

// Validate reports every problem at once, each naming its setting.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	if c.Listen == "" {
		bad("listen: must be host:port")
	}
	if c.MaxBodyBytes < 1024 {
		bad("max_body_bytes: must be at least 1024")
	}
	for name, v := range map[string]string{"tls.ca": c.TLS.CA, "tls.cert": c.TLS.Cert, "tls.key": c.TLS.Key} {
		if v == "" {
			bad("%s: must name a PEM file", name)
		}
	}
	switch c.Store.Type {
	case "sqlite":
		if c.Store.Path == "" {
			bad("store.path: must name the SQLite database file")
		}
	case "postgres":
		if c.Store.DSNEnv == "" {
			bad("store.dsn_env: must name the environment variable with PostgreSQL's address")
		}
	default:
		bad("store.type: %q is not a store type (sqlite, postgres)", c.Store.Type)
	}
	errs = append(errs, c.Keys.validate()...)
	if c.Blind.Limit < 0 || c.Blind.Window < 0 {
		bad("blind: limit and window must not be negative")
	}
	errs = append(errs, c.validateAgencies()...)
	errs = append(errs, c.validatePurposes()...)
	errs = append(errs, c.validateConnectors()...)
	errs = append(errs, c.validateBundles()...)
	errs = append(errs, c.validateXRoad()...)
	for i, a := range c.Auditors {
		if a.ID == "" || a.MTLSCommonName == "" {
			errs = append(errs, fmt.Errorf("auditors[%d]: id and mtls_common_name are required", i))
		}
		for _, ag := range c.Agencies {
			if ag.Auth.MTLSCommonName == a.MTLSCommonName {
				errs = append(errs, fmt.Errorf("auditors[%d].mtls_common_name: also an agency's; an auditor needs a certificate of its own", i))
			}
		}
	}
	return errors.Join(errs...)
}

func (k *Keys) validate() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch k.Type {
	case "file":
		if k.Path == "" {
			bad("keys.path: must name the keyring file")
		}
		if k.PassphraseEnv == "" && k.PassphraseFile == "" {
			bad("keys: set passphrase_env or passphrase_file")
		}
	case "vault":
		v := k.Vault
		if v.Address == "" {
			bad("keys.vault.address: must be Vault's URL")
		}
		switch a := v.Auth; a.Method {
		case "token":
			if a.TokenEnv == "" && a.TokenFile == "" {
				bad("keys.vault.auth: the token method needs token_env or token_file")
			}
		case "approle":
			if a.RoleID == "" || (a.SecretIDEnv == "" && a.SecretIDFile == "") {
				bad("keys.vault.auth: the approle method needs role_id and secret_id_env or secret_id_file")
			}
		case "kubernetes":
			if a.KubernetesRole == "" {
				bad("keys.vault.auth.kubernetes_role: must be set")
			}
		default:
			bad("keys.vault.auth.method: %q is not token, approle or kubernetes", a.Method)
		}
		if v.BatchSize < 0 || v.BatchSize > 10000 {
			bad("keys.vault.batch_size: must be from 1 to 10000 (Vault's array limit)")
		}
	default:
		bad("keys.type: %q is not a key backend (file, vault)", k.Type)
	}
	return errs
}

func (c *Config) validateAgencies() []error {
	var errs []error
	if len(c.Agencies) == 0 {
		errs = append(errs, errors.New("agencies: at least one agency is needed"))
	}
	orgType, _ := htcds.Lookup("org_Type")
	ids, domains, cns := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for i, a := range c.Agencies {
		at := fmt.Sprintf("agencies[%d]", i)
		if a.ID != "" {
			at = fmt.Sprintf("agencies[%d] (%s)", i, a.ID)
		}
		switch {
		case !keys.ValidDomain(a.ID):
			errs = append(errs, fmt.Errorf("%s.id: must be lower-case letters, digits, '-' or '.'", at))
		case ids[a.ID]:
			errs = append(errs, fmt.Errorf("%s.id: used twice", at))
		}
		ids[a.ID] = true
		if !slices.Contains(orgType.Values, a.Type) {
			errs = append(errs, fmt.Errorf("%s.type: %q is not an HTCDS organisation type %v", at, a.Type, orgType.Values))
		}
		switch {
		case !keys.ValidDomain(a.Domain):
			errs = append(errs, fmt.Errorf("%s.domain: must be lower-case letters, digits, '-' or '.'", at))
		case a.Domain == InternalDomain || a.Domain == LookupDomain:
			errs = append(errs, fmt.Errorf("%s.domain: %s is one of the gateway's own domains", at, a.Domain))
		case domains[a.Domain]:
			errs = append(errs, fmt.Errorf("%s.domain: shared with another agency; each recipient needs its own domain", at))
		}
		domains[a.Domain] = true
		switch {
		case a.Auth.MTLSCommonName == "":
			errs = append(errs, fmt.Errorf("%s.auth.mtls_common_name: must be set", at))
		case cns[a.Auth.MTLSCommonName]:
			errs = append(errs, fmt.Errorf("%s.auth.mtls_common_name: used by two agencies", at))
		}
		cns[a.Auth.MTLSCommonName] = true
	}
	return errs
}

func (c *Config) validatePurposes() []error {
	var errs []error
	if len(c.Purposes) == 0 {
		errs = append(errs, errors.New("purposes: at least one purpose is needed"))
	}
	seen := map[string]bool{}
	for i, p := range c.Purposes {
		at := fmt.Sprintf("purposes[%d]", i)
		if p.ID == "" || !keys.ValidDomain(p.ID) {
			errs = append(errs, fmt.Errorf("%s.id: must be lower-case letters, digits, '-' or '.'", at))
		} else if seen[p.ID] {
			errs = append(errs, fmt.Errorf("%s.id: %s used twice", at, p.ID))
		}
		seen[p.ID] = true
		if len(p.LegalBases) == 0 {
			errs = append(errs, fmt.Errorf("%s.legal_bases: at least one legal basis is needed", at))
		}
	}
	return errs
}

func (c *Config) validateConnectors() []error {
	var errs []error
	seen := map[string]bool{}
	for i, k := range c.Connectors {
		at := fmt.Sprintf("connectors[%d] (%s)", i, k.Name)
		if !keys.ValidDomain(k.Name) || seen[k.Name] {
			errs = append(errs, fmt.Errorf("%s.name: must be unique lower-case letters, digits, '-' or '.'", at))
		}
		seen[k.Name] = true
		switch k.Type {
		case "csv", "xlsx":
			if k.Path == "" || k.Mapping == "" {
				errs = append(errs, fmt.Errorf("%s: path and mapping must name files", at))
			}
		case "primero":
			if k.URL == "" || k.User == "" || (k.PasswordEnv == "" && k.PasswordFile == "") {
				errs = append(errs, fmt.Errorf("%s: url, user and password_env or password_file are required", at))
			}
		default:
			errs = append(errs, fmt.Errorf("%s.type: %q is not a connector type (csv, xlsx, primero)", at, k.Type))
		}
		if _, ok := c.Agency(k.Agency); !ok {
			errs = append(errs, fmt.Errorf("%s.agency: %q is not a configured agency", at, k.Agency))
		}
		if _, ok := c.Agency(k.Destination); !ok {
			errs = append(errs, fmt.Errorf("%s.destination: %q is not a configured agency", at, k.Destination))
		}
		if p, ok := c.Purpose(k.Purpose); !ok {
			errs = append(errs, fmt.Errorf("%s.purpose: %q is not a configured purpose", at, k.Purpose))
		} else if !slices.Contains(p.LegalBases, k.LegalBasis) {
			errs = append(errs, fmt.Errorf("%s.legal_basis: %q is not a legal basis of purpose %s", at, k.LegalBasis, k.Purpose))
		}
	}
	return errs
}

func (c *Config) validateBundles() []error {
	var errs []error
	for i, t := range c.Bundles.Trust {
		at := fmt.Sprintf("bundles.trust[%d]", i)
		if _, ok := c.Agency(t.Consulate); !ok {
			errs = append(errs, fmt.Errorf("%s.consulate: %q is not a configured agency", at, t.Consulate))
		}
		if t.KeyID == "" || t.PublicKey == "" {
			errs = append(errs, fmt.Errorf("%s: key_id and public_key are required", at))
		}
		for name, v := range map[string]string{"not_before": t.NotBefore, "not_after": t.NotAfter, "revoked_at": t.RevokedAt} {
			if _, err := ParseTime(v); v != "" && err != nil {
				errs = append(errs, fmt.Errorf("%s.%s: %q is not a date (YYYY-MM-DD) or an RFC 3339 time", at, name, v))
			}
		}
		if t.NotBefore == "" {
			errs = append(errs, fmt.Errorf("%s.not_before: required", at))
		}
	}
	if len(c.Bundles.Trust) > 0 && c.Bundles.DecryptionKey == "" {
		errs = append(errs, errors.New("bundles.decryption_key: required when consulates are trusted"))
	}
	return errs
}

func (c *Config) validateXRoad() []error {
	x := c.XRoad
	if x.SecurityServerURL == "" {
		return nil
	}
	var errs []error
	if x.SecurityServerCN == "" || x.Client == "" || x.ERRPService == "" {
		errs = append(errs, errors.New("xroad: security_server_cn, client and errp_service are required with security_server_url"))
	}
	if a, ok := c.Agency(x.ERRPAgency); !ok {
		errs = append(errs, fmt.Errorf("xroad.errp_agency: %q is not a configured agency", x.ERRPAgency))
	} else if a.EnvelopeKeyFile != "" || a.EnvelopeKey != nil {
		errs = append(errs, fmt.Errorf("xroad.errp_agency: %s has an envelope_key, but X-Road delivers records as the register reads them; seal nothing to it", a.ID))
	}
	for i, m := range x.Members {
		if _, ok := c.Agency(m.Agency); !ok {
			errs = append(errs, fmt.Errorf("xroad.members[%d].agency: %q is not a configured agency", i, m.Agency))
		}
	}
	return errs
}

// ParseTime reads a date (YYYY-MM-DD, midnight UTC) or an RFC 3339 time.
func ParseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Parse(time.RFC3339, s)
}

// Connector returns the connector with the given name.
func (c *Config) Connector(name string) (*Connector, bool) {
	for i := range c.Connectors {
		if c.Connectors[i].Name == name {
			return &c.Connectors[i], true
		}
	}
	return nil, false
}

// loadTokenKeys reads the agencies' token encryption and envelope keys.
func (c *Config) loadTokenKeys() error {
	var errs []error
	for i := range c.Agencies {
		a := &c.Agencies[i]
		if a.EnvelopeKeyFile != "" {
			if b, err := os.ReadFile(a.EnvelopeKeyFile); err != nil {
				errs = append(errs, fmt.Errorf("agencies[%d] (%s).envelope_key: %w", i, a.ID, err))
			} else if a.EnvelopeKey, err = envelope.ParsePublicKey(b); err != nil {
				errs = append(errs, fmt.Errorf("agencies[%d] (%s).envelope_key: %w", i, a.ID, err))
			}
		}
		if a.TokenEncryptionKey == "" {
			continue
		}
		k, err := readP256PublicKey(a.TokenEncryptionKey)
		if err != nil {
			errs = append(errs, fmt.Errorf("agencies[%d] (%s).token_encryption_key: %w", i, a.ID, err))
			continue
		}
		a.TokenKey = k
	}
	return errors.Join(errs...)
}

func readP256PublicKey(path string) (*ecdsa.PublicKey, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	block, _ := pem.Decode(raw)
	if block == nil {
		return nil, errors.New("no PEM block")
	}
	pub, err := x509.ParsePKIXPublicKey(block.Bytes)
	if err != nil {
		return nil, err
	}
	k, ok := pub.(*ecdsa.PublicKey)
	if !ok || k.Curve != elliptic.P256() {
		return nil, errors.New("not a P-256 public key")
	}
	return k, nil
}

// Agency returns the agency with the given id.
func (c *Config) Agency(id string) (*Agency, bool) {
	for i := range c.Agencies {
		if c.Agencies[i].ID == id {
			return &c.Agencies[i], true
		}
	}
	return nil, false
}

// Purpose returns the purpose with the given id.
func (c *Config) Purpose(id string) (*Purpose, bool) {
	for i := range c.Purposes {
		if c.Purposes[i].ID == id {
			return &c.Purposes[i], true
		}
	}
	return nil, false
}

// Domains lists every pseudonym domain the keys must hold: the internal one,
// the look-up one and one per agency.
func (c *Config) Domains() []string {
	d := []string{InternalDomain, LookupDomain}
	for _, a := range c.Agencies {
		d = append(d, a.Domain)
	}
	return d
}
