package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"database/sql"
	"encoding/json"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tumarproject/tumar/crypto/keys/vaulttest"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/config"
)

func tumar(t testing.TB, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	err := run(context.Background(), slog.New(slog.DiscardHandler), args, &out)
	return out.String(), err
}

// addSezimConnector configures the connector sezim-csv (cases.csv through
// mapping.yaml, ngo-sezim to errp) in the configuration file cfg.
func addSezimConnector(cfg string) {
	raw, _ := os.ReadFile(cfg)
	var doc map[string]any
	yaml.Unmarshal(raw, &doc)
	doc["connectors"] = []map[string]any{{"name": "sezim-csv", "type": "csv", "agency": "ngo-sezim", "path": "cases.csv", "mapping": "mapping.yaml",
		"destination": "errp", "purpose": "criminal-referral", "legal_basis": "victim-consent"}}
	b, _ := yaml.Marshal(doc)
	os.WriteFile(cfg, b, 0o600)
}

func TestPolicyTest(t *testing.T) {
	out, err := tumar(t, "policy", "test")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "PASS tumar.exchange_test.test_criminal_referral_actions") || !strings.Contains(out, " 0 failed") {
		t.Fatalf("unexpected output:\n%s", out)
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "p.rego"), []byte("package tumar.exchange\nimport rego.v1\ndecision := {\"allow\": false}\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "p_test.rego"), []byte("package tumar.exchange_test\nimport rego.v1\nimport data.tumar.exchange\ntest_allows if exchange.decision.allow\n"), 0o600)
	out, err = tumar(t, "policy", "test", "--dir", dir)
	if err == nil || !strings.Contains(out, "FAIL tumar.exchange_test.test_allows") {
		t.Fatalf("a failing policy test passed: %v\n%s", err, out)
	}
}

