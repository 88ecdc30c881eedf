package gateway_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/tumarproject/tumar/crypto/devca"
	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/client"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

const referral = `{
 "prs_FirstName": "Жылдыз", "prs_SecondName": "Асанбекова", "prs_Birthdate": "1990-05-12",
 "prs_Gender": "Feminine", "prs_Citizenship": ["KG"], "prs_IdentityNumber": "ID 1234567",
 "prs_MobilePhone": "0555 123 456", "vic_TraffickingStatus": "PossibleVictimOfTrafficking",
 "vic_AgeWhenTrafficked": 23, "vic_MethodsOfControl": ["DebtBondage"], "cas_Status": "Active",
 "cco_CaseComment": "She asked us not to call her brother."}`

func submit(t *testing.T, c *client.Client, dest, purpose, basis, record string) *gateway.Receipt {
	t.Helper()
	r, err := c.Submit(context.Background(), &gateway.ExchangeRequest{Destination: dest, Purpose: purpose, LegalBasis: basis, Record: json.RawMessage(record)})
	if err != nil {
		t.Fatalf("submit to %s: %v", dest, err)
	}
	return r
}

// pull collects an agency's inbox, acknowledges it, and returns what it got.
func pull(t *testing.T, c *client.Client) []gateway.Released {
	t.Helper()
	ctx := context.Background()
	msgs, err := c.Inbox(ctx, 1000)
	if err != nil {
		t.Fatal(err)
	}
	out := make([]gateway.Released, len(msgs))
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		if err := json.Unmarshal(m.Released, &out[i]); err != nil {
			t.Fatal(err)
		}
		ids[i] = m.ID
	}
	if len(ids) > 0 {
		if n, err := c.Ack(ctx, ids); err != nil || n != len(ids) {
			t.Fatalf("ack %d of %d: %v", n, len(ids), err)
		}
	}
	return out
}

func fieldsOf(t *testing.T, r gateway.Released) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.Record, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestReferralTravelsTheWholePath(t *testing.T) {
	g := gatewaytest.Start(t)
	ngo, errp := g.Client(t, "ngo-sezim"), g.Client(t, "errp")
	receipt := submit(t, ngo, "errp", "criminal-referral", "victim-consent", referral)
	if receipt.Outcome != audit.Released || receipt.Rule != "criminal-referral" {
		t.Fatalf("receipt %+v", receipt)
	}
	got := pull(t, errp)
	if len(got) != 1 {
		t.Fatalf("errp received %d records", len(got))
	}
	rel := got[0]
	if rel.Source != "ngo-sezim" || rel.ExchangeID != receipt.ExchangeID || rel.PolicyRevision == "" {
		t.Fatalf("released envelope %+v", rel)
	}
	f := fieldsOf(t, rel)
	for name, want := range map[string]string{"prs_Birthdate": "1990", "vic_AgeWhenTrafficked": "18-24", "cas_Status": "Active", "vic_TraffickingStatus": "PossibleVictimOfTrafficking"} {
		if f[name] != want {
			t.Errorf("%s = %v, want %q", name, f[name], want)
		}
	}
	for _, name := range []string{"prs_FirstName", "prs_SecondName", "prs_IdentityNumber", "prs_MobilePhone"} {
		p, _ := f[name].(string)
		if _, err := keys.ParsePseudonym(p); err != nil || !strings.HasPrefix(p, "errp:v1:") {
			t.Errorf("%s = %q, want an errp pseudonym", name, p)
		}
	}
	for _, name := range []string{"cco_CaseComment", "prs_Gender"} {
		if _, ok := f[name]; ok {
			t.Errorf("%s was released; the policy redacts it", name)
		}
	}
	actions := map[string]string{}
	for _, fa := range rel.Fields {
		actions[fa.Field] = fa.Action + " " + fa.Rule
	}
	if actions["cco_CaseComment"] != "redact criminal-referral/kind/free_text" || len(rel.Fields) != 12 {
		t.Errorf("field actions %v", actions)
	}
	if rel.Subject == nil || len(rel.Subject.Keys) != 3 {
		t.Fatalf("subject keys %+v, want name+birth date, document and phone", rel.Subject)
	}
	if again := pull(t, errp); len(again) != 0 {
		t.Fatalf("acknowledged records served again: %d", len(again))
	}
	log, err := g.App.Store.AuditLog(context.Background(), 0, 100)
	if err != nil || len(log) != 1 || audit.Verify(nil, log) != nil {
		t.Fatalf("audit log %d entries, %v", len(log), err)
	}
	if e := log[0]; e.DecisionID != receipt.DecisionID || !strings.HasPrefix(e.Subject, "tumar.internal:v1:") || len(e.Fields) != 12 {
		t.Fatalf("audit entry %+v", e)
	}
}

