package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/json"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/tumarproject/tumar/crypto/batchsig"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/htcds"
	"github.com/tumarproject/tumar/gateway/store"
	"github.com/tumarproject/tumar/policy"
)

// withPolicy replaces the fixture's policy with the default one edited by fn.
func withPolicy(t *testing.T, f *fixture, edit func(string) string) {
	t.Helper()
	mods := policy.Default()
	mods["exchange.rego"] = edit(mods["exchange.rego"])
	eng, err := policy.New(context.Background(), mods)
	if err != nil {
		t.Fatal(err)
	}
	f.ex.policy = eng
}

func releasedTo(t *testing.T, f *fixture, dest string) Released {
	t.Helper()
	msgs, err := f.store.Store.Inbox(context.Background(), dest, 10)
	if err != nil || len(msgs) == 0 {
		t.Fatalf("inbox: %d, %v", len(msgs), err)
	}
	var r Released
	if err := json.Unmarshal(msgs[len(msgs)-1].Payload, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRedactedIdentityFieldsGiveNoMatchKey(t *testing.T) {
	f := newFixture(t)
	if _, err := f.ex.Exchange(context.Background(), sampleSubmission(t, "errp")); err != nil {
		t.Fatal(err)
	}
	if got := len(releasedTo(t, f, "errp").Subject.Keys); got != 3 {
		t.Fatalf("with every identity field released: %d keys, want 3", got)
	}
	withPolicy(t, f, func(src string) string {
		return strings.Replace(src, `"kinds": {"free_text": "redact", "country": "keep", "country_list": "keep"},
		"fields": {},`, `"kinds": {"free_text": "redact", "country": "keep", "country_list": "keep"},
		"fields": {"prs_IdentityNumber": "redact", "prs_MobilePhone": "redact"},`, 1)
	})
	if _, err := f.ex.Exchange(context.Background(), sampleSubmission(t, "errp")); err != nil {
		t.Fatal(err)
	}
	rel := releasedTo(t, f, "errp")
	if rel.Subject == nil || len(rel.Subject.Keys) != 1 {
		t.Fatalf("with document and phone redacted the destination got %v, want only the name+birth-date key", rel.Subject)
	}
}

func TestSourceRecordIDIsPseudonymised(t *testing.T) {
	f := newFixture(t)
	sub := sampleSubmission(t, "errp")
	sub.SourceRecordID = "SEZIM-2026-0141"
	for i, status := range []string{"Active", "FollowUp", "FollowUp"} {
		sub.Record.SetString("cas_Status", status)
		r, err := f.ex.Exchange(context.Background(), sub)
		if err != nil {
			t.Fatal(err)
		}
		wantVersion, wantOutcome := i+1, audit.Released
		if i == 2 {
			wantVersion, wantOutcome = 2, audit.Duplicate
		}
		if r.Version != wantVersion || r.Outcome != wantOutcome {
			t.Fatalf("submission %d: version %d outcome %s, want %d %s", i+1, r.Version, r.Outcome, wantVersion, wantOutcome)
		}
	}
	msgs, _ := f.store.Store.Inbox(context.Background(), "errp", 10)
	var a, b Released
	json.Unmarshal(msgs[0].Payload, &a)
	json.Unmarshal(msgs[1].Payload, &b)
	if !strings.HasPrefix(a.SourceRecordID, "errp:v1:") || a.SourceRecordID != b.SourceRecordID {
		t.Fatalf("source record ids %q and %q: want one errp pseudonym", a.SourceRecordID, b.SourceRecordID)
	}
	if strings.Contains(string(msgs[0].Payload), "SEZIM-2026-0141") {
		t.Fatal("the source's case id was released in clear")
	}
}

func TestDecodeExchangeRefusesUnsafeSourceRecordIDs(t *testing.T) {
	for _, id := range []string{"Асанбекова Жылдыз", "AN 1234567", strings.Repeat("x", 129)} {
		body := `{"destination":"errp","purpose":"p","legal_basis":"b","source_record_id":"` + id + `","record":{"cas_Status":"Active"}}`
		if _, err := decodeExchange([]byte(body)); err == nil || strings.Contains(err.Error(), id) {
			t.Errorf("source_record_id %q: %v", id, err)
		}
	}
}

// The gateway links records of one person whichever key they share: a
// Cyrillic record with a document, the passport-Latin spelling without one,
// and a record that gives only the document are one person in the audit log.
func TestGatewayLinksOnAnySharedKey(t *testing.T) {
	f := newFixture(t)
	records := []string{
		`{"prs_FirstName": "Айгүл", "prs_SecondName": "Токтосунова", "prs_Birthdate": "1996-03-14", "prs_IdentityNumber": "ID 0417732"}`,
		`{"prs_FirstName": "AIGUL", "prs_SecondName": "TOKTOSUNOVA", "prs_Birthdate": "1996-03-14"}`,
		`{"prs_IdentityNumber": "id0417732", "cas_Status": "Active"}`,
		`{"prs_FirstName": "Нурбек", "prs_SecondName": "Асаналиев", "prs_Birthdate": "1989-11-02"}`,
	}
	for _, raw := range records {
		sub := sampleSubmission(t, "errp")
		if err := sub.Record.UnmarshalJSON([]byte(raw)); err != nil {
			t.Fatal(err)
		}
		if _, err := f.ex.Exchange(context.Background(), sub); err != nil {
			t.Fatal(err)
		}
	}
	log, _ := f.store.Store.AuditLog(context.Background(), 0, 10)
	if len(log) != 4 {
		t.Fatalf("%d audit entries", len(log))
	}
	if log[0].Subject == "" || log[1].Subject != log[0].Subject || log[2].Subject != log[0].Subject {
		t.Fatalf("one person got subjects %q, %q, %q", log[0].Subject, log[1].Subject, log[2].Subject)
	}
	if log[3].Subject == log[0].Subject {
		t.Fatal("two people were linked")
	}
}

// Records that share a cached decision share its plan: the field
// decisions are encoded once. A plan made for other fields is never used.
func TestPlanIsSharedByTheRecordsOfOneDecision(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	first, second := sampleSubmission(t, "errp"), sampleSubmission(t, "errp")
	decide := func(sub *Submission) (*policy.Decision, *fieldPlan) {
		src, dst, err := f.ex.parties(sub)
		if err != nil {
			t.Fatal(err)
		}
		dec, err := f.ex.policy.Decide(ctx, policyInput(src, dst, sub))
		if err != nil {
			t.Fatal(err)
		}
		p, err := planFor(dec, sub.Record)
		if err != nil {
			t.Fatal(err)
		}
		return dec, p
	}
	d1, p1 := decide(first)
	d2, p2 := decide(second)
	if d1 != d2 || p1 != p2 {
		t.Fatalf("two records with the same fields: decisions %p and %p, plans %p and %p; want one of each", d1, d2, p1, p2)
	}
	// The same decision, asked for a record with one field fewer (as a
	// decision without the cache could be): a plan of its own.
	var fewer htcds.Record
	for _, e := range first.Record.Entries()[1:] {
		fewer.Set(e.ID, e.Value)
	}
	p3, err := planFor(d1, &fewer)
	if err != nil {
		t.Fatal(err)
	}
	if p3 == p1 || len(p3.fields.List) != len(p1.fields.List)-1 {
		t.Fatalf("a record with other fields took a plan of %d fields", len(p3.fields.List))
	}
	want, err := json.Marshal(p3.fields.List)
	if err != nil {
		t.Fatal(err)
	}
	if string(p3.fields.JSON) != string(want) {
		t.Fatalf("encoded field decisions:\n got %s\nwant %s", p3.fields.JSON, want)
	}
}

// The field-action metric counts every field released, by its action,
// although a plan tallies the actions once for all its records.
func TestFieldActionMetricCountsEveryField(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	want := map[string]float64{}
	for range 3 {
		rec, err := f.ex.Exchange(ctx, sampleSubmission(t, "errp"))
		if err != nil {
			t.Fatal(err)
		}
		for _, fa := range rec.Fields {
			want[fa.Action]++
		}
	}
	if len(want) < 3 {
		t.Fatalf("the sample took %d actions; the test wants several", len(want))
	}
	for action, n := range want {
		if got := testutil.ToFloat64(f.metrics.fieldActions.WithLabelValues(action)); got != n {
			t.Errorf("tumar_field_actions_total{action=%q} = %v, want %v", action, got, n)
		}
	}
}

// A release tells the store where its payload and its proof repeat the
// parts the store keeps once, and what it tells is true; its leaf hash is
// made beside it.
func TestReleasesTellWhereTheirSharedPartsAre(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.ex.SignReleases(f.keys.Memory)
	var msgs []*store.Message
	inner := f.ex.release
	f.ex.release = func(ctx context.Context, m *store.Message, e *audit.Entry) error {
		msgs = append(msgs, m)
		return inner(ctx, m, e)
	}
	for range 3 {
		if _, err := f.ex.Exchange(ctx, sampleSubmission(t, "errp")); err != nil {
			t.Fatal(err)
		}
	}
	told := func(what string, b []byte, k store.Cut) {
		t.Helper()
		if k.Sum == nil || k.At < 0 || k.At+len(k.Part) > len(b) || !bytes.Equal(b[k.At:k.At+len(k.Part)], k.Part) {
			t.Fatalf("%s: the cut told (at %d, %d bytes) is not where the part is", what, k.At, len(k.Part))
		}
		if sha256.Sum256(k.Part) != *k.Sum {
			t.Fatalf("%s: the cut's hash is not its part's", what)
		}
	}
	for _, m := range msgs {
		told("payload", m.Payload, m.PayloadCut)
		if !bytes.Equal(m.Leaf, batchsig.Leaf(m.Payload)) {
			t.Fatal("the leaf made beside the payload is not its leaf hash")
		}
	}
	if err := f.ex.signBatch(ctx, msgs); err != nil {
		t.Fatal(err)
	}
	for _, m := range msgs {
		told("proof", m.Proof, m.ProofCut)
	}
}