func TestDevInitKeysAndServe(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	port := freePort(t)
	if out, err := tumar(t, "dev", "init", "--dir", dir, "--listen", "127.0.0.1:"+port); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "config.yaml")
	out, err := tumar(t, "keys", "list", "--config", cfg)
	if err != nil || !strings.Contains(out, "errp\tv1") || !strings.Contains(out, "tumar.internal\tv1") {
		t.Fatalf("keys list: %v\n%s", err, out)
	}
	if strings.Contains(out, "key\"") {
		t.Fatal("keys list printed key material")
	}
	if out, err := tumar(t, "keys", "rotate", "--config", cfg, "--domain", "errp"); err != nil || !strings.Contains(out, "epoch v2") {
		t.Fatalf("rotate: %v\n%s", err, out)
	}
	if out, err := tumar(t, "keys", "add-domain", "--config", cfg, "shelter-osh"); err != nil {
		t.Fatalf("add-domain: %v\n%s", err, out)
	}
	out, _ = tumar(t, "keys", "list", "--config", cfg)
	if !strings.Contains(out, "errp\tv2") || !strings.Contains(out, "shelter-osh\tv1") {
		t.Fatalf("after rotate and add-domain:\n%s", out)
	}
	if _, err := tumar(t, "keys", "init", "--config", cfg); err == nil {
		t.Fatal("keys init overwrote an existing keyring")
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, slog.New(slog.DiscardHandler), []string{"serve", "--config", cfg}, &bytes.Buffer{})
	}()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	}()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: 2 * time.Second}
	for i := 0; ; i++ {
		resp, err := hc.Get("https://127.0.0.1:" + port + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode != 200 {
				t.Fatalf("/readyz = %d", resp.StatusCode)
			}
			break
		}
		if i > 100 {
			t.Fatalf("serve did not come up: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}

	// A connector beside the server: in process it is refused (one process
	// releases at a time on SQLite); through the server's API, as its
	// agency, it runs, and its quarantine stays in the local store.
	os.WriteFile(filepath.Join(dir, "cases.csv"), []byte("Номер дела;Имя;Фамилия;Дата рождения\n"+
		"SZ-1;Айгүл;Токтосунова;14.03.1996\nSZ-2;Канарейка;Канарейкова;31.02.1989\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "mapping.yaml"), []byte("source_id: \"Номер дела\"\ncolumns:\n  \"Имя\": prs_FirstName\n  \"Фамилия\": prs_SecondName\n  \"Дата рождения\": prs_Birthdate\n"), 0o600)
	addSezimConnector(cfg)
	if out, err := tumar(t, "connector", "run", "sezim-csv", "--config", cfg); err == nil || !strings.Contains(err.Error(), "one process at a time") {
		t.Fatalf("an in-process connector beside the server: %v\n%s", err, out)
	}
	remote := []string{"connector", "run", "sezim-csv", "--config", cfg, "--gateway", "https://127.0.0.1:" + port, "--ca", filepath.Join(dir, "ca.pem")}
	if out, err := tumar(t, append(remote, "--cert", filepath.Join(dir, "errp.pem"), "--key", filepath.Join(dir, "errp-key.pem"))...); err == nil ||
		!strings.Contains(err.Error(), "not the certificate of ngo-sezim") {
		t.Fatalf("another agency's certificate: %v\n%s", err, out)
	}
	remote = append(remote, "--cert", filepath.Join(dir, "ngo-sezim.pem"), "--key", filepath.Join(dir, "ngo-sezim-key.pem"))
	if out, err := tumar(t, remote...); err != nil || !strings.Contains(out, "read 2, released 1, already released 0, quarantined 1") {
		t.Fatalf("a connector through the server: %v\n%s", err, out)
	}
	if out, err := tumar(t, remote...); err != nil || !strings.Contains(out, "already released 1") {
		t.Fatalf("the same rows again through the server: %v\n%s", err, out)
	}
	if out, _ := tumar(t, "connector", "quarantine", "list", "--config", cfg); !strings.Contains(out, "line 3") || strings.Contains(out, "Канарейка") {
		t.Fatalf("the quarantine beside the server:\n%s", out)
	}
}

func TestDemoCommand(t *testing.T) {
	out, err := tumar(t, "demo")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if !strings.Contains(out, "the chain verifies") {
		t.Fatalf("demo output:\n%s", out)
	}
}

func TestUnknownCommand(t *testing.T) {
	if _, err := tumar(t, "frobnicate"); err == nil || !strings.Contains(err.Error(), "unknown command") {
		t.Fatalf("got %v", err)
	}
}

func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	return port
}

func TestPseudonymizeCommand(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	if out, err := tumar(t, "dev", "init", "--dir", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	in := filepath.Join(t.TempDir(), "ids.jsonl")
	os.WriteFile(in, []byte(`{"first": "Айгүл", "last": "Токтосунова", "birthdate": "14.03.1996"}
{"first": "?!"}
{"first": "AIGUL", "last": "TOKTOSUNOVA", "birthdate": "1996-03-14", "phone": "+996 555 410 732"}
`), 0o600)
	out, err := tumar(t, "pseudonymize", "--config", filepath.Join(dir, "config.yaml"), "--domain", "errp", "--in", in)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], `{"keys":["errp:v1:`) || !strings.HasPrefix(lines[1], `{"error":"line 2: `) {
		t.Fatalf("output:\n%s", out)
	}
	first := lines[0][len(`{"keys":["`):strings.Index(lines[0], `"]`)]
	if !strings.Contains(lines[2], first) {
		t.Fatalf("the Latin spelling did not get the Cyrillic spelling's pseudonym:\n%s", out)
	}
	if strings.Contains(out, "Токтосунова") || strings.Contains(out, "TOKTOSUNOVA") {
		t.Fatal("an identity reached the output")
	}
}