func TestPseudonymDomains(t *testing.T) {
	g := gatewaytest.Start(t)
	ngo := g.Client(t, "ngo-sezim")
	submit(t, ngo, "errp", "criminal-referral", "victim-consent", referral)
	submit(t, ngo, "errp", "criminal-referral", "victim-consent", referral)
	submit(t, ngo, "consulate-moscow", "consular-assistance", "victim-consent", referral)
	errp := pull(t, g.Client(t, "errp"))
	cons := pull(t, g.Client(t, "consulate-moscow"))
	if len(errp) != 2 || len(cons) != 1 {
		t.Fatalf("errp got %d, consulate got %d", len(errp), len(cons))
	}
	if errp[0].Subject.Keys[0] != errp[1].Subject.Keys[0] || fieldsOf(t, errp[0])["prs_FirstName"] != fieldsOf(t, errp[1])["prs_FirstName"] {
		t.Fatal("the same recipient got two pseudonyms for the same person")
	}
	a, _ := keys.ParsePseudonym(errp[0].Subject.Keys[0])
	b, _ := keys.ParsePseudonym(cons[0].Subject.Keys[0])
	if a.MAC == b.MAC || a.Domain == b.Domain {
		t.Fatal("two recipients got joinable pseudonyms for the same person")
	}
	errpAll := strings.Join(errp[0].Subject.Keys, " ")
	for _, k := range cons[0].Subject.Keys {
		p, _ := keys.ParsePseudonym(k)
		for _, q := range errp[0].Subject.Keys {
			pq, _ := keys.ParsePseudonym(q)
			if p.MAC == pq.MAC {
				t.Fatalf("a consulate key %s equals an errp key among %s", k, errpAll)
			}
		}
	}
}

func TestKeyRotationChangesEpochKeepsOldReproducible(t *testing.T) {
	g := gatewaytest.Start(t)
	ngo := g.Client(t, "ngo-sezim")
	submit(t, ngo, "errp", "criminal-referral", "victim-consent", referral)
	before := pull(t, g.Client(t, "errp"))[0]
	rot, ok := g.App.Keys.(keys.Rotator)
	if !ok {
		t.Fatal("the file keyring must rotate")
	}
	if _, err := rot.Rotate(context.Background(), "errp"); err != nil {
		t.Fatal(err)
	}
	submit(t, ngo, "errp", "criminal-referral", "victim-consent", referral)
	after := pull(t, g.Client(t, "errp"))[0]
	old, _ := keys.ParsePseudonym(before.Subject.Keys[0])
	cur, _ := keys.ParsePseudonym(after.Subject.Keys[0])
	if old.Epoch != 1 || cur.Epoch != 2 || old.MAC == cur.MAC {
		t.Fatalf("epochs %d -> %d", old.Epoch, cur.Epoch)
	}
	// The gateway can still tell that the v1 pseudonym is the same person.
	// matchInput is what the gateway HMACs for the name+birth-date key.
	again, err := g.App.Keys.PseudonymizeAt(context.Background(), "errp", 1, [][]byte{matchInput(t, referral)})
	if err != nil || again[0] != old {
		t.Fatalf("the epoch-1 pseudonym is not reproducible after rotation: %v", err)
	}
}

