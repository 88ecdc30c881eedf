package gateway_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/crypto/token"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/client"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

const (
	aigul       = `{"prs_FirstName": "Айгүл", "prs_SecondName": "Токтосунова", "prs_Birthdate": "1996-03-14", "vic_TraffickingStatus": "PossibleVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "NGO"}`
	aigulActual = `{"prs_FirstName": "AIGUL", "prs_SecondName": "TOKTOSUNOVA", "prs_Birthdate": "1996-03-14", "vic_TraffickingStatus": "ActualVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "CourtOrProsecution"}`
	aigulID     = `{"prs_FirstName": "Aigul", "prs_SecondName": "Toktosunova", "prs_Birthdate": "1996-03-14"}`
	nurbekID    = `{"prs_FirstName": "Нурбек", "prs_SecondName": "Асаналиев", "prs_Birthdate": "1989-11-02"}`
)

var toHealth = gateway.IssueRequest{Audience: "health-bishkek", Purpose: "support-services"}

func apiErr(t *testing.T, err error, status int, code string) {
	t.Helper()
	var e *client.APIError
	if !errors.As(err, &e) || e.Status != status || e.Code != code {
		t.Fatalf("got %v, want %d %s", err, status, code)
	}
}

func TestStatusRecordedOnceAndRedeemedOnce(t *testing.T) {
	g := gatewaytest.Start(t)
	ctx := context.Background()
	ngo, health := g.Client(t, "ngo-sezim"), g.Client(t, "health-bishkek")
	rec, err := ngo.RecordStatus(ctx, json.RawMessage(aigul), "2026-11-01")
	if err != nil || rec.Superseded {
		t.Fatalf("record: %+v %v", rec, err)
	}
	// The identity is given in passport Latin and another date format: the same person.
	issued, err := ngo.IssueToken(ctx, json.RawMessage(aigulID), toHealth)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(issued.Token, "Айгүл") {
		t.Fatal("the token carries the name")
	}
	red, err := health.Redeem(ctx, issued.Token, "")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(red.Subject, "health-bishkek:v1:") || red.Status != "PossibleVictimOfTrafficking" || red.DecisionOrg != "NGO" {
		t.Fatalf("redeemed %+v", red)
	}
	_, err = health.Redeem(ctx, issued.Token, "")
	apiErr(t, err, http.StatusConflict, "already_redeemed")
	st, err := health.TokenState(ctx, issued.JTI)
	if err != nil || st.State != "redeemed" {
		t.Fatalf("state %+v %v", st, err)
	}
	log, _ := g.App.Store.AuditLog(ctx, 0, 100)
	var outcomes []audit.Outcome
	for _, e := range log {
		outcomes = append(outcomes, e.Outcome)
	}
	want := []audit.Outcome{audit.Recorded, audit.Issued, audit.Redeemed, audit.PossibleReplay}
	if len(outcomes) != 4 || outcomes[0] != want[0] || outcomes[1] != want[1] || outcomes[2] != want[2] || outcomes[3] != want[3] {
		t.Fatalf("audit outcomes %v, want %v", outcomes, want)
	}
	if log[0].Subject == "" || log[2].Subject != log[0].Subject || log[3].TokenID != issued.JTI {
		t.Fatal("the audit entries do not name the person and token")
	}
	// A later token for the same agency names the person the same way.
	again, _ := ngo.IssueToken(ctx, json.RawMessage(aigulID), toHealth)
	red2, err := health.Redeem(ctx, again.Token, red.Subject)
	if err != nil || red2.Subject != red.Subject {
		t.Fatalf("second token: %v", err)
	}
}

