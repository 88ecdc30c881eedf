package config

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tumarproject/tumar/crypto/envelope"
)

const good = `
listen: 127.0.0.1:8443
tls: {ca: ca.pem, cert: gw.pem, key: gw-key.pem}
store: {type: sqlite, path: tumar.db}
keys: {type: file, path: keyring.json, passphrase_env: TUMAR_KEYRING_PASSPHRASE}
agencies:
  - {id: ngo-a, name: NGO A, type: NGO, domain: ngo-a, auth: {mtls_common_name: ngo-a.test}}
  - {id: errp, name: Register, type: LawEnforcement, domain: errp, auth: {mtls_common_name: errp.test}}
purposes:
  - {id: criminal-referral, legal_bases: [victim-consent]}
`

func write(t *testing.T, body string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "tumar.yaml")
	if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadGood(t *testing.T) {
	p := write(t, good)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if c.Store.Path != filepath.Join(filepath.Dir(p), "tumar.db") || c.MaxBodyBytes != 1<<20 {
		t.Fatalf("paths not resolved or defaults not applied: %+v", c)
	}
	if d := c.Domains(); len(d) != 4 || d[0] != InternalDomain || d[1] != LookupDomain {
		t.Fatalf("domains %v", d)
	}
}

func TestValidateReportsEveryProblem(t *testing.T) {
	bad := strings.NewReplacer(
		"type: NGO", "type: Charity",
		"domain: errp", "domain: ngo-a",
		"mtls_common_name: errp.test", "mtls_common_name: ngo-a.test",
		"passphrase_env: TUMAR_KEYRING_PASSPHRASE", "passphrase_env: ''",
		"type: sqlite", "type: mongodb",
	).Replace(good)
	_, err := Load(write(t, bad))
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{
		`agencies[0] (ngo-a).type: "Charity" is not an HTCDS organisation type`,
		"agencies[1] (errp).domain: shared with another agency",
		"agencies[1] (errp).auth.mtls_common_name: used by two agencies",
		"keys: set passphrase_env or passphrase_file",
		`store.type: "mongodb" is not a store type`,
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in:\n%v", want, err)
		}
	}
}

func TestUnknownSettingIsAnError(t *testing.T) {
	_, err := Load(write(t, good+"colour: blue\n"))
	if err == nil || !strings.Contains(err.Error(), "colour") {
		t.Fatalf("an unknown setting was accepted: %v", err)
	}
}

func TestGatewayDomainsAreReserved(t *testing.T) {
	for _, d := range []string{InternalDomain, LookupDomain} {
		_, err := Load(write(t, strings.Replace(good, "domain: errp", "domain: "+d, 1)))
		if err == nil || !strings.Contains(err.Error(), "agencies[1] (errp).domain: "+d+" is one of the gateway's own domains") {
			t.Fatalf("%s: got %v", d, err)
		}
	}
}

func TestEnvelopeKeys(t *testing.T) {
	k, err := envelope.GenerateKey(envelope.XWing)
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := json.Marshal(&k.Public)
	p := write(t, strings.Replace(good, "domain: ngo-a,", "domain: ngo-a, envelope_key: ngo-a-envelope.pub.json,", 1))
	os.WriteFile(filepath.Join(filepath.Dir(p), "ngo-a-envelope.pub.json"), pub, 0o644)
	c, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if a, _ := c.Agency("ngo-a"); a.EnvelopeKey == nil || a.EnvelopeKey.ID != k.Public.ID {
		t.Fatal("the envelope key was not loaded")
	}

	os.WriteFile(filepath.Join(filepath.Dir(p), "ngo-a-envelope.pub.json"), []byte(`{"suite":"rsa"}`), 0o644)
	if _, err := Load(p); err == nil || !strings.Contains(err.Error(), "agencies[0] (ngo-a).envelope_key") {
		t.Fatalf("a bad envelope key: %v", err)
	}
}

// The register is reached through X-Road, which needs the record to deliver
// it: an envelope key for it is a configuration error.
func TestNoEnvelopeForTheXRoadRegister(t *testing.T) {
	c, err := Load(write(t, good))
	if err != nil {
		t.Fatal(err)
	}
	c.XRoad = XRoad{SecurityServerURL: "https://ss.test", SecurityServerCN: "ss.test", Client: "KG/GOV/1/tumar", ERRPService: "KG/GOV/2/errp/referrals", ERRPAgency: "errp"}
	for i := range c.Agencies {
		if c.Agencies[i].ID == "errp" {
			c.Agencies[i].EnvelopeKeyFile = "errp-envelope.pub.json"
		}
	}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "xroad.errp_agency: errp has an envelope_key") {
		t.Fatalf("err = %v", err)
	}
}
