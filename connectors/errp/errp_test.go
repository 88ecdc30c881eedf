package errp_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/connectors/errp"
	"github.com/tumarproject/tumar/connectors/errp/errptest"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/devenv"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

const (
	gatewayClient = "KG/GOV/70000002/tumar"
	errpClient    = "KG/GOV/70000001/errp"
	errpService   = "KG/GOV/70000001/errp/crime-reports"
)

type world struct {
	g        *gatewaytest.Gateway
	register *errptest.Register
	conn     *errp.Connector
	events   string // the gateway's X-Road events URL
}

func tlsFrom(t *testing.T, dir, cert, key string) *tls.Config {
	t.Helper()
	c, err := tls.LoadX509KeyPair(filepath.Join(dir, cert), filepath.Join(dir, key))
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := os.ReadFile(filepath.Join(dir, "ca.pem"))
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	return &tls.Config{Certificates: []tls.Certificate{c}, RootCAs: pool, MinVersion: tls.VersionTLS13}
}

func setup(t *testing.T) *world {
	t.Helper()
	g := gatewaytest.StartWith(t, func(c *config.Config) {
		c.XRoad = config.XRoad{SecurityServerURL: "set below", SecurityServerCN: devenv.SecurityServerCN, Client: gatewayClient,
			ERRPService: errpService, ERRPAgency: "errp", Members: []config.XRoadMember{{Client: errpClient, Agency: "errp"}}}
	})
	x := g.Env.Config.XRoad
	g.App.MountWith("POST /xroad/v1/case-events", "xroad_case_events", errp.Authenticator(x, g.Env.Config), errp.Events(g.App.Store, g.App.Policy.Revision))
	svc, _ := errp.ParseServiceID(errpService)
	cli, _ := errp.ParseClientID(gatewayClient)
	reg := errptest.Start(t, svc, tlsFrom(t, g.Env.Dir, "security-server.pem", "security-server-key.pem"))
	out := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsFrom(t, g.Env.Dir, "gateway.pem", "gateway-key.pem")}}
	return &world{g: g, register: reg, events: g.Base + "/xroad/v1/case-events",
		conn: &errp.Connector{Register: &errp.Register{SecurityServer: reg.URL, Client: cli, Service: svc, HTTP: out}}}
}

const referral = `{"prs_FirstName": "Айгүл", "prs_SecondName": "Токтосунова", "prs_Birthdate": "1996-03-14", "vic_TypeOfExploitation": ["ForcedLabour"], "cas_Status": "Active"}`

func (w *world) refer(t *testing.T, dest, purpose string) string {
	t.Helper()
	r, err := w.g.Client(t, "ngo-sezim").Submit(context.Background(), &gateway.ExchangeRequest{Destination: dest, Purpose: purpose,
		LegalBasis: "victim-consent", Record: json.RawMessage(referral)})
	if err != nil {
		t.Fatal(err)
	}
	return r.ExchangeID
}

func headers(id string) map[string]string {
	return map[string]string{errp.HeaderClient: errpClient, errp.HeaderID: id, errp.HeaderUserID: "KG123456789", errp.HeaderIssue: "case-171"}
}

func TestReportsGoOutAndEventsComeBack(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	exchangeID := w.refer(t, "errp", "criminal-referral")
	st, err := connectors.Deliver(ctx, w.g.App.Store, "errp", w.conn, 100)
	if err != nil || st.Delivered != 1 {
		t.Fatalf("deliver: %+v %v", st, err)
	}
	reps := w.register.Reports()
	if len(reps) != 1 || reps[0].ReportID != exchangeID || reps[0].Article != "171" || w.register.Clients()[0] != gatewayClient {
		t.Fatalf("the register got %+v", reps)
	}
	if len(reps[0].Subject) == 0 || !strings.HasPrefix(reps[0].Subject[0], "errp:v1:") || strings.Contains(string(reps[0].Record), "Айгүл") {
		t.Fatal("the crime report does not carry the register's pseudonyms only")
	}
	if msgs, _ := w.g.App.Store.Inbox(ctx, "errp", 10); len(msgs) != 0 {
		t.Fatal("a delivered record is still in the outbox")
	}
	events := []errp.Event{
		{EventID: "ev-1", ReportID: exchangeID, RegisterCaseID: "ERRP-2026-000001", Kind: "registered", Article: "171", Date: "2026-11-02"},
		{EventID: "ev-2", ReportID: exchangeID, RegisterCaseID: "ERRP-2026-000001", Kind: "requalified", Article: "127", PreviousArticle: "171", Date: "2026-11-20"},
	}
	for _, ev := range events {
		status, body, err := w.register.SendEvent(ctx, w.events, headers("xr-"+ev.EventID), ev)
		if err != nil || status != http.StatusCreated {
			t.Fatalf("event %s: %d %s %v", ev.EventID, status, body, err)
		}
	}
	if status, _, _ := w.register.SendEvent(ctx, w.events, headers("xr-again"), events[0]); status != http.StatusOK {
		t.Fatalf("the same event again: %d", status)
	}
	log, _ := w.g.App.Store.AuditLog(ctx, 0, 100)
	last := log[len(log)-1]
	if last.Event != "case_event" || last.Subject != log[0].Subject || last.Details["previous_article"] != "171" || last.Details["article"] != "127" ||
		last.Details["xroad_id"] != "xr-ev-2" || last.Details["xroad_user_id"] != "KG123456789" || last.Details["xroad_issue"] != "case-171" {
		t.Fatalf("the re-qualification was not audited with its X-Road ids: %+v", last)
	}
	if audit.Verify(nil, log) != nil {
		t.Fatal("the audit chain does not verify")
	}
	cases, _ := w.g.App.Store.CaseEvents(ctx, log[0].Subject)
	if len(cases) != 2 || cases[1].Kind != "requalified" {
		t.Fatalf("case events %+v", cases)
	}
}