func TestStatusTokenRefusals(t *testing.T) {
	g := gatewaytest.Start(t)
	ctx := context.Background()
	ngo, health, consulate := g.Client(t, "ngo-sezim"), g.Client(t, "health-bishkek"), g.Client(t, "consulate-moscow")
	if _, err := ngo.RecordStatus(ctx, json.RawMessage(aigul), "2026-11-01"); err != nil {
		t.Fatal(err)
	}
	issue := func() *gateway.IssuedToken {
		t.Helper()
		tok, err := ngo.IssueToken(ctx, json.RawMessage(aigulID), toHealth)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}

	t.Run("wrong audience", func(t *testing.T) {
		_, err := consulate.Redeem(ctx, issue().Token, "")
		apiErr(t, err, http.StatusForbidden, "invalid_token")
	})
	t.Run("payload tampered", func(t *testing.T) {
		parts := strings.Split(issue().Token, ".")
		parts[1] = parts[1][:len(parts[1])-2] + "AA"
		_, err := health.Redeem(ctx, strings.Join(parts, "."), "")
		apiErr(t, err, http.StatusUnauthorized, "invalid_token")
	})
	t.Run("revoked", func(t *testing.T) {
		tok := issue()
		err := health.Revoke(ctx, tok.JTI)
		apiErr(t, err, http.StatusForbidden, "denied") // only the issuer revokes
		if err := ngo.Revoke(ctx, tok.JTI); err != nil {
			t.Fatal(err)
		}
		_, err = health.Redeem(ctx, tok.Token, "")
		apiErr(t, err, http.StatusGone, "revoked")
	})
	t.Run("another person", func(t *testing.T) {
		tok := issue()
		_, err := health.Redeem(ctx, tok.Token, "health-bishkek:v1:someone-else")
		apiErr(t, err, http.StatusUnprocessableEntity, "other_person")
	})
	t.Run("issue for an audience the purpose does not allow", func(t *testing.T) {
		_, err := ngo.IssueToken(ctx, json.RawMessage(aigulID), gateway.IssueRequest{Audience: "errp", Purpose: "support-services"})
		apiErr(t, err, http.StatusForbidden, "denied")
	})
	t.Run("no status recorded", func(t *testing.T) {
		_, err := ngo.IssueToken(ctx, json.RawMessage(nurbekID), toHealth)
		apiErr(t, err, http.StatusNotFound, "no_status")
	})
	t.Run("superseded", func(t *testing.T) {
		tok := issue()
		rec, err := ngo.RecordStatus(ctx, json.RawMessage(aigulActual), "2026-11-20")
		if err != nil || !rec.Superseded {
			t.Fatalf("a later decision did not supersede: %+v %v", rec, err)
		}
		st, _ := health.TokenState(ctx, tok.JTI)
		if st.State != "superseded" {
			t.Fatalf("state %q", st.State)
		}
		_, err = health.Redeem(ctx, tok.Token, "")
		apiErr(t, err, http.StatusGone, "superseded")
		fresh := issue()
		red, err := health.Redeem(ctx, fresh.Token, "")
		if err != nil || red.Status != "ActualVictimOfTrafficking" {
			t.Fatalf("a token after the new decision: %+v %v", red, err)
		}
	})
}

func TestEncryptedStatusToken(t *testing.T) {
	g := gatewaytest.Start(t)
	ctx := context.Background()
	ngo, health := g.Client(t, "ngo-sezim"), g.Client(t, "health-bishkek")
	ngo.RecordStatus(ctx, json.RawMessage(aigul), "2026-11-01")
	req := toHealth
	req.Encrypt = true
	issued, err := ngo.IssueToken(ctx, json.RawMessage(aigulID), req)
	if err != nil || !issued.Encrypted || !token.IsEncrypted(issued.Token) {
		t.Fatalf("encrypted issue: %+v %v", issued, err)
	}
	_, err = health.Redeem(ctx, issued.Token, "")
	apiErr(t, err, http.StatusUnauthorized, "invalid_token") // decrypt it first
	key, err := g.Env.TokenDecryptionKey("health-bishkek")
	if err != nil {
		t.Fatal(err)
	}
	inner, err := token.Decrypt(issued.Token, key)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := health.Redeem(ctx, inner, ""); err != nil {
		t.Fatal(err)
	}
	other, _ := g.Env.TokenDecryptionKey("consulate-moscow")
	if _, err := token.Decrypt(issued.Token, other); !errors.Is(err, token.ErrDecrypt) {
		t.Fatalf("another agency decrypted the token: %v", err)
	}
}