func TestMutualTLSIdentity(t *testing.T) {
	g := gatewaytest.Start(t)
	body := `{"destination":"errp","purpose":"criminal-referral","legal_basis":"victim-consent","record":` + referral + `}`

	t.Run("no client certificate", func(t *testing.T) {
		tc, _ := g.Env.ClientTLS("ngo-sezim")
		tc.Certificates = nil
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		status, _ := post(t, hc, g.Base+"/v1/exchanges", body)
		if status != http.StatusUnauthorized {
			t.Fatalf("status %d, want 401", status)
		}
	})
	t.Run("certificate from another CA", func(t *testing.T) {
		ca, _ := devca.New("someone else's CA")
		certPEM, keyPEM, _ := ca.Issue("ngo-sezim.agency.tumar.test", false)
		cert, _ := tls.X509KeyPair(certPEM, keyPEM)
		tc, _ := g.Env.ClientTLS("ngo-sezim")
		tc.Certificates = nil
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
		hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
		// The server must refuse the handshake or, at the least, not authenticate.
		resp, err := hc.Post(g.Base+"/v1/exchanges", "application/json", strings.NewReader(body))
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != http.StatusUnauthorized {
				t.Fatalf("a certificate from a foreign CA got %d", resp.StatusCode)
			}
		}
	})
	t.Run("source comes from the certificate, not the body", func(t *testing.T) {
		forged := `{"source":"errp","destination":"errp","purpose":"criminal-referral","legal_basis":"victim-consent","record":` + referral + `}`
		status, resp := post(t, g.HTTP(t, "consulate-moscow"), g.Base+"/v1/exchanges", forged)
		if status != http.StatusBadRequest || !strings.Contains(resp, "malformed_json") {
			t.Fatalf("a body naming its own source got %d %s", status, resp)
		}
		submit(t, g.Client(t, "consulate-moscow"), "errp", "criminal-referral", "victim-consent", referral)
		got := pull(t, g.Client(t, "errp"))
		if len(got) != 1 || got[0].Source != "consulate-moscow" {
			t.Fatalf("released as %q, want the certificate's agency", got[0].Source)
		}
	})
	t.Run("one agency cannot read another's inbox", func(t *testing.T) {
		submit(t, g.Client(t, "ngo-sezim"), "errp", "criminal-referral", "victim-consent", referral)
		if got := pull(t, g.Client(t, "consulate-moscow")); len(got) != 0 {
			t.Fatalf("the consulate read %d records addressed to errp", len(got))
		}
		if got := pull(t, g.Client(t, "errp")); len(got) != 1 {
			t.Fatalf("errp got %d", len(got))
		}
	})
}