func TestIncomingCallsAreChecked(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	toConsulate := w.refer(t, "consulate-moscow", "consular-assistance")
	toErrp := w.refer(t, "errp", "criminal-referral")
	ev := errp.Event{EventID: "ev-9", ReportID: toErrp, RegisterCaseID: "ERRP-1", Kind: "registered", Article: "171", Date: "2026-11-02"}

	agencyTLS := tlsFrom(t, w.g.Env.Dir, "errp.pem", "errp-key.pem")
	notSS := &errptest.Register{Client: &http.Client{Transport: &http.Transport{TLSClientConfig: agencyTLS}}}
	for _, tc := range []struct {
		name    string
		from    *errptest.Register
		headers map[string]string
		event   any
		status  int
		code    string
	}{
		{"not the security server", notSS, headers("x1"), ev, 401, "not_the_security_server"},
		{"no X-Road-Id", w.register, map[string]string{errp.HeaderClient: errpClient}, ev, 400, "xroad_header"},
		{"malformed client", w.register, map[string]string{errp.HeaderClient: "KG/GOV/errp", errp.HeaderID: "x"}, ev, 400, "xroad_header"},
		{"unknown client", w.register, map[string]string{errp.HeaderClient: "KG/GOV/70000009/other", errp.HeaderID: "x"}, ev, 403, "unknown_xroad_client"},
		{"a referral released elsewhere", w.register, headers("x2"), errp.Event{EventID: "ev-8", ReportID: toConsulate, RegisterCaseID: "ERRP-1", Kind: "registered", Article: "171", Date: "2026-11-02"}, 404, "unknown_report"},
		{"re-qualification without the old article", w.register, headers("x3"), errp.Event{EventID: "ev-7", ReportID: toErrp, RegisterCaseID: "ERRP-1", Kind: "requalified", Article: "127", Date: "2026-11-02"}, 400, "invalid_event"},
		{"not an event", w.register, headers("x4"), map[string]string{"name": "Айгүл"}, 400, "malformed_json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, body, err := tc.from.SendEvent(ctx, w.events, tc.headers, tc.event)
			if err != nil || status != tc.status || !strings.Contains(body, tc.code) {
				t.Fatalf("got %d %s %v, want %d %s", status, body, err, tc.status, tc.code)
			}
			if strings.Contains(body, "Айгүл") {
				t.Fatal("the error echoes the body")
			}
		})
	}
}

func TestDeliveryFailuresKeepTheOutbox(t *testing.T) {
	w := setup(t)
	ctx := context.Background()
	w.refer(t, "errp", "criminal-referral")
	w.register.SetDown(true)
	if _, err := connectors.Deliver(ctx, w.g.App.Store, "errp", w.conn, 10); err == nil {
		t.Fatal("a delivery through a down security server succeeded")
	}
	w.register.SetDown(false)
	w.register.SetBadHash(true)
	if _, err := connectors.Deliver(ctx, w.g.App.Store, "errp", w.conn, 10); !errors.Is(err, errp.ErrRequestHash) {
		t.Fatalf("a wrong request hash: %v", err)
	}
	if msgs, _ := w.g.App.Store.Inbox(ctx, "errp", 10); len(msgs) != 1 {
		t.Fatalf("the outbox lost the record: %d", len(msgs))
	}
	w.register.SetBadHash(false)
	if st, err := connectors.Deliver(ctx, w.g.App.Store, "errp", w.conn, 10); err != nil || st.Delivered != 1 {
		t.Fatalf("after recovery: %+v %v", st, err)
	}
}

