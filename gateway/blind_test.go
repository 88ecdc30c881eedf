package gateway_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/crypto/oprf"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/client"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

// wiretap keeps every request body a client sends.
type wiretap struct {
	next http.RoundTripper
	mu   sync.Mutex
	sent bytes.Buffer
}

func (w *wiretap) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			return nil, err
		}
		w.mu.Lock()
		w.sent.Write(b)
		w.mu.Unlock()
		r.Body = io.NopCloser(bytes.NewReader(b))
	}
	return w.next.RoundTrip(r)
}

func tappedClient(t *testing.T, g *gatewaytest.Gateway, agency string) (*client.Client, *wiretap) {
	hc := g.HTTP(t, agency)
	tap := &wiretap{next: hc.Transport}
	hc.Transport = tap
	return client.New(g.Base, hc), tap
}

func TestBlindLookupFindsTheStatusWithoutTheIdentity(t *testing.T) {
	g := gatewaytest.Start(t)
	ctx := context.Background()
	ngo := g.Client(t, "ngo-sezim")
	if _, err := ngo.RecordStatus(ctx, json.RawMessage(aigul), "2026-11-01"); err != nil {
		t.Fatal(err)
	}
	consulate, tap := tappedClient(t, g, "consulate-moscow")
	// The consulate holds the passport spelling; the NGO recorded the Cyrillic one.
	res, err := consulate.BlindLookup(ctx, json.RawMessage(aigulID), client.LookupOptions{Purpose: "consular-assistance"})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Found || res.Status != "PossibleVictimOfTrafficking" || res.DecisionOrg != "NGO" || res.Token == nil {
		t.Fatalf("look-up answered %+v", res)
	}
	red, err := consulate.Redeem(ctx, res.Token.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(red.Subject, "consulate-moscow:v1:") || red.Purpose != "consular-assistance" {
		t.Fatalf("redeemed %+v", red)
	}
	none, err := consulate.BlindLookup(ctx, json.RawMessage(nurbekID), client.LookupOptions{Purpose: "consular-assistance"})
	if err != nil || none.Found || none.Token != nil {
		t.Fatalf("a person without a status: %+v %v", none, err)
	}
	// Neither the identity nor its normalised match keys ever left the consulate.
	sent := tap.sent.String()
	for _, canary := range []string{"Aigul", "AIGUL", "aigul", "Toktosunova", "toktosunova", "1996-03-14", "Нурбек", "nurbek", "1989-11-02"} {
		if strings.Contains(sent, canary) {
			t.Fatalf("the consulate sent %q to the gateway", canary)
		}
	}
	// Every evaluation and look-up is audited; no entry names the person's identity.
	log, err := g.App.Store.AuditLog(ctx, 0, 100)
	if err != nil {
		t.Fatal(err)
	}
	var events []string
	for _, e := range log {
		events = append(events, e.Event+":"+string(e.Outcome))
		if e.Event == "oprf_evaluate" && (e.Details["domain"] != config.LookupDomain || e.Details["elements"] != "1" || e.Source != "consulate-moscow") {
			t.Errorf("evaluation entry %+v", e)
		}
	}
	want := "status:recorded oprf_evaluate:evaluated status_lookup:issued token_redeem:redeemed oprf_evaluate:evaluated status_lookup:not_found"
	if got := strings.Join(events, " "); got != want {
		t.Fatalf("audit events\n got %s\nwant %s", got, want)
	}
	if log[2].Subject == "" || log[2].Subject != log[0].Subject {
		t.Fatal("the found look-up is not audited against the person")
	}
	if log[5].Subject != "" {
		t.Fatal("a look-up that found no one names a person")
	}
	raw, _ := json.Marshal(log)
	for _, canary := range []string{"Aigul", "Айгүл", "1996-03-14", "Нурбек"} {
		if strings.Contains(string(raw)+g.Log.String(), canary) {
			t.Fatalf("%q is in the audit log or the gateway's log", canary)
		}
	}
	_, metrics := g.Get(t, "errp", "/metrics")
	for _, m := range []string{`tumar_blind_elements_total{agency="consulate-moscow",outcome="evaluated"} 2`, `tumar_blind_lookups_total{agency="consulate-moscow",found="true"} 1`} {
		if !strings.Contains(metrics, m) {
			t.Errorf("metrics lack %s", m)
		}
	}
}

func TestBlindPseudonymsAreTheGatewaysOwn(t *testing.T) {
	g := gatewaytest.Start(t)
	ctx := context.Background()
	ngo := g.Client(t, "ngo-sezim")
	doc, err := ngo.OPRFKeys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var own gateway.OPRFKey
	for _, k := range doc.Keys {
		if k.Domain == "tumar.internal" {
			t.Fatal("the internal domain's OPRF key is published")
		}
		if k.Domain == "ngo-sezim" {
			own = k
		}
	}
	inputs, err := gateway.MatchInputs(json.RawMessage(aigulID))
	if err != nil {
		t.Fatal(err)
	}
	got, err := ngo.BlindPseudonyms(ctx, own, inputs)
	if err != nil {
		t.Fatal(err)
	}
	key, err := oprf.NewKeyring(g.App.Keys, 0).Key(ctx, "ngo-sezim", own.Epoch)
	if err != nil {
		t.Fatal(err)
	}
	for i, in := range inputs {
		want, _ := key.Pseudonym(in)
		if got[i] != want {
			t.Fatalf("input %d: blind %s, full evaluation %s", i, got[i], want)
		}
	}
	// Another agency's domain is not evaluated for the NGO.
	other := own
	other.Domain = "errp"
	for _, k := range doc.Keys {
		if k.Domain == "errp" {
			other = k
		}
	}
	_, err = ngo.BlindPseudonyms(ctx, other, inputs)
	apiErr(t, err, http.StatusForbidden, "denied")
}

// respell writes the same 32 bytes another way: the last of the 43
// characters carries 4 bits of data and 2 unused bits.
func respell(s string) string {
	const alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
	last := strings.IndexByte(alphabet, s[len(s)-1])
	return s[:len(s)-1] + string(alphabet[last^1])
}

// evaluate posts a raw evaluation request.
func evaluate(t *testing.T, hc *http.Client, base, body string) (int, string, http.Header) {
	t.Helper()
	resp, err := hc.Post(base+"/v1/oprf/evaluate", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func blinded(t *testing.T, n int) []string {
	t.Helper()
	k, err := oprf.DeriveKey(make([]byte, 32), "x", 1)
	if err != nil {
		t.Fatal(err)
	}
	c, err := oprf.NewClient("x", 1, k.PublicKey())
	if err != nil {
		t.Fatal(err)
	}
	in := make([][]byte, n)
	for i := range in {
		in[i] = []byte{byte(i)}
	}
	b, err := c.Blind(in)
	if err != nil {
		t.Fatal(err)
	}
	return b.Elements
}

func evalBody(domain string, elements ...string) string {
	b, _ := json.Marshal(gateway.EvaluateRequest{Suite: oprf.SuiteID, Domain: domain, Elements: elements})
	return string(b)
}

func TestBadEvaluationRequestsAreRefusedByName(t *testing.T) {
	g := gatewaytest.Start(t)
	hc := g.HTTP(t, "ngo-sezim")
	els := blinded(t, 2)
	b64 := func(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
	tests := []struct {
		name   string
		body   string
		status int
		code   string
	}{
		{"wrong suite", `{"suite":"P256-SHA256","domain":"tumar.lookup","elements":["` + els[0] + `"]}`, 400, "unsupported_suite"},
		{"no domain", evalBody("", els[0]), 400, "missing_field"},
		{"no elements", evalBody("tumar.lookup"), 400, "invalid_batch"},
		{"repeated element", evalBody("tumar.lookup", els[0], els[0]), 400, "invalid_batch"},
		{"not base64url", evalBody("tumar.lookup", strings.Repeat("!", 43)), 400, "invalid_element"},
		{"not on the group", evalBody("tumar.lookup", b64(bytes.Repeat([]byte{0xff}, 32))), 400, "invalid_element"},
		{"identity element", evalBody("tumar.lookup", b64(make([]byte, 32))), 400, "identity_element"},
		{"oversized batch", evalBody("tumar.lookup", append(blinded(t, oprf.MaxBatch), els[0])...), 400, "invalid_batch"},
		{"unknown member", `{"suite":"ristretto255-SHA512","domain":"tumar.lookup","elements":["` + els[0] + `"],"name":"x"}`, 400, "malformed_json"},
		{"internal domain", evalBody("tumar.internal", els[0]), 403, "denied"},
		{"another agency's domain", evalBody("errp", els[0]), 403, "denied"},
		{"unknown epoch", `{"suite":"ristretto255-SHA512","domain":"tumar.lookup","epoch":9,"elements":["` + els[0] + `"]}`, 400, "unknown_epoch"},
		{"unknown domain", evalBody("nowhere", els[0]), 400, "unknown_domain"},
		{"not a domain name", evalBody("Aigul Toktosunova", els[0]), 400, "unknown_domain"},
		{"re-spelled element", evalBody("tumar.lookup", els[0], respell(els[0])), 400, "invalid_element"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body, _ := evaluate(t, hc, g.Base, tt.body)
			if status != tt.status || !strings.Contains(body, `"code":"`+tt.code+`"`) {
				t.Fatalf("got %d %s, want %d %s", status, body, tt.status, tt.code)
			}
		})
	}
	// Malformed requests are refused before anything is counted; the two
	// the policy denied are audited as denials, naming the domain asked for.
	log, _ := g.App.Store.AuditLog(context.Background(), 0, 100)
	if len(log) != 2 || log[0].Outcome != audit.Denied || log[0].Details["domain"] != "tumar.internal" || log[1].Details["domain"] != "errp" {
		t.Fatalf("audit entries for refused requests: %+v", log)
	}
	// A replayed request is refused and audited as a possible replay.
	body := evalBody("tumar.lookup", els...)
	if status, b, _ := evaluate(t, hc, g.Base, body); status != 200 {
		t.Fatalf("first evaluation: %d %s", status, b)
	}
	if status, b, _ := evaluate(t, hc, g.Base, body); status != http.StatusConflict || !strings.Contains(b, `"replayed"`) {
		t.Fatalf("replay: %d %s", status, b)
	}
	log, _ = g.App.Store.AuditLog(context.Background(), 0, 100)
	if len(log) != 4 || log[3].Outcome != audit.PossibleReplay {
		t.Fatalf("audit after a replay: %+v", log)
	}
}

func TestBlindEvaluationsAreLimitedPerAgency(t *testing.T) {
	g := gatewaytest.StartWith(t, func(c *config.Config) { c.Blind.Limit = 5 })
	ngo, consulate := g.HTTP(t, "ngo-sezim"), g.HTTP(t, "consulate-moscow")
	if status, b, _ := evaluate(t, ngo, g.Base, evalBody("tumar.lookup", blinded(t, 3)...)); status != 200 {
		t.Fatalf("3 of 5: %d %s", status, b)
	}
	status, b, h := evaluate(t, ngo, g.Base, evalBody("tumar.lookup", blinded(t, 3)...))
	if status != http.StatusTooManyRequests || !strings.Contains(b, `"rate_limited"`) || h.Get("Retry-After") == "" {
		t.Fatalf("6 of 5: %d %s Retry-After %q", status, b, h.Get("Retry-After"))
	}
	// The refusal did not count: two more fit; and another agency has its own limit.
	if status, b, _ := evaluate(t, ngo, g.Base, evalBody("tumar.lookup", blinded(t, 2)...)); status != 200 {
		t.Fatalf("5 of 5: %d %s", status, b)
	}
	if status, b, _ := evaluate(t, consulate, g.Base, evalBody("tumar.lookup", blinded(t, 5)...)); status != 200 {
		t.Fatalf("the consulate's own limit: %d %s", status, b)
	}
	log, _ := g.App.Store.AuditLog(context.Background(), 0, 100)
	if len(log) != 4 || log[1].Outcome != audit.Refused {
		t.Fatalf("audit: %+v", log)
	}
	_, metrics := g.Get(t, "errp", "/metrics")
	if !strings.Contains(metrics, `tumar_blind_elements_total{agency="ngo-sezim",outcome="refused"} 3`) {
		t.Error("the refused elements are not counted in the metrics")
	}
}

func TestBadLookupsAreRefusedByName(t *testing.T) {
	g := gatewaytest.Start(t)
	ctx := context.Background()
	school := g.Client(t, "health-bishkek")
	valid := "tumar.lookup:v1:" + strings.Repeat("A", 43)
	tests := []struct {
		name   string
		req    gateway.LookupRequest
		status int
		code   string
	}{
		{"no pseudonyms", gateway.LookupRequest{Purpose: "support-services"}, 400, "invalid_batch"},
		{"a keyed pseudonym of another domain", gateway.LookupRequest{Pseudonyms: []string{"tumar.internal:v1:" + strings.Repeat("A", 43)}, Purpose: "support-services"}, 400, "invalid_pseudonym"},
		{"not a pseudonym", gateway.LookupRequest{Pseudonyms: []string{"Aigul Toktosunova"}, Purpose: "support-services"}, 400, "invalid_pseudonym"},
		{"unknown purpose", gateway.LookupRequest{Pseudonyms: []string{valid}, Purpose: "curiosity"}, 400, "unknown_purpose"},
		{"a purpose the caller may not send for", gateway.LookupRequest{Pseudonyms: []string{valid}, Purpose: "consular-assistance"}, 403, "denied"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out gateway.LookupResult
			err := school.Do(ctx, http.MethodPost, "/v1/status/lookup", tt.req, &out)
			apiErr(t, err, tt.status, tt.code)
			if strings.Contains(err.Error(), "Aigul") {
				t.Fatal("the error echoes the input")
			}
		})
	}
}

func TestBlindLookupOnVault(t *testing.T) {
	g, srv := startOnVault(t)
	ctx := context.Background()
	if _, err := g.Client(t, "ngo-sezim").RecordStatus(ctx, json.RawMessage(aigul), "2026-11-01"); err != nil {
		t.Fatal(err)
	}
	res, err := g.Client(t, "consulate-moscow").BlindLookup(ctx, json.RawMessage(aigulID), client.LookupOptions{Purpose: "consular-assistance"})
	if err != nil || !res.Found {
		t.Fatalf("look-up on Vault: %+v %v", res, err)
	}
	if srv.Calls("transit/hmac/tumar-pseudonym-tumar.lookup") == 0 {
		t.Fatal("the look-up domain's OPRF seed did not come from Vault transit")
	}
}

func TestBlindLookupOfKeysOfTwoPeopleIsRefused(t *testing.T) {
	g := gatewaytest.Start(t)
	ctx := context.Background()
	ngo := g.Client(t, "ngo-sezim")
	if _, err := ngo.RecordStatus(ctx, json.RawMessage(aigul), "2026-11-01"); err != nil {
		t.Fatal(err)
	}
	nurbek := `{"prs_FirstName": "Нурбек", "prs_SecondName": "Асаналиев", "prs_Birthdate": "1989-11-02", "prs_MobilePhone": "0555 123 456", "vic_TraffickingStatus": "ActualVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "CourtOrProsecution"}`
	if _, err := ngo.RecordStatus(ctx, json.RawMessage(nurbek), "2026-11-02"); err != nil {
		t.Fatal(err)
	}
	// Aigul's name and birth date, with a phone that is Nurbek's (a shared family phone, say).
	mixed := `{"prs_FirstName": "Aigul", "prs_SecondName": "Toktosunova", "prs_Birthdate": "1996-03-14", "prs_MobilePhone": "+996 555 123 456"}`
	_, err := g.Client(t, "consulate-moscow").BlindLookup(ctx, json.RawMessage(mixed), client.LookupOptions{Purpose: "consular-assistance"})
	apiErr(t, err, http.StatusConflict, "ambiguous_person")
	log, _ := g.App.Store.AuditLog(ctx, 0, 100)
	last := log[len(log)-1]
	if last.Event != "status_lookup" || last.Outcome != audit.Refused || last.Subject != "" {
		t.Fatalf("the refusal is audited as %+v", last)
	}
}

func TestBlindLookupAfterARotationTriesEachEpoch(t *testing.T) {
	g := gatewaytest.Start(t)
	ctx := context.Background()
	if _, err := g.Client(t, "ngo-sezim").RecordStatus(ctx, json.RawMessage(aigul), "2026-11-01"); err != nil {
		t.Fatal(err)
	}
	rot, ok := g.App.Keys.(keys.Rotator)
	if !ok {
		t.Fatal("the key backend cannot rotate")
	}
	if _, err := rot.Rotate(ctx, config.LookupDomain); err != nil {
		t.Fatal(err)
	}
	ring := oprf.NewKeyring(g.App.Keys, 0)
	doc := &gateway.OPRFKeys{Suite: oprf.SuiteID, Mode: "verifiable"}
	for _, epoch := range []uint32{2, 1} {
		k, err := ring.Key(ctx, config.LookupDomain, epoch)
		if err != nil {
			t.Fatal(err)
		}
		doc.Keys = append(doc.Keys, gateway.OPRFKey{Domain: config.LookupDomain, Epoch: epoch, PublicKey: k.PublicKey()})
	}
	consulate := g.Client(t, "consulate-moscow")
	res, err := consulate.BlindLookup(ctx, json.RawMessage(aigulID), client.LookupOptions{Purpose: "consular-assistance", Keys: doc})
	if err != nil || !res.Found {
		t.Fatalf("a status recorded under epoch 1, looked up after the rotation: %+v %v", res, err)
	}
	log, _ := g.App.Store.AuditLog(ctx, 0, 100)
	var epochs []string
	for _, e := range log {
		if e.Event == "oprf_evaluate" {
			epochs = append(epochs, e.Details["epoch"])
		}
	}
	if strings.Join(epochs, ",") != "2,1" {
		t.Fatalf("evaluated epochs %v, want the new one first, then the old", epochs)
	}
	// A pinned key the gateway does not use is refused before anything is unblinded.
	other, _ := oprf.DeriveKey(make([]byte, 32), config.LookupDomain, 2)
	pinned := &gateway.OPRFKeys{Suite: oprf.SuiteID, Keys: []gateway.OPRFKey{{Domain: config.LookupDomain, Epoch: 2, PublicKey: other.PublicKey()}}}
	if _, err := consulate.BlindLookup(ctx, json.RawMessage(aigulID), client.LookupOptions{Purpose: "consular-assistance", Keys: pinned}); !errors.Is(err, client.ErrKeyMismatch) {
		t.Fatalf("an answer under an unpinned key: got %v, want ErrKeyMismatch", err)
	}
}
