package auditweb_test

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

// chromium finds Debian's chromium; .ci/run installs it and sets
// TUMAR_REQUIRE_CHROMIUM so that CI cannot skip this test.
func chromium(t *testing.T) string {
	t.Helper()
	path, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("TUMAR_REQUIRE_CHROMIUM") != "" {
			t.Fatal("chromium is required (TUMAR_REQUIRE_CHROMIUM) but not installed")
		}
		t.Skip("chromium is not installed: skipped the browser test of the audit pages (apt-get install chromium, or run .ci/run)")
	}
	return path
}

// proxyAs serves the gateway over plain HTTP on loopback, presenting an
// agency's or an auditor's client certificate: the browser needs no
// certificate store.
func proxyAs(t *testing.T, g *gatewaytest.Gateway, who string) string {
	t.Helper()
	tc, err := g.Env.ClientTLS("ngo-sezim")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(g.Env.Dir+"/"+who+".pem", g.Env.Dir+"/"+who+"-key.pem")
	if err != nil {
		t.Fatal(err)
	}
	tc.Certificates = []tls.Certificate{cert}
	target, _ := url.Parse(g.Base)
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.Transport = &http.Transport{TLSClientConfig: tc}
	srv := httptest.NewServer(rp)
	t.Cleanup(srv.Close)
	return srv.URL
}

const canaryRecord = `{"prs_FirstName": "Зумрудбүбү", "prs_SecondName": "Канарейкова", "prs_Birthdate": "1987-03-14",
 "prs_IdentityNumber": "AN 9182736", "prs_MobilePhone": "+996 555 987 654", "cco_CaseComment": "Канарейка says hello", "cas_Status": "Active"}`

var canaries = []string{"Зумрудбүбү", "Канарейкова", "1987-03-14", "9182736", "987 654", "Канарейка"}

func TestAuditPagesInABrowser(t *testing.T) {
	exe := chromium(t)
	g := gatewaytest.Start(t)
	ngo := g.Client(t, "ngo-sezim")
	ctx := context.Background()
	if _, err := ngo.Submit(ctx, &gateway.ExchangeRequest{Destination: "errp", Purpose: "criminal-referral", LegalBasis: "victim-consent", Record: json.RawMessage(canaryRecord)}); err != nil {
		t.Fatal(err)
	}
	ngo.Submit(ctx, &gateway.ExchangeRequest{Destination: "consulate-moscow", Purpose: "criminal-referral", LegalBasis: "victim-consent", Record: json.RawMessage(canaryRecord)})
	officer := proxyAs(t, g, "privacy-officer")
	agency := proxyAs(t, g, "errp")

	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(exe), chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.UserDataDir(t.TempDir()), chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true), chromedp.Flag("no-first-run", true), chromedp.Flag("disable-quic", true))
	actx, cancel := chromedp.NewExecAllocator(ctx, opts...)
	defer cancel()
	bctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	bctx, cancel = context.WithTimeout(bctx, 60*time.Second)
	defer cancel()

	var pages []string
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	get := func(a chromedp.Action[string]) string {
		t.Helper()
		v, err := chromedp.Run(bctx, a)
		must(err)
		return v
	}
	count := func(sel string) int {
		t.Helper()
		n, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.querySelectorAll("`+sel+`").length`))
		must(err)
		return n
	}
	shot := 0
	page := func() {
		pages = append(pages, get(chromedp.OuterHTML(chromedp.CSS("html"))))
		// TUMAR_SCREENSHOTS=DIR keeps a picture of each page, for a person to look at.
		if dir := os.Getenv("TUMAR_SCREENSHOTS"); dir != "" {
			png, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
			must(err)
			shot++
			must(os.WriteFile(fmt.Sprintf("%s/audit-%d.png", dir, shot), png, 0o644))
		}
	}

	// The list, in Russian, with the chain's status.
	must(chromedp.Do(bctx, chromedp.Navigate(officer+"/audit/?lang=ru"), chromedp.WaitVisible(chromedp.ID("decisions"))))
	title, chain, rows := get(chromedp.Title()), get(chromedp.Text(chromedp.ID("chain"))), count("tr.decision")
	page()
	if !strings.Contains(title, "Журнал аудита") || !strings.Contains(chain, "Проверено") || rows != 2 {
		t.Fatalf("list: title %q, chain %q, %d rows", title, chain, rows)
	}
	// Filter the denials, and open the one there is.
	must(chromedp.Do(bctx,
		chromedp.SetValue(chromedp.ID("outcome"), "denied"),
		chromedp.Click(chromedp.ID("filter")),
	))
	// The click starts a navigation; the old list stays visible until the
	// new page replaces it, so wait for the filtered address first.
	// Asking while the page is being replaced can fail ("target navigated");
	// that is the navigation under way, so ask again.
	for deadline := time.Now().Add(10 * time.Second); ; {
		loc, err := chromedp.Run(bctx, chromedp.Location())
		if err == nil && strings.Contains(loc, "outcome=denied") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the filter did not navigate: %s %v", loc, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	must(chromedp.Do(bctx, chromedp.WaitVisible(chromedp.CSS("tr.decision"))))
	if rows = count("tr.decision"); rows != 1 {
		t.Fatalf("filtered: %d rows", rows)
	}
	must(chromedp.Do(bctx, chromedp.Click(chromedp.CSS("tr.decision a")), chromedp.WaitVisible(chromedp.ID("facts"))))
	if outcome := get(chromedp.Text(chromedp.ID("outcome"))); outcome != "denied" {
		t.Fatalf("opened decision: outcome %q", outcome)
	}
	page()
	// The released decision explains every field, in English.
	must(chromedp.Do(bctx, chromedp.Navigate(officer+"/audit/decisions/1?lang=en"), chromedp.WaitVisible(chromedp.ID("fields"))))
	fieldRows, fields := count("tr.field"), get(chromedp.Text(chromedp.ID("fields")))
	page()
	if fieldRows != 7 || !strings.Contains(fields, "replaced by a pseudonym in the recipient's own domain") || !strings.Contains(fields, "criminal-referral/kind/free_text") {
		t.Fatalf("decision fields (%d):\n%s", fieldRows, fields)
	}
	// Kyrgyz, a malformed filter, and a non-auditor.
	must(chromedp.Do(bctx, chromedp.Navigate(officer+"/audit/?lang=ky&from=yesterday"), chromedp.WaitVisible(chromedp.ID("error"))))
	msg := get(chromedp.Text(chromedp.ID("error")))
	page()
	if !strings.Contains(msg, "Чыпка туура эмес") || !strings.Contains(msg, "from") {
		t.Fatalf("a malformed filter: %q", msg)
	}
	must(chromedp.Do(bctx, chromedp.Navigate(agency+"/audit/?lang=en"), chromedp.WaitVisible(chromedp.ID("message"))))
	if msg = get(chromedp.Text(chromedp.ID("message"))); !strings.Contains(msg, "Only privacy officers") {
		t.Fatalf("a non-auditor saw %q", msg)
	}
	for i, p := range pages {
		for _, c := range canaries {
			if strings.Contains(p, c) {
				t.Fatalf("page %d shows the identity %q", i, c)
			}
		}
	}
}
