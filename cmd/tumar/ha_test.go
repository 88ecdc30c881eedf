package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/tumarproject/tumar/connectors/errp"
	"github.com/tumarproject/tumar/connectors/errp/errptest"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/client"
	"github.com/tumarproject/tumar/gateway/store/storetest"
)

// TestMain lets the test binary act as the tumar binary, so that the tests
// can start real gateway processes.
func TestMain(m *testing.M) {
	if os.Getenv("TUMAR_TEST_AS_BINARY") == "1" {
		os.Exit(mainCode(os.Args[1:]))
	}
	os.Exit(m.Run())
}

// cluster is two gateway processes on one PostgreSQL.
type cluster struct {
	dir   string
	cfg   string
	ports []string
	env   []string
	procs []*exec.Cmd
}

func startCluster(t testing.TB, replicas int) *cluster {
	t.Helper()
	dsn := storetest.PostgresDSN(t)
	t.Setenv("TUMAR_HA_DSN", dsn)
	c := &cluster{dir: filepath.Join(t.TempDir(), "dev"), env: append(os.Environ(), "TUMAR_TEST_AS_BINARY=1", "TUMAR_HA_DSN="+dsn)}
	if out, err := tumar(t, "dev", "init", "--dir", c.dir); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c.cfg = filepath.Join(c.dir, "config.yaml")
	edit(t, c.cfg, func(doc map[string]any) {
		doc["store"] = map[string]any{"type": "postgres", "dsn_env": "TUMAR_HA_DSN"}
	})
	for i := range replicas {
		port := freePort(t)
		cfg := filepath.Join(c.dir, fmt.Sprintf("replica-%d.yaml", i))
		raw, _ := os.ReadFile(c.cfg)
		os.WriteFile(cfg, bytes.Replace(raw, []byte("listen: 127.0.0.1:8443"), []byte("listen: 127.0.0.1:"+port), 1), 0o600)
		cmd := exec.Command(os.Args[0], "serve", "--config", cfg)
		cmd.Env = c.env
		var logs bytes.Buffer
		cmd.Stderr = &logs
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			cmd.Process.Signal(os.Interrupt)
			cmd.Wait()
			if t.Failed() {
				t.Logf("replica %d log:\n%s", i, logs.String())
			}
		})
		c.ports, c.procs = append(c.ports, port), append(c.procs, cmd)
	}
	for _, port := range c.ports {
		waitReady(t, port)
	}
	return c
}

func edit(t testing.TB, path string, f func(map[string]any)) {
	t.Helper()
	raw, _ := os.ReadFile(path)
	var doc map[string]any
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	f(doc)
	b, _ := yaml.Marshal(doc)
	os.WriteFile(path, b, 0o600)
}

