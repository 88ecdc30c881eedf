package policy

import (
	"context"
	"errors"
	"testing"
)

func TestDefaultPolicyPassesItsOwnTests(t *testing.T) {
	res, err := Test(context.Background(), Default())
	if err != nil {
		t.Fatal(err)
	}
	if len(res) < 5 {
		t.Fatalf("expected the default policy's Rego tests to run, got %d", len(res))
	}
	for _, r := range res {
		if !r.Pass {
			t.Errorf("%s: %s", r.Name, r.Message)
		}
	}
}

func newEngine(t *testing.T) *Engine {
	t.Helper()
	e, err := New(context.Background(), Default())
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func referral(dest Party, purpose, basis string) *Input {
	return &Input{
		Source:      Party{ID: "ngo-1", Type: "NGO"},
		Destination: dest,
		Purpose:     purpose,
		LegalBasis:  basis,
		Fields: []FieldRef{
			{Name: "prs_FirstName", Class: "direct_identifier", Kind: "text", Generalization: "none"},
			{Name: "prs_Birthdate", Class: "quasi_identifier", Kind: "date", Generalization: "year"},
			{Name: "prs_Gender", Class: "quasi_identifier", Kind: "picklist", Generalization: "none"},
			{Name: "cco_CaseComment", Class: "direct_identifier", Kind: "free_text", Generalization: "none"},
			{Name: "cas_Status", Class: "operational", Kind: "picklist", Generalization: "none"},
		},
	}
}

var police = Party{ID: "errp", Type: "LawEnforcement"}

func TestDecideEveryAction(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	d, err := e.Decide(context.Background(), referral(police, "criminal-referral", "kg-law-trafficking-in-persons"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.Allow {
		t.Fatalf("denied: %v", d.Reasons)
	}
	want := map[string]FieldDecision{
		"prs_FirstName":   {Pseudonymise, "criminal-referral/class/direct_identifier"},
		"prs_Birthdate":   {Generalise, "criminal-referral/class/quasi_identifier"},
		"prs_Gender":      {Redact, "criminal-referral/class/quasi_identifier/not-generalisable"},
		"cco_CaseComment": {Redact, "criminal-referral/kind/free_text"},
		"cas_Status":      {Keep, "criminal-referral/class/operational"},
	}
	for name, w := range want {
		if got := d.Fields[name]; got != w {
			t.Errorf("%s: got %v %q, want %v %q", name, got.Action, got.Rule, w.Action, w.Rule)
		}
	}
	if d.Revision != Default().Revision() || d.Rule != "criminal-referral" {
		t.Errorf("revision %q rule %q", d.Revision, d.Rule)
	}
}

func TestDecideDenies(t *testing.T) {
	t.Parallel()
	e := newEngine(t)
	for _, tc := range []struct {
		name string
		in   *Input
	}{
		{"unknown purpose", referral(police, "marketing", "victim-consent")},
		{"wrong legal basis", referral(police, "prosecution", "victim-consent")},
		{"wrong destination type", referral(Party{ID: "x", Type: "CorporateBusiness"}, "criminal-referral", "kg-law-trafficking-in-persons")},
		{"unknown class", func() *Input {
			in := referral(police, "criminal-referral", "kg-law-trafficking-in-persons")
			in.Fields = append(in.Fields, FieldRef{Name: "x_Y", Class: "mystery", Kind: "text", Generalization: "none"})
			return in
		}()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d, err := e.Decide(context.Background(), tc.in)
			if err != nil {
				t.Fatal(err)
			}
			if d.Allow || len(d.Reasons) == 0 || d.Fields != nil {
				t.Fatalf("want a denial with reasons, got %+v", d)
			}
		})
	}
}

func TestPolicyWithFailingTestIsRefused(t *testing.T) {
	mods := Default()
	mods["broken_test.rego"] = "package tumar.broken_test\nimport rego.v1\ntest_fails if { 1 == 2 }\n"
	_, err := New(context.Background(), mods)
	if !errors.Is(err, ErrLoad) {
		t.Fatalf("want ErrLoad, got %v", err)
	}
}

func TestPolicyWithoutDecisionDenies(t *testing.T) {
	mods := Modules{"p.rego": "package tumar.exchange\nimport rego.v1\nother := 1\n", "p_test.rego": trivialTest}
	e, err := New(context.Background(), mods)
	if err != nil {
		t.Fatal(err)
	}
	d, err := e.Decide(context.Background(), referral(police, "criminal-referral", "kg-law-trafficking-in-persons"))
	if err != nil {
		t.Fatal(err)
	}
	if d.Allow {
		t.Fatal("an undefined decision must deny")
	}
}

func TestMalformedDecisionIsAnError(t *testing.T) {
	mods := Modules{"p.rego": `package tumar.exchange
import rego.v1
decision := {"allow": true, "rule": "r", "fields": {"prs_FirstName": {"action": "publish", "rule": "r"}}}
`, "p_test.rego": trivialTest}
	e, err := New(context.Background(), mods)
	if err != nil {
		t.Fatal(err)
	}
	in := referral(police, "criminal-referral", "kg-law-trafficking-in-persons")
	in.Fields = in.Fields[:1]
	if _, err := e.Decide(context.Background(), in); !errors.Is(err, ErrEvaluation) {
		t.Fatalf("want ErrEvaluation for an unknown action, got %v", err)
	}
}

// BenchmarkDecide is one uncached decision.
func BenchmarkDecide(b *testing.B) {
	e0, err := New(context.Background(), Default())
	if err != nil {
		b.Fatal(err)
	}
	e := e0.WithoutCache()
	in := referral(police, "criminal-referral", "kg-law-trafficking-in-persons")
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := e.Decide(ctx, in); err != nil {
			b.Fatal(err)
		}
	}
}

const trivialTest = "package tumar.trivial_test\nimport rego.v1\ntest_true if true\n"

func TestPolicyWithoutTestsIsRefused(t *testing.T) {
	_, err := New(context.Background(), Modules{"p.rego": "package tumar.exchange\nimport rego.v1\ndecision := {\"allow\": false}\n"})
	if !errors.Is(err, ErrLoad) {
		t.Fatalf("want ErrLoad for a policy without tests, got %v", err)
	}
}

func TestAuthorize(t *testing.T) {
	e := newEngine(t)
	ngo, health := Party{ID: "ngo-1", Type: "NGO"}, Party{ID: "health-1", Type: "HealthServiceOrganisation"}
	rule, err := e.Authorize(context.Background(), &StatusInput{Action: "issue", Agency: ngo, Audience: health, Purpose: "support-services"})
	if err != nil || rule != "status/issue/support-services" {
		t.Fatalf("issue: %q %v", rule, err)
	}
	in := &StatusInput{Action: "redeem", Agency: ngo}
	in.Token.Audience = "health-1"
	if _, err := e.Authorize(context.Background(), in); !errors.Is(err, ErrDenied) {
		t.Fatalf("a non-audience redeemed: %v", err)
	}
}