func TestJWKSVerifiesOffline(t *testing.T) {
	g := gatewaytest.Start(t)
	ctx := context.Background()
	ngo := g.Client(t, "ngo-sezim")
	ngo.RecordStatus(ctx, json.RawMessage(aigul), "2026-11-01")
	issued, _ := ngo.IssueToken(ctx, json.RawMessage(aigulID), toHealth)
	raw, err := ngo.JWKS(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var set jose.JSONWebKeySet
	if err := json.Unmarshal(raw, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("jwks %s: %v", raw, err)
	}
	v := &token.Verifier{Keys: set, Issuer: gateway.Issuer}
	c, err := v.Verify(issued.Token, "health-bishkek")
	if err != nil || c.Status != "PossibleVictimOfTrafficking" {
		t.Fatalf("offline verify: %v", err)
	}
}

func TestReferralWithAStatusToken(t *testing.T) {
	g := gatewaytest.Start(t)
	ctx := context.Background()
	ngo, consulate, health := g.Client(t, "ngo-sezim"), g.Client(t, "consulate-moscow"), g.Client(t, "health-bishkek")
	ngo.RecordStatus(ctx, json.RawMessage(aigul), "2026-11-01")
	// The consulate holds a token for the person and refers her on, without
	// her identity, to a health centre at home.
	issued, err := ngo.IssueToken(ctx, json.RawMessage(aigulID), gateway.IssueRequest{Audience: "consulate-moscow", Purpose: "consular-assistance"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := consulate.Redeem(ctx, issued.Token, ""); err != nil {
		t.Fatal(err)
	}
	refer := func(record string) error {
		_, err := consulate.Submit(ctx, &gateway.ExchangeRequest{Destination: "health-bishkek", Purpose: "support-services", LegalBasis: "victim-consent",
			Record: json.RawMessage(record), StatusToken: issued.Token})
		return err
	}
	if err := refer(`{"cas_Status": "Active", "vic_TypeOfExploitation": ["ForcedLabour"]}`); err != nil {
		t.Fatal(err)
	}
	got := pull(t, health)
	if len(got) != 1 || got[0].Subject == nil || !strings.HasPrefix(got[0].Subject.Keys[0], "health-bishkek:v1:") {
		t.Fatalf("the health centre received %+v", got)
	}
	log, _ := g.App.Store.AuditLog(ctx, 0, 100)
	if last := log[len(log)-1]; last.Event != "exchange" || last.Subject != log[0].Subject {
		t.Fatal("the referral was not audited against the person of the token")
	}
	// The same token with another known person's identity is refused.
	nurbekStatus := strings.Replace(nurbekID, `}`, `, "vic_TraffickingStatus": "PossibleVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "NGO"}`, 1)
	if _, err := ngo.RecordStatus(ctx, json.RawMessage(nurbekStatus), "2026-11-02"); err != nil {
		t.Fatal(err)
	}
	apiErr(t, refer(strings.Replace(nurbekID, `}`, `, "cas_Status": "Active"}`, 1)), http.StatusUnprocessableEntity, "other_person")
	// A token addressed to another agency cannot be used by the consulate.
	forHealth, _ := ngo.IssueToken(ctx, json.RawMessage(aigulID), toHealth)
	_, err = consulate.Submit(ctx, &gateway.ExchangeRequest{Destination: "health-bishkek", Purpose: "support-services", LegalBasis: "victim-consent",
		Record: json.RawMessage(`{"cas_Status": "Active"}`), StatusToken: forHealth.Token})
	apiErr(t, err, http.StatusForbidden, "invalid_token")
}