func TestLinkEvalCommand(t *testing.T) {
	pairs := filepath.Join("..", "..", "crypto", "identity", "testdata", "pairs.tsv")
	out, err := tumar(t, "link-eval", "--pairs", pairs)
	if err != nil || !strings.Contains(out, "all but typo") {
		t.Fatalf("%v\n%s", err, out)
	}
	out, err = tumar(t, "link-eval", "--pairs", pairs, "--json")
	if err != nil {
		t.Fatal(err)
	}
	var rep struct {
		SameTotal      int `json:"same_total"`
		DifferentTotal int `json:"different_total"`
		ByKind         map[string]struct {
			SameLinked int `json:"same_linked"`
		} `json:"by_kind"`
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil || rep.SameTotal == 0 || rep.DifferentTotal == 0 || len(rep.ByKind) == 0 {
		t.Fatalf("json report %s: %v", out, err)
	}
	bad := filepath.Join(t.TempDir(), "bad.tsv")
	os.WriteFile(bad, []byte("pair_id\tlabel\tkind\ta_first\ta_last\ta_birthdate\tb_first\tb_last\tb_birthdate\nX1\tsame\n"), 0o600)
	if _, err := tumar(t, "link-eval", "--pairs", bad); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("a malformed pair file gave %v", err)
	}
}

