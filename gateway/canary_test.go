package gateway_test

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

// canaryRecord puts a unique, searchable value in every identifying field:
// names, birth date, document, phones, e-mail, address and every free-text field.
const canaryRecord = `{
 "prs_FirstName": "Зумрудбүбү", "prs_MiddleName": "Канарбековна", "prs_SecondName": "Канарейкова",
 "prs_Birthdate": "1987-03-14", "prs_Gender": "Feminine", "prs_Citizenship": ["KG"],
 "prs_IdentityNumber": "AN 9182736", "prs_MobilePhone": "+996 555 987 654", "prs_HomePhone": "0312 468 135",
 "prs_Email": "canary.zumrud@example.org",
 "prs_MailingStreet": "Канареечная улица 41", "prs_MailingCity": "Канарейград", "prs_MailingPostalCode": "720999",
 "prs_MailingState": "Chuy", "prs_MailingLatitude": 42.87461, "prs_MailingLongitude": 74.61234,
 "vic_TraffickingStatus": "PossibleVictimOfTrafficking", "vic_AgeWhenTrafficked": 23,
 "vic_LocationOfExploitation": "Канареечный рынок", "vic_LocationOfRecruitment": "Канареечное село",
 "per_RoleDetails": "Канарейщик recruited her", "cas_ReasonForCaseClosure": "Канарейный повод",
 "cas_IncomingReferralDetails": "Канарейные детали", "cas_OutgoingReferralDetails": "Канарейный исход",
 "hte_Description": "Канарейное событие", "hte_Street": "Канареечный переулок 9",
 "spl_Objectives": "Канарейные цели", "spl_ActionPlan": "Канарейный план",
 "cco_CaseComment": "Зумрудбүбү Канарейкова says hello", "cas_Status": "Active"}`

// canaries are the strings that must appear nowhere outside the submission.
var canaries = []string{
	"Зумрудбүбү", "Канарбековна", "Канарейкова", "КАНАРЕЙКОВА", "kanareikova", "zumrud",
	"1987-03-14", "14.03.1987", "9182736", "987654", "987 654", "468135", "468 135",
	"canary.zumrud", "Канареечн", "Канарейград", "720999", "42.87461", "74.61234",
	"Канарей", "Канарейщик",
}

func findCanary(t *testing.T, where, text string) {
	t.Helper()
	low := strings.ToLower(text)
	for _, c := range canaries {
		if strings.Contains(text, c) || strings.Contains(low, strings.ToLower(c)) {
			t.Errorf("canary %q found in %s", c, where)
		}
	}
}

func TestNoIdentifierLeavesUnderTheDefaultPolicy(t *testing.T) {
	g := gatewaytest.Start(t)
	ngo := g.Client(t, "ngo-sezim")
	routes := []struct{ dest, purpose, basis string }{
		{"errp", "criminal-referral", "kg-law-trafficking-in-persons"},
		{"consulate-moscow", "consular-assistance", "victim-consent"},
		{"health-bishkek", "support-services", "victim-consent"},
	}
	for _, r := range routes {
		submit(t, ngo, r.dest, r.purpose, r.basis, canaryRecord)
	}
	// A denied and an invalid submission carrying the same canaries.
	if _, err := ngo.Submit(context.Background(), &gateway.ExchangeRequest{Destination: "consulate-moscow", Purpose: "criminal-referral", LegalBasis: "victim-consent", Record: json.RawMessage(canaryRecord)}); err == nil {
		t.Fatal("expected a denial")
	} else {
		findCanary(t, "a denial's error", err.Error())
	}
	bad := strings.Replace(canaryRecord, `"cas_Status": "Active"`, `"cas_Status": "Канарейный статус"`, 1)
	if _, err := ngo.Submit(context.Background(), &gateway.ExchangeRequest{Destination: "errp", Purpose: "criminal-referral", LegalBasis: "victim-consent", Record: json.RawMessage(bad)}); err == nil {
		t.Fatal("expected a validation error")
	} else {
		findCanary(t, "a validation error", err.Error())
	}

	for _, r := range routes {
		got := pull(t, g.Client(t, r.dest))
		if len(got) != 1 {
			t.Fatalf("%s received %d records", r.dest, len(got))
		}
		b, _ := json.Marshal(got[0])
		findCanary(t, "what "+r.dest+" received", string(b))
	}
	_, metrics := g.Get(t, "errp", "/metrics")
	if !strings.Contains(metrics, "tumar_exchanges_total") {
		t.Fatal("metrics not served")
	}
	findCanary(t, "the metrics", metrics)
	log, err := g.App.Store.AuditLog(context.Background(), 0, 100)
	if err != nil || len(log) != 4 {
		t.Fatalf("audit log: %d entries, %v", len(log), err)
	}
	b, _ := json.Marshal(log)
	findCanary(t, "the audit log", string(b))
	findCanary(t, "the gateway's log", g.Log.String())
	if !strings.Contains(g.Log.String(), `"route":"exchanges"`) {
		t.Fatal("the gateway logged no requests; the log check would prove nothing")
	}
	// Every byte the store wrote: database, WAL and anything beside them.
	files, _ := filepath.Glob(g.Env.Config.Store.Path + "*")
	if len(files) == 0 {
		t.Fatal("no store files found")
	}
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		findCanary(t, filepath.Base(f), string(raw))
	}
}

// A policy that explicitly allows the identity (a prosecution under a court
// order) releases it, and the release is audited. This also proves the
// canary search above can find what it looks for.
func TestCourtOrderReleasesIdentityAndAuditsIt(t *testing.T) {
	g := gatewaytest.Start(t)
	receipt := submit(t, g.Client(t, "ngo-sezim"), "errp", "prosecution", "court-order", canaryRecord)
	got := pull(t, g.Client(t, "errp"))
	if len(got) != 1 {
		t.Fatalf("errp received %d", len(got))
	}
	b, _ := json.Marshal(got[0])
	if !strings.Contains(string(b), "Канарейкова") || !strings.Contains(string(b), "1987-03-14") {
		t.Fatal("a court-ordered release did not carry the identity")
	}
	if strings.Contains(string(b), "says hello") {
		t.Fatal("free text was released under a court order; the policy redacts it")
	}
	log, _ := g.App.Store.AuditLog(context.Background(), 0, 10)
	if len(log) != 1 || log[0].DecisionID != receipt.DecisionID || log[0].Rule != "prosecution-court-order" {
		t.Fatalf("audit %+v", log)
	}
	kept := 0
	for _, f := range log[0].Fields {
		if f.Action == "keep" && strings.HasPrefix(f.Field, "prs_") {
			kept++
		}
	}
	if kept == 0 {
		t.Fatal("the audit entry does not show the identity fields kept")
	}
	lb, _ := json.Marshal(log)
	findCanary(t, "the audit log of a court-ordered release", string(lb))
}