func post(t *testing.T, hc *http.Client, url, body string) (int, string) {
	t.Helper()
	resp, err := hc.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestBadInput(t *testing.T) {
	g := gatewaytest.Start(t)
	hc := g.HTTP(t, "ngo-sezim")
	const canary = "Канарейка-Q7Z"
	wrap := func(dest, purpose, basis, record string) string {
		return `{"destination":"` + dest + `","purpose":"` + purpose + `","legal_basis":"` + basis + `","record":` + record + `}`
	}
	for _, tc := range []struct {
		name, body string
		status     int
		code       string
	}{
		{"malformed JSON", `{"destination": "errp", "record": {"prs_FirstName": "` + canary, 400, "malformed_json"},
		{"unknown destination", wrap("nobody", "criminal-referral", "victim-consent", referral), 400, "unknown_destination"},
		{"unknown purpose", wrap("errp", "gossip", "victim-consent", referral), 400, "unknown_purpose"},
		{"legal basis not of the purpose", wrap("errp", "criminal-referral", "court-order", referral), 400, "unknown_legal_basis"},
		{"field outside HTCDS", wrap("errp", "criminal-referral", "victim-consent", `{"prs_FirstName": "`+canary+`", "prs_FavouriteColour": "`+canary+`"}`), 422, "invalid_record"},
		{"picklist", wrap("errp", "criminal-referral", "victim-consent", `{"prs_Gender": "`+canary+`"}`), 422, "invalid_record"},
		{"impossible date", wrap("errp", "criminal-referral", "victim-consent", `{"prs_FirstName": "`+canary+`", "prs_Birthdate": "1990-02-31"}`), 422, "invalid_record"},
		{"invalid UTF-8", wrap("errp", "criminal-referral", "victim-consent", "{\"prs_FirstName\": \""+canary+"\xff\"}"), 400, "invalid_utf8"},
		{"body over the limit", wrap("errp", "criminal-referral", "victim-consent", `{"cco_CaseComment": "`+strings.Repeat(canary, 100000)+`"}`), 413, "body_too_large"},
		{"empty record", wrap("errp", "criminal-referral", "victim-consent", `{}`), 422, "invalid_record"},
		{"punctuation-only name to pseudonymise", wrap("errp", "criminal-referral", "victim-consent", `{"prs_FirstName": "?!."}`), 422, "cannot_pseudonymise"},
		{"denied by policy", wrap("consulate-moscow", "criminal-referral", "victim-consent", `{"prs_FirstName": "`+canary+`"}`), 403, "denied"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body := post(t, hc, g.Base+"/v1/exchanges", tc.body)
			if status != tc.status {
				t.Fatalf("status %d, want %d: %s", status, tc.status, body)
			}
			var e struct {
				Error client.APIError `json:"error"`
			}
			if err := json.Unmarshal([]byte(body), &e); err != nil || e.Error.Code != tc.code || e.Error.Message == "" {
				t.Fatalf("error body %s, want code %s", body, tc.code)
			}
			if strings.Contains(body, "Канарейка") || strings.Contains(body, "Q7Z") {
				t.Fatalf("the error echoes the input: %s", body)
			}
		})
	}
	if got := pull(t, g.Client(t, "errp")); len(got) != 0 {
		t.Fatalf("bad input released %d records", len(got))
	}
	log, _ := g.App.Store.AuditLog(context.Background(), 0, 100)
	if len(log) != 1 || log[0].Outcome != audit.Denied {
		t.Fatalf("want exactly the policy denial in the audit log, got %d entries", len(log))
	}
	if strings.Contains(g.Log.String(), "Канарейка") {
		t.Fatal("a canary reached the log")
	}
}

func TestStoreFailureReleasesNothing(t *testing.T) {
	g := gatewaytest.Start(t)
	g.App.Store.Close()
	hc := g.HTTP(t, "ngo-sezim")
	resp, err := hc.Post(g.Base+"/v1/exchanges", "application/json",
		bytes.NewReader([]byte(`{"destination":"errp","purpose":"criminal-referral","legal_basis":"victim-consent","record":`+referral+`}`)))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("status %d, want 503 with Retry-After", resp.StatusCode)
	}
	if status, _ := g.Get(t, "errp", "/readyz"); status != http.StatusServiceUnavailable {
		t.Fatalf("/readyz = %d with the store closed", status)
	}
}

func TestHealthAndMetrics(t *testing.T) {
	g := gatewaytest.Start(t)
	submit(t, g.Client(t, "ngo-sezim"), "errp", "criminal-referral", "victim-consent", referral)
	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready", "/metrics": `tumar_exchanges_total{destination="errp",outcome="released",source="ngo-sezim"} 1`} {
		status, body := g.Get(t, "errp", path)
		if status != 200 || !strings.Contains(body, want) {
			t.Errorf("%s: %d, missing %q", path, status, want)
		}
	}
}

// matchInput reproduces the gateway's name+birth-date pseudonym input for a record.
func matchInput(t *testing.T, record string) []byte {
	t.Helper()
	in, err := gateway.MatchInputs(json.RawMessage(record))
	if err != nil || len(in) == 0 {
		t.Fatalf("no match inputs: %v", err)
	}
	return in[0]
}

func TestMetricsNeedACertificate(t *testing.T) {
	g := gatewaytest.Start(t)
	tc, _ := g.Env.ClientTLS("errp")
	tc.Certificates = nil
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	resp, err := hc.Get(g.Base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("/metrics without a certificate: %d", resp.StatusCode)
	}
	resp, err = hc.Get(g.Base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("/healthz must stay open for load balancers: %v", err)
	}
	resp.Body.Close()
}
