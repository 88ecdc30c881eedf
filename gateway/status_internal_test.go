package gateway

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/gateway/store"
)

func statusFixture(t *testing.T) (*StatusService, *config.Config) { return statusFixtureTB(t) }

func statusFixtureTB(t testing.TB) (*StatusService, *config.Config) {
	t.Helper()
	f := newFixture(t)
	cfg := f.ex.cfg
	cfg.Tokens.TTL = config.Duration(72 * time.Hour)
	svc, err := NewStatusService(cfg, f.keys.Memory, f.ex.policy, f.store.Store.(store.Gateway), f.ex.metrics)
	if err != nil {
		t.Fatal(err)
	}
	return svc, cfg
}

func TestTokenTimes(t *testing.T) {
	svc, cfg := statusFixture(t)
	ctx := context.Background()
	ngo, _ := cfg.Agency("ngo-sezim")
	health, _ := cfg.Agency("health-bishkek")
	var rec htcds.Record
	rec.UnmarshalJSON([]byte(`{"prs_FirstName": "Айгүл", "prs_SecondName": "Токтосунова", "prs_Birthdate": "1996-03-14", "vic_TraffickingStatus": "PossibleVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "NGO"}`))
	t0 := time.Date(2026, 11, 26, 9, 0, 0, 0, time.UTC)
	svc.now = func() time.Time { return t0 }
	if _, err := svc.Record(ctx, ngo, &rec, "2026-11-01"); err != nil {
		t.Fatal(err)
	}
	issued, err := svc.Issue(ctx, ngo, &rec, &IssueRequest{Audience: "health-bishkek", Purpose: "support-services"})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		at   time.Time
		want string
	}{
		{"not yet valid", t0.Add(-10 * time.Minute), "not yet valid"},
		{"expired", t0.Add(73 * time.Hour), "expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			svc.now = func() time.Time { return tc.at }
			_, err := svc.Redeem(ctx, health, issued.Token, "")
			var ge *Error
			if !errors.As(err, &ge) || ge.Status != http.StatusUnauthorized || !strings.Contains(ge.Message, tc.want) {
				t.Fatalf("got %v, want 401 %q", err, tc.want)
			}
		})
	}
	svc.now = func() time.Time { return t0.Add(71 * time.Hour) }
	if _, err := svc.Redeem(ctx, health, issued.Token, ""); err != nil {
		t.Fatalf("within its lifetime: %v", err)
	}
}

func TestStatusNeedsAnIdentity(t *testing.T) {
	svc, cfg := statusFixture(t)
	ngo, _ := cfg.Agency("ngo-sezim")
	var rec htcds.Record
	rec.UnmarshalJSON([]byte(`{"vic_TraffickingStatus": "PossibleVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "NGO"}`))
	_, err := svc.Record(context.Background(), ngo, &rec, "2026-11-01")
	var ge *Error
	if !errors.As(err, &ge) || ge.Code != "not_enough_to_identify" {
		t.Fatalf("got %v", err)
	}
	rec.UnmarshalJSON([]byte(`{"prs_IdentityNumber": "ID 1234567", "vic_TraffickingStatus": "PossibleVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "NGO"}`))
	if _, err := svc.Record(context.Background(), ngo, &rec, "2999-01-01"); !errors.As(err, &ge) || ge.Code != "invalid_decision_date" {
		t.Fatalf("a future decision date: %v", err)
	}
}
