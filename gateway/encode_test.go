package gateway

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/tumarproject/tumar/crypto/batchsig"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/devenv"
	"github.com/tumarproject/tumar/gateway/htcds"
)

// Every released record the pipeline writes is what encoding/json writes
// for it: appendJSON changes no byte, and the transformation's record is
// canonical JSON, as appendJSON requires.
func TestReleasedEncodingIsEncodingJSON(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	released := 0
	for i, s := range devenv.Samples() {
		for _, dest := range []string{"errp", "consulate-moscow", "health-bishkek"} {
			for _, purpose := range []string{"criminal-referral", "support-services", "consular-assistance"} {
				var r htcds.Record
				if err := r.UnmarshalJSON(s.Record); err != nil {
					t.Fatal(err)
				}
				sub := &Submission{Source: "ngo-sezim", Destination: dest, Purpose: purpose, LegalBasis: "victim-consent", Record: &r,
					SourceRecordID: fmt.Sprintf("case-%d", i)}
				if _, err := f.ex.Exchange(ctx, sub); err != nil && !errors.Is(err, ErrDenied) {
					t.Fatalf("sample %d to %s for %s: %v", i, dest, purpose, err)
				}
			}
		}
	}
	for _, dest := range []string{"errp", "consulate-moscow", "health-bishkek"} {
		inbox, err := f.store.Inbox(ctx, dest, 1000)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range inbox {
			var r Released
			if err := json.Unmarshal(m.Payload, &r); err != nil {
				t.Fatalf("%s: %v", m.ID, err)
			}
			want, err := json.Marshal(&r)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(m.Payload, want) {
				t.Fatalf("released record %s:\n got %s\nwant %s", m.ID, m.Payload, want)
			}
			released++
		}
	}
	if released < 6 {
		t.Fatalf("only %d records released: the test compares too little", released)
	}
}

func FuzzReleasedEncoding(f *testing.F) {
	f.Add("01a21a68-f400-7c00", "errp:v1:A6Fmj-_51YBgbOvikRU9Te75NsOn", "criminal-referral/class/direct_identifier", "Айгүл <b>&", int64(1_700_000_000_123_456_789), 0, true, true)
	f.Add("", "", "", "\u2028\xff", int64(0), -3000, false, false)
	f.Add("a\"b\\c", "\x00", "é", "", int64(-62_135_596_800_000_000_0), 8000, true, false)
	f.Fuzz(func(t *testing.T, id, key, rule, value string, nanos int64, years int, subject, fields bool) {
		record, _ := json.Marshal(map[string]any{"prs_FirstName": value, "prs_Citizenship": []string{value, key}})
		r := &Released{ExchangeID: id, DecisionID: key, Source: rule, Destination: value, Purpose: id, LegalBasis: key,
			PolicyRevision: rule, ReleasedAt: time.Unix(0, nanos).UTC().AddDate(years%20000, 0, 0), SourceRecordID: value, Record: record}
		if subject {
			r.Subject = &Subject{}
			if key != "" {
				r.Subject.Keys = []string{key, id}
			}
		}
		if fields {
			r.Fields = []audit.FieldAction{{Field: id, Action: key, Rule: rule}, {Field: value}}
		}
		want, werr := json.Marshal(r)
		got, gerr := r.appendJSON(nil)
		if (werr == nil) != (gerr == nil) || !bytes.Equal(got, want) {
			t.Fatalf("appendJSON:\n got %s, %v\nwant %s, %v", got, gerr, want, werr)
		}
	})
}

// A released record of the bench's kind, encoded by encoding/json and by
// appendJSON: go test -run XXX -bench ReleasedEncoding ./gateway/
func BenchmarkReleasedEncoding(b *testing.B) {
	ctx := context.Background()
	f := newFixture(b)
	sub := sampleSubmission(b, "errp")
	if _, err := f.ex.Exchange(ctx, sub); err != nil {
		b.Fatal(err)
	}
	inbox, err := f.store.Inbox(ctx, "errp", 1)
	if err != nil || len(inbox) != 1 {
		b.Fatal(err)
	}
	var r Released
	if err := json.Unmarshal(inbox[0].Payload, &r); err != nil {
		b.Fatal(err)
	}
	b.Run("encoding-json", func(b *testing.B) {
		for b.Loop() {
			if _, err := json.Marshal(&r); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("appendJSON", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.appendJSON(make([]byte, 0, 1024+len(r.Record)+128*len(r.Fields))); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func FuzzReceiptEncoding(f *testing.F) {
	f.Add("01a21a68-f400-7c00", "criminal-referral", "released", "criminal-referral/class/direct_identifier", 1, true)
	f.Add("", "", "", "<&>\u2028\xff", 0, false)
	f.Add("a\"b", "\\", "duplicate", "é", -3, true)
	f.Fuzz(func(t *testing.T, id, rule, outcome, fieldRule string, version int, fields bool) {
		r := &Receipt{ExchangeID: id, DecisionID: fieldRule, Outcome: audit.Outcome(outcome), Rule: rule, PolicyRevision: id, Version: version}
		if fields {
			r.Fields = []audit.FieldAction{{Field: id, Action: outcome, Rule: fieldRule}, {Field: rule}}
		}
		want, err := json.Marshal(r)
		if err != nil {
			t.Fatal(err)
		}
		if got := r.appendJSON(nil); !bytes.Equal(got, want) {
			t.Fatalf("appendJSON:\n got %s\nwant %s", got, want)
		}
	})
}

func FuzzProofEncoding(f *testing.F) {
	f.Add("eyJhbGciOiJFZERTQSJ9.e30.c2ln", uint64(3), uint64(70), []byte{1, 2, 3}, 2, false)
	f.Add("\u2028<&>\xff\"", uint64(0), uint64(1), []byte{}, 0, true)
	f.Add("", uint64(1<<63), uint64(0), []byte(nil), 1, false)
	f.Fuzz(func(t *testing.T, batch string, index, size uint64, hash []byte, n int, nilPath bool) {
		p := &batchsig.Proof{Batch: batch, Index: index, Size: size}
		if !nilPath {
			p.Path = [][]byte{}
			for i := range n % 8 {
				if i == 1 {
					p.Path = append(p.Path, nil)
					continue
				}
				p.Path = append(p.Path, append(hash, byte(i)))
			}
		}
		want, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendProof(nil, p); !bytes.Equal(got, want) {
			t.Fatalf("appendProof:\n got %s\nwant %s", got, want)
		}
	})
}