func FuzzReadHeaders(f *testing.F) {
	f.Add(errpClient, "id-1", "KG1", "issue")
	f.Add("a/b/c", "", "", "")
	f.Fuzz(func(t *testing.T, client, id, user, issue string) {
		r, _ := http.NewRequest(http.MethodPost, "https://gw/xroad", nil)
		r.Header.Set(errp.HeaderClient, client)
		r.Header.Set(errp.HeaderID, id)
		r.Header.Set(errp.HeaderUserID, user)
		r.Header.Set(errp.HeaderIssue, issue)
		h, err := errp.ReadHeaders(r)
		if err == nil && (h.ID == "" || h.Client.String() != client) {
			t.Fatal("accepted headers that do not round-trip")
		}
	})
}

func FuzzEvent(f *testing.F) {
	f.Add(`{"event_id":"e","report_id":"r","register_case_id":"c","event":"registered","article":"171","date":"2026-11-02"}`)
	f.Fuzz(func(t *testing.T, body string) {
		var ev errp.Event
		if json.Unmarshal([]byte(body), &ev) != nil {
			return
		}
		if ev.Check() == nil && (ev.EventID == "" || ev.Article == "") {
			t.Fatal("an event without id or article passed")
		}
	})
}

// TestExportTable needs PostgreSQL: TUMAR_TEST_POSTGRES_URL (set by .ci/run).
func TestExportTable(t *testing.T) {
	dsn := os.Getenv("TUMAR_TEST_POSTGRES_URL")
	if dsn == "" {
		t.Skip("TUMAR_TEST_POSTGRES_URL is not set: skipped the ERRP export-table test, which needs PostgreSQL")
	}
	ctx := context.Background()
	pool, err := pgxpool.New(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	schema := fmt.Sprintf("errp_test_%d", time.Now().UnixNano())
	if _, err := pool.Exec(ctx, `CREATE SCHEMA `+schema+`; CREATE TABLE `+schema+`.export (event_id text PRIMARY KEY, report_id text NOT NULL,
		register_case_id text NOT NULL, event text NOT NULL, article text NOT NULL, previous_article text, event_date date NOT NULL, updated_at timestamptz NOT NULL)`); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pool.Exec(context.Background(), `DROP SCHEMA `+schema+` CASCADE`) })

	w := setup(t)
	exchangeID := w.refer(t, "errp", "criminal-referral")
	t0 := time.Date(2026, 11, 2, 9, 0, 0, 0, time.UTC)
	insert := `INSERT INTO ` + schema + `.export VALUES ($1, $2, 'ERRP-7', $3, $4, $5, $6, $7)
		ON CONFLICT (event_id) DO UPDATE SET article = excluded.article, previous_article = excluded.previous_article, updated_at = excluded.updated_at`
	pool.Exec(ctx, insert, "e1", exchangeID, "registered", "171", nil, "2026-11-02", t0)
	pool.Exec(ctx, insert, "e2", "no-such-report", "registered", "171", nil, "2026-11-02", t0.Add(time.Minute))
	x := &errp.Export{Pool: pool, Table: schema + ".export", Agency: "errp"}
	rep, err := x.Poll(ctx, w.g.App.Store, time.Time{}, 100, "rev")
	if err != nil || rep.Recorded != 1 || len(rep.Refused) != 1 || !rep.Cursor.Equal(t0.Add(time.Minute)) {
		t.Fatalf("first poll: %+v %v", rep, err)
	}
	again, err := x.Poll(ctx, w.g.App.Store, rep.Cursor, 100, "rev")
	if err != nil || again.Recorded+again.Duplicates != 0 {
		t.Fatalf("a poll with nothing new: %+v %v", again, err)
	}
	// The register corrects row e1: a re-qualification.
	pool.Exec(ctx, insert, "e1", exchangeID, "requalified", "127", "171", "2026-11-20", t0.Add(time.Hour))
	changed, err := x.Poll(ctx, w.g.App.Store, rep.Cursor, 100, "rev")
	if err != nil || changed.Recorded != 1 {
		t.Fatalf("a changed row: %+v %v", changed, err)
	}
	log, _ := w.g.App.Store.AuditLog(ctx, 0, 100)
	last := log[len(log)-1]
	if last.Details["source"] != "export_table" || last.Details["previous_article"] != "171" {
		t.Fatalf("audit %+v", last.Details)
	}
}