func waitReady(t testing.TB, port string) {
	t.Helper()
	hc := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}, Timeout: time.Second}
	for i := 0; ; i++ {
		resp, err := hc.Get("https://127.0.0.1:" + port + "/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		if i > 200 {
			t.Fatalf("replica on %s never became ready: %v", port, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// client is an agency's API client for one replica.
func (c *cluster) client(t testing.TB, agency string, replica int) *client.Client {
	t.Helper()
	cert, err := tls.LoadX509KeyPair(filepath.Join(c.dir, agency+".pem"), filepath.Join(c.dir, agency+"-key.pem"))
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(filepath.Join(c.dir, "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	hc := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64,
		TLSClientConfig: &tls.Config{Certificates: []tls.Certificate{cert}, RootCAs: pool, MinVersion: tls.VersionTLS13}}}
	return client.New("https://127.0.0.1:"+c.ports[replica], hc)
}

const haReferral = `{"prs_FirstName": "Айгүл", "prs_SecondName": "Токтосунова", "prs_Birthdate": "1996-03-14", "vic_TypeOfExploitation": ["ForcedLabour"], "cas_Status": "Active"}`

func TestTwoReplicasOnePostgres(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	c := startCluster(t, 2)
	ctx := context.Background()

	// A token redeemed on both replicas at once is accepted exactly once.
	ngo := c.client(t, "ngo-sezim", 0)
	decision := strings.Replace(haReferral, `"cas_Status": "Active"`, `"vic_TraffickingStatus": "ActualVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "NGO"`, 1)
	if _, err := ngo.RecordStatus(ctx, json.RawMessage(decision), "2026-11-01"); err != nil {
		t.Fatal(err)
	}
	tok, err := ngo.IssueToken(ctx, json.RawMessage(haReferral), gateway.IssueRequest{Audience: "health-bishkek", Purpose: "support-services"})
	if err != nil {
		t.Fatal(err)
	}
	var (
		wg           sync.WaitGroup
		mu           sync.Mutex
		ok, conflict int
	)
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.client(t, "health-bishkek", i%2).Redeem(ctx, tok.Token, "")
			var ae *client.APIError
			mu.Lock()
			defer mu.Unlock()
			switch {
			case err == nil:
				ok++
			case errors.As(err, &ae) && ae.Status == http.StatusConflict:
				conflict++
			default:
				t.Errorf("redeem: %v", err)
			}
		}()
	}
	wg.Wait()
	if ok != 1 || conflict != 15 {
		t.Fatalf("%d redemptions succeeded and %d were refused as replays; want 1 and 15", ok, conflict)
	}

	// Referrals through both replicas make one verifiable audit chain.
	for i := range 40 {
		if _, err := c.client(t, "ngo-sezim", i%2).Submit(ctx, &gateway.ExchangeRequest{Destination: "errp", Purpose: "criminal-referral",
			LegalBasis: "victim-consent", SourceRecordID: fmt.Sprintf("HA-%d", i), Record: json.RawMessage(haReferral)}); err != nil {
			t.Fatal(err)
		}
	}
	out, err := tumar(t, "audit", "verify", "--config", c.cfg)
	if err != nil || !strings.Contains(out, "OK: ") {
		t.Fatalf("the replicas' audit chain: %v\n%s", err, out)
	}
}

func TestDeliveryAcrossProcessesSurvivesAKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts gateway processes")
	}
	c := startCluster(t, 1)
	ctx := context.Background()
	svc, _ := errp.ParseServiceID("KG/GOV/70000001/errp/crime-reports")
	ss, _ := tls.LoadX509KeyPair(filepath.Join(c.dir, "security-server.pem"), filepath.Join(c.dir, "security-server-key.pem"))
	ca, _ := os.ReadFile(filepath.Join(c.dir, "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	reg := errptest.Start(t, svc, &tls.Config{Certificates: []tls.Certificate{ss}, RootCAs: pool})
	edit(t, c.cfg, func(doc map[string]any) {
		doc["xroad"] = map[string]any{"security_server_url": reg.URL, "security_server_cn": "ss.tunduk.test", "client": "KG/GOV/70000002/tumar",
			"errp_service": svc.String(), "errp_agency": "errp", "members": []map[string]string{{"client": "KG/GOV/70000001/errp", "agency": "errp"}}}
	})
	const n = 60
	for i := range n {
		if _, err := c.client(t, "ngo-sezim", 0).Submit(ctx, &gateway.ExchangeRequest{Destination: "errp", Purpose: "criminal-referral",
			LegalBasis: "victim-consent", SourceRecordID: fmt.Sprintf("D-%d", i), Record: json.RawMessage(haReferral)}); err != nil {
			t.Fatal(err)
		}
	}
	deliver := func(lease string) *exec.Cmd {
		cmd := exec.Command(os.Args[0], "xroad", "deliver", "--config", c.cfg, "--lease", lease, "--max", "1000")
		cmd.Env = c.env
		return cmd
	}
	// One deliverer is killed mid-batch; another delivers at the same time.
	reg.SetDelay(20 * time.Millisecond)
	victim := deliver("1s")
	if err := victim.Start(); err != nil {
		t.Fatal(err)
	}
	for len(reg.Received()) < 5 {
		time.Sleep(10 * time.Millisecond)
	}
	victim.Process.Kill()
	victim.Wait()
	if out, err := deliver("1s").CombinedOutput(); err != nil {
		t.Fatalf("the second deliverer: %v\n%s", err, out)
	}
	// The victim's claims run out; a last run takes what it held.
	time.Sleep(1100 * time.Millisecond)
	if out, err := deliver("1s").CombinedOutput(); err != nil {
		t.Fatalf("the last deliverer: %v\n%s", err, out)
	}
	got := reg.Received()
	twice := 0
	for id, times := range got {
		if times > 1 {
			twice++
			t.Logf("report %s arrived %d times", id, times)
		}
	}
	if len(got) != n || twice > 1 {
		t.Fatalf("%d of %d records delivered, %d more than once (at most the one in flight at the kill may be)", len(got), n, twice)
	}
}
