package gateway

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/crypto/oprf"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/gateway/store"
)

// downKeys is a key store that no longer answers for the OPRF seeds.
type downKeys struct{ *keys.Memory }

func (downKeys) PseudonymizeAt(context.Context, string, uint32, [][]byte) ([]keys.Pseudonym, error) {
	return nil, keys.ErrUnavailable
}

// fullStore cannot write blind evaluations or their audit entries.
type fullStore struct{ store.Gateway }

func (fullStore) RecordEvaluation(context.Context, *store.BlindEvaluation, int, time.Duration, *audit.Entry) error {
	return store.ErrUnavailable
}

func blindRequest(t *testing.T) *EvaluateRequest {
	t.Helper()
	k, err := oprf.DeriveKey(make([]byte, 32), "x", 1)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := oprf.NewClient("x", 1, k.PublicKey())
	b, err := c.Blind([][]byte{[]byte("doc\x00AN1234567")})
	if err != nil {
		t.Fatal(err)
	}
	return &EvaluateRequest{Suite: oprf.SuiteID, Domain: config.LookupDomain, Elements: b.Elements}
}

func TestBlindEvaluationFailsClosed(t *testing.T) {
	ctx := context.Background()
	t.Run("key store down", func(t *testing.T) {
		svc, cfg := statusFixture(t)
		svc.cfg.Blind = config.Blind{Limit: 100, Window: config.Duration(time.Hour)}
		svc.blind = oprf.NewKeyring(downKeys{svc.keys.(*keys.Memory)}, 0)
		ngo, _ := cfg.Agency("ngo-sezim")
		out, err := svc.Evaluate(ctx, ngo, blindRequest(t))
		var ge *Error
		if out != nil || !errors.As(err, &ge) || ge.Status != http.StatusServiceUnavailable || ge.Code != "key_store" {
			t.Fatalf("got %+v %v, want 503 key_store", out, err)
		}
		// Recording a status needs the look-up index: nothing is recorded without it.
		var rec htcds.Record
		if err := rec.UnmarshalJSON([]byte(`{"prs_FirstName": "Айгүл", "prs_SecondName": "Токтосунова", "prs_Birthdate": "1996-03-14", "vic_TraffickingStatus": "PossibleVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "NGO"}`)); err != nil {
			t.Fatal(err)
		}
		if _, err := svc.Record(ctx, ngo, &rec, "2026-11-01"); !errors.As(err, &ge) || ge.Status != http.StatusServiceUnavailable {
			t.Fatalf("record with the key store down: %v", err)
		}
		if log, _ := svc.store.AuditLog(ctx, 0, 10); len(log) != 0 {
			t.Fatalf("%d audit entries, want none", len(log))
		}
	})
	t.Run("audit write fails", func(t *testing.T) {
		svc, cfg := statusFixture(t)
		svc.cfg.Blind = config.Blind{Limit: 100, Window: config.Duration(time.Hour)}
		svc.store = fullStore{svc.store}
		ngo, _ := cfg.Agency("ngo-sezim")
		out, err := svc.Evaluate(ctx, ngo, blindRequest(t))
		var ge *Error
		if out != nil || !errors.As(err, &ge) || ge.Status != http.StatusServiceUnavailable || ge.Code != "store_failed" {
			t.Fatalf("got %+v %v, want 503 store_failed and no evaluation", out, err)
		}
	})
}

func TestStatusesRecordedBeforeLookupsAreIndexedWhenATokenIsIssued(t *testing.T) {
	svc, cfg := statusFixture(t)
	ctx := context.Background()
	ngo, _ := cfg.Agency("ngo-sezim")
	consulate, _ := cfg.Agency("consulate-moscow")
	var rec htcds.Record
	if err := rec.UnmarshalJSON([]byte(`{"prs_FirstName": "Айгүл", "prs_SecondName": "Токтосунова", "prs_Birthdate": "1996-03-14"}`)); err != nil {
		t.Fatal(err)
	}
	// A status recorded by an older gateway: linked by internal keys only.
	internal, err := svc.internalKeys(ctx, matchInputs(&rec))
	if err != nil {
		t.Fatal(err)
	}
	st := &store.Status{ID: "old", Status: "PossibleVictimOfTrafficking", DecisionOrg: "NGO", DecisionDate: "2025-01-01", RecordedBy: "ngo-sezim", RecordedAt: time.Now()}
	if err := svc.store.RecordStatus(ctx, st, &audit.Entry{DecisionID: "old", Time: time.Now(), Event: "status", Outcome: audit.Recorded, SubjectKeys: internal}); err != nil {
		t.Fatal(err)
	}
	blind, err := svc.lookupKeys(ctx, matchInputs(&rec))
	if err != nil {
		t.Fatal(err)
	}
	lookup := &LookupRequest{Pseudonyms: blind, Purpose: "consular-assistance"}
	if res, err := svc.Lookup(ctx, consulate, lookup); err != nil || res.Found {
		t.Fatalf("before any token: %+v %v", res, err)
	}
	if _, err := svc.Issue(ctx, ngo, &rec, &IssueRequest{Audience: "health-bishkek", Purpose: "support-services"}); err != nil {
		t.Fatal(err)
	}
	res, err := svc.Lookup(ctx, consulate, lookup)
	if err != nil || !res.Found || res.Status != "PossibleVictimOfTrafficking" {
		t.Fatalf("after a token was issued with the identity: %+v %v", res, err)
	}
}