func TestVaultCommands(t *testing.T) {
	srv := vaulttest.New(t)
	dir := filepath.Join(t.TempDir(), "dev")
	if out, err := tumar(t, "dev", "init", "--dir", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cfg := filepath.Join(dir, "config.yaml")
	raw, _ := os.ReadFile(cfg)
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	doc["keys"] = map[string]any{"type": "vault", "vault": map[string]any{"address": srv.URL, "max_retries": 0,
		"auth": map[string]any{"method": "token", "token_env": "TUMAR_TEST_GATEWAY_TOKEN"}}}
	out, _ := yaml.Marshal(doc)
	os.WriteFile(cfg, out, 0o600)
	t.Setenv("VAULT_TOKEN", srv.RootToken)
	t.Setenv("TUMAR_TEST_GATEWAY_TOKEN", srv.RootToken)

	got, err := tumar(t, "vault", "setup", "--config", cfg)
	if err != nil || !strings.Contains(got, "mounted the transit engine") || !strings.Contains(got, "created 9 keys") {
		t.Fatalf("vault setup: %v\n%s", err, got)
	}
	if got, err = tumar(t, "keys", "rotate", "--config", cfg, "--domain", "errp", "--vault-token-env", "VAULT_TOKEN"); err != nil || !strings.Contains(got, "epoch v2") {
		t.Fatalf("rotate: %v\n%s", err, got)
	}
	if got, err = tumar(t, "keys", "rotate", "--config", cfg, "--signing-key", "tokens"); err != nil || !strings.Contains(got, "tokens-v2") {
		t.Fatalf("rotate signing key: %v\n%s", err, got)
	}
	if got, err = tumar(t, "keys", "list", "--config", cfg); err != nil || !strings.Contains(got, "errp\tv2") || !strings.Contains(got, "consulate-moscow\tv1") {
		t.Fatalf("list: %v\n%s", err, got)
	}
	if got, _ = tumar(t, "vault", "policy"); strings.Contains(got, `path "sys/`) {
		t.Fatalf("the gateway policy grants sys/:\n%s", got)
	}
}

func TestTokenCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	port := freePort(t)
	if out, err := tumar(t, "dev", "init", "--dir", dir, "--listen", "127.0.0.1:"+port); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, slog.New(slog.DiscardHandler), []string{"serve", "--config", filepath.Join(dir, "config.yaml")}, &bytes.Buffer{})
	}()
	defer func() { cancel(); <-done }()
	as := func(agency string) []string {
		return []string{"--gateway", "https://127.0.0.1:" + port, "--ca", filepath.Join(dir, "ca.pem"),
			"--cert", filepath.Join(dir, agency+".pem"), "--key", filepath.Join(dir, agency+"-key.pem")}
	}
	identity := `{"prs_FirstName": "Айгүл", "prs_SecondName": "Токтосунова", "prs_Birthdate": "1996-03-14"}`
	decision := strings.Replace(identity, "}", `, "vic_TraffickingStatus": "ActualVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "CourtOrProsecution"}`, 1)
	var out string
	var err error
	for i := 0; i < 100; i++ {
		out, err = tumar(t, append([]string{"status", "record", "--record", decision, "--decision-date", "2026-11-20"}, as("ngo-sezim")...)...)
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || !strings.Contains(out, `"status_id"`) {
		t.Fatalf("status record: %v\n%s", err, out)
	}
	out, err = tumar(t, append([]string{"token", "issue", "--record", identity, "--audience", "health-bishkek", "--purpose", "support-services"}, as("ngo-sezim")...)...)
	if err != nil {
		t.Fatalf("issue: %v\n%s", err, out)
	}
	var issued struct{ Token, JTI string }
	json.Unmarshal([]byte(out), &issued)

	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	resp, err := hc.Get("https://127.0.0.1:" + port + "/.well-known/jwks.json")
	if err != nil {
		t.Fatal(err)
	}
	jwks := filepath.Join(t.TempDir(), "jwks.json")
	var buf bytes.Buffer
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	os.WriteFile(jwks, buf.Bytes(), 0o600)

	out, err = tumar(t, "token", "verify", "--jwks", jwks, issued.Token)
	if err != nil || !strings.Contains(out, `"status": "ActualVictimOfTrafficking"`) || strings.Contains(out, "Айгүл") {
		t.Fatalf("offline verify: %v\n%s", err, out)
	}
	parts := strings.Split(issued.Token, ".")
	tampered := parts[0] + "." + parts[1][:len(parts[1])-3] + "AAA." + parts[2]
	if _, err := tumar(t, "token", "verify", "--jwks", jwks, tampered); err == nil || !strings.Contains(err.Error(), "invalid token") {
		t.Fatalf("a tampered token: %v", err)
	}
	if _, err := tumar(t, "token", "verify", "--jwks", jwks, "--audience", "errp", issued.Token); err == nil || !strings.Contains(err.Error(), "addressed to another agency") {
		t.Fatalf("wrong audience: %v", err)
	}
	out, err = tumar(t, append([]string{"token", "redeem", issued.Token}, as("health-bishkek")...)...)
	if err != nil || !strings.Contains(out, `"subject": "health-bishkek:v1:`) {
		t.Fatalf("redeem: %v\n%s", err, out)
	}
	if _, err := tumar(t, append([]string{"token", "redeem", issued.Token}, as("health-bishkek")...)...); err == nil || !strings.Contains(err.Error(), "409") {
		t.Fatalf("second redemption: %v", err)
	}
	out, _ = tumar(t, append([]string{"token", "issue", "--record", identity, "--audience", "health-bishkek", "--purpose", "support-services", "--encrypt"}, as("ngo-sezim")...)...)
	json.Unmarshal([]byte(out), &issued)
	if out, err := tumar(t, "token", "verify", "--jwks", jwks, "--decrypt-key", filepath.Join(dir, "health-bishkek-token-enc-key.pem"), issued.Token); err != nil {
		t.Fatalf("verify an encrypted token: %v\n%s", err, out)
	}
	if _, err := tumar(t, append([]string{"token", "revoke", issued.JTI}, as("ngo-sezim")...)...); err != nil {
		t.Fatalf("revoke: %v", err)
	}
	if _, err := tumar(t, append([]string{"token", "redeem", "--decrypt-key", filepath.Join(dir, "health-bishkek-token-enc-key.pem"), issued.Token}, as("health-bishkek")...)...); err == nil || !strings.Contains(err.Error(), "revoked") {
		t.Fatalf("redeem a revoked token: %v", err)
	}

	// The consulate asks blind, with the passport spelling, and gets a token of its own.
	passport := `{"prs_FirstName": "AIGUL", "prs_SecondName": "TOKTOSUNOVA", "prs_Birthdate": "1996-03-14"}`
	resp, err = hc.Get("https://127.0.0.1:" + port + "/.well-known/oprf-keys.json")
	if err != nil {
		t.Fatal(err)
	}
	pinned := filepath.Join(t.TempDir(), "oprf-keys.json")
	buf.Reset()
	buf.ReadFrom(resp.Body)
	resp.Body.Close()
	os.WriteFile(pinned, buf.Bytes(), 0o600)
	out, err = tumar(t, append([]string{"status", "lookup", "--blind", "--oprf-keys", pinned, "--record", passport, "--purpose", "consular-assistance"}, as("consulate-moscow")...)...)
	if err != nil || !strings.Contains(out, `"found": true`) || !strings.Contains(out, `"status": "ActualVictimOfTrafficking"`) {
		t.Fatalf("blind look-up: %v\n%s", err, out)
	}
	var found struct{ Token struct{ Token string } }
	json.Unmarshal([]byte(out), &found)
	if out, err := tumar(t, append([]string{"token", "redeem", found.Token.Token}, as("consulate-moscow")...)...); err != nil || !strings.Contains(out, `"subject": "consulate-moscow:v1:`) {
		t.Fatalf("redeem the look-up's token: %v\n%s", err, out)
	}
	stranger := `{"prs_FirstName": "Нурбек", "prs_SecondName": "Асаналиев", "prs_Birthdate": "1989-11-02"}`
	if out, err := tumar(t, append([]string{"status", "lookup", "--blind", "--record", stranger, "--purpose", "consular-assistance"}, as("consulate-moscow")...)...); err != nil || !strings.Contains(out, `"found": false`) {
		t.Fatalf("blind look-up of a person without a status: %v\n%s", err, out)
	}
	if _, err := tumar(t, append([]string{"status", "lookup", "--record", passport, "--purpose", "consular-assistance"}, as("consulate-moscow")...)...); err == nil || !strings.Contains(err.Error(), "--blind") {
		t.Fatalf("a look-up without --blind: %v", err)
	}
}

func TestConnectorCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	if out, err := tumar(t, "dev", "init", "--dir", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	csvPath := filepath.Join(dir, "cases.csv")
	os.WriteFile(csvPath, []byte("Номер дела;Имя;Фамилия;Дата рождения;Пол;Любимый цвет\n"+
		"SZ-1;Айгүл;Токтосунова;14.03.1996;ж;синий\n"+
		"SZ-2;Нурбек;Асаналиев;02.11.1989;мужской;серый\n"), 0o600)
	out, err := tumar(t, "connector", "map", "--suggest", csvPath)
	if err != nil || !strings.Contains(out, `"Фамилия": prs_SecondName`) || !strings.Contains(out, `- "Любимый цвет"`) {
		t.Fatalf("suggest: %v\n%s", err, out)
	}
	mappingPath := filepath.Join(dir, "mapping.yaml")
	writeMapping := func(extra string) {
		os.WriteFile(mappingPath, []byte(`source_id: "Номер дела"
columns:
  "Имя": prs_FirstName
  "Фамилия": prs_SecondName
  "Дата рождения": prs_Birthdate
  "Пол": {field: prs_Gender, values: {ж: Feminine`+extra+`}}
ignore: ["Любимый цвет"]
`), 0o600)
	}
	writeMapping("")
	cfg := filepath.Join(dir, "config.yaml")
	addSezimConnector(cfg)

	metrics := filepath.Join(t.TempDir(), "run.prom")
	out, err = tumar(t, "connector", "run", "sezim-csv", "--config", cfg, "--metrics-textfile", metrics)
	if err != nil || !strings.Contains(out, "read 2, released 1, already released 0, quarantined 1") {
		t.Fatalf("run: %v\n%s", err, out)
	}
	m, _ := os.ReadFile(metrics)
	if !strings.Contains(string(m), `tumar_connector_rejected_total{connector="sezim-csv",reason="mapping"} 1`) {
		t.Fatalf("metrics:\n%s", m)
	}
	out, _ = tumar(t, "connector", "quarantine", "list", "--config", cfg)
	if !strings.Contains(out, "line 3") || !strings.Contains(out, "1 quarantined") || strings.Contains(out, "Нурбек") {
		t.Fatalf("list:\n%s", out)
	}
	id := strings.Fields(out)[0]
	if _, err := tumar(t, "connector", "quarantine", "retry", id, "--config", cfg); err == nil || !strings.Contains(err.Error(), "still cannot be read") {
		t.Fatalf("retry before the fix: %v", err)
	}
	writeMapping(", мужской: Masculine")
	if out, err := tumar(t, "connector", "quarantine", "retry", id, "--config", cfg); err != nil || !strings.Contains(out, "released as exchange") {
		t.Fatalf("retry after the fix: %v\n%s", err, out)
	}
	out, _ = tumar(t, "connector", "quarantine", "list", "--config", cfg)
	if !strings.Contains(out, "0 quarantined") {
		t.Fatalf("after retry:\n%s", out)
	}
	out, err = tumar(t, "connector", "run", "sezim-csv", "--config", cfg)
	if err != nil || !strings.Contains(out, "already released 2") {
		t.Fatalf("a second run: %v\n%s", err, out)
	}
}

func TestConsularCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	port := freePort(t)
	if out, err := tumar(t, "dev", "init", "--dir", dir, "--listen", "127.0.0.1:"+port); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	cases := filepath.Join(dir, "cases.jsonl")
	os.WriteFile(cases, []byte(`{"source_record_id": "MSK-1", "destination": "ngo-sezim", "purpose": "support-services", "legal_basis": "victim-consent", "record": {"prs_FirstName": "AIGUL", "prs_SecondName": "TOKTOSUNOVA", "prs_Birthdate": "1996-03-14", "cas_Status": "Active"}}
{"source_record_id": "MSK-2", "destination": "ngo-sezim", "purpose": "support-services", "legal_basis": "victim-consent", "record": {"prs_FirstName": "NURBEK", "prs_SecondName": "ASANALIEV", "prs_Birthdate": "1989-11-02", "cas_Status": "Active"}}
`), 0o600)
	bundle := filepath.Join(dir, "b1.tumar")
	out, err := tumar(t, "consular", "pack", "--in", cases, "--out", bundle, "--key", filepath.Join(dir, "consulate-moscow-sign-key.pem"),
		"--key-id", "consulate-moscow-1", "--consulate", "consulate-moscow", "--gateway-key", filepath.Join(dir, "bundle.pub.pem"), "--sequence", "1")
	if err != nil || !strings.Contains(out, "packed 2 records") {
		t.Fatalf("pack: %v\n%s", err, out)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, slog.New(slog.DiscardHandler), []string{"serve", "--config", filepath.Join(dir, "config.yaml")}, &bytes.Buffer{})
	}()
	defer func() { cancel(); <-done }()
	as := func(agency string) []string {
		return []string{"--gateway", "https://127.0.0.1:" + port, "--ca", filepath.Join(dir, "ca.pem"),
			"--cert", filepath.Join(dir, agency+".pem"), "--key", filepath.Join(dir, agency+"-key.pem")}
	}
	for i := 0; i < 100; i++ {
		out, err = tumar(t, append([]string{"consular", "push", bundle}, as("consulate-moscow")...)...)
		if err == nil || !strings.Contains(err.Error(), "connection refused") {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil || !strings.Contains(out, `"released": 2`) {
		t.Fatalf("push: %v\n%s", err, out)
	}
	out, err = tumar(t, append([]string{"consular", "push", bundle}, as("consulate-moscow")...)...)
	if err != nil || !strings.Contains(out, `"already_imported": true`) {
		t.Fatalf("push again: %v\n%s", err, out)
	}
	// Another agency cannot push the consulate's bundle.
	if _, err := tumar(t, append([]string{"consular", "push", bundle}, as("ngo-sezim")...)...); err == nil || !strings.Contains(err.Error(), "bundle_refused") {
		t.Fatalf("a bundle pushed by another agency: %v", err)
	}
	raw, _ := os.ReadFile(bundle)
	raw[len(raw)/2] ^= 0x01
	os.WriteFile(bundle, raw, 0o600)
	if _, err := tumar(t, append([]string{"consular", "push", bundle}, as("consulate-moscow")...)...); err == nil || !strings.Contains(err.Error(), "422") {
		t.Fatalf("a tampered bundle: %v", err)
	}
}

func TestAuditCommands(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "dev")
	if out, err := tumar(t, "dev", "init", "--dir", dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	os.WriteFile(filepath.Join(dir, "cases.csv"), []byte("Номер дела;Имя;Фамилия;Дата рождения;Статус\n"+
		"SZ-1;Айгүл;Токтосунова;14.03.1996;Active\nSZ-2;Нурбек;Асаналиев;02.11.1989;Active\nSZ-3;Бермет;Жумабек кызы;21.07.2004;Closed\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "mapping.yaml"), []byte("source_id: \"Номер дела\"\ncolumns:\n  \"Имя\": prs_FirstName\n  \"Фамилия\": prs_SecondName\n  \"Дата рождения\": prs_Birthdate\n  \"Статус\": cas_Status\n"), 0o600)
	cfg := filepath.Join(dir, "config.yaml")
	addSezimConnector(cfg)
	if out, err := tumar(t, "connector", "run", "sezim-csv", "--config", cfg); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	// The audit commands run beside the gateway, which holds the store's
	// links index; a second releasing process is refused, and says why.
	c, err := config.Load(cfg)
	if err != nil {
		t.Fatal(err)
	}
	app, err := gateway.Open(context.Background(), c, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	if out, err := tumar(t, "connector", "run", "sezim-csv", "--config", cfg); err == nil || !strings.Contains(err.Error(), "one process at a time") {
		t.Fatalf("a connector run beside the gateway: %v\n%s", err, out)
	}
	if out, err := tumar(t, "audit", "checkpoint", "--config", cfg); err != nil || !strings.Contains(out, "up to entry 3") {
		t.Fatalf("checkpoint: %v\n%s", err, out)
	}
	out, err := tumar(t, "audit", "verify", "--config", cfg)
	if err != nil || !strings.Contains(out, "OK: 3 entries") {
		t.Fatalf("verify: %v\n%s", err, out)
	}
	out, err = tumar(t, "audit", "search", "--config", cfg, "--field", "prs_FirstName", "--agency", "errp", "--format", "csv")
	if err != nil || strings.Count(out, "prs_FirstName,pseudonymise") != 3 || !strings.HasPrefix(out, "seq,time,event") {
		t.Fatalf("search csv: %v\n%s", err, out)
	}
	out, _ = tumar(t, "audit", "search", "--config", cfg, "--format", "opa", "--limit", "1")
	if !strings.Contains(out, `"path":"tumar/exchange/decision"`) || !strings.Contains(out, `"bundles":{"tumar":{"revision":`) {
		t.Fatalf("opa export:\n%s", out)
	}
	if _, err := tumar(t, "audit", "search", "--config", cfg, "--from", "yesterday", "--outcome", "maybe", "--field", "prs_Shoe"); err == nil ||
		!strings.Contains(err.Error(), "--from") || !strings.Contains(err.Error(), "--outcome") || !strings.Contains(err.Error(), "--field") {
		t.Fatalf("a malformed filter: %v", err)
	}
	out, err = tumar(t, "audit", "report", "--subject", "--config", cfg, "--first", "AIGUL", "--last", "TOKTOSUNOVA", "--birthdate", "14.03.1996")
	if err != nil || !strings.Contains(out, "errp") || !strings.Contains(out, "prs_FirstName (pseudonymise") || strings.Count(out, "\n") != 2 {
		t.Fatalf("report: %v\n%s", err, out)
	}
	if strings.Contains(out, "AIGUL") || strings.Contains(out, "Айгүл") {
		t.Fatal("the report repeats the identity")
	}
	app.Close()
	db, _ := sql.Open("sqlite", "file:"+filepath.Join(dir, "tumar.db"))
	db.Exec(`UPDATE audit SET entry = replace(entry, '"purpose":"criminal-referral"', '"purpose":"support-services"') WHERE seq = 2`)
	db.Close()
	out, err = tumar(t, "audit", "verify", "--config", cfg)
	if err == nil || !strings.Contains(out, "BROKEN at entry 2") {
		t.Fatalf("a tampered log verified: %v\n%s", err, out)
	}
}
