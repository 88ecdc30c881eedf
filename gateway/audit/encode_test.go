package audit

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

// reference is what encoding/json writes for the hashed form: the bytes
// every stored hash was taken over.
func reference(t testing.TB, e *Entry) []byte {
	c := *e
	c.Hash = nil
	b, err := json.Marshal(&c)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

var awkward = []string{"", "plain", "Айгүл", "<script>&", "a\"b\\c", "tab\tnew\nline\r", "\x00\x01\x1f\x7f", "\u2028\u2029", "bad \xff utf8", "emoji 😀", "/slash"}

func randomEntry(r *rand.Rand) *Entry {
	pick := func() string { return awkward[r.IntN(len(awkward))] }
	e := &Entry{Seq: r.Int64N(1 << 40), DecisionID: pick(), Time: time.Unix(r.Int64N(4e9), r.Int64N(1e9)).UTC(), Event: pick(),
		TokenID: pick(), Source: pick(), Destination: pick(), Purpose: pick(), LegalBasis: pick(), PolicyRevision: pick(),
		Rule: pick(), Outcome: Outcome(pick()), Subject: pick(), SubjectKeys: []string{pick()}, Hash: []byte{1, 2}}
	for range r.IntN(4) {
		e.Fields = append(e.Fields, FieldAction{Field: pick(), Action: pick(), Rule: pick()})
	}
	for range r.IntN(3) {
		e.Reasons = append(e.Reasons, pick())
	}
	switch r.IntN(3) {
	case 1:
		e.Details = map[string]string{}
	case 2:
		e.Details = map[string]string{pick(): pick(), pick(): pick(), "z": pick()}
	}
	switch r.IntN(3) {
	case 1:
		e.PrevHash = []byte{}
	case 2:
		e.PrevHash = bytes.Repeat([]byte{byte(r.IntN(256))}, 32)
	}
	if r.IntN(4) == 0 {
		e.Fields = []FieldAction{}
	}
	if r.IntN(2) == 0 {
		e.Time = e.Time.In(time.FixedZone("", 6*3600))
	}
	switch r.IntN(3) {
	case 1: // encoded once, as the gateway shares them
		e.Encoded = EncodeFields(e.Fields)
	case 2: // encoded for another slice: never taken
		other := append([]FieldAction{{Field: pick()}}, e.Fields...)
		e.Encoded = EncodeFields(other)
	}
	return e
}

// Field decisions encoded once are taken only for the very slice they were
// encoded from: an equal copy, or another list, is encoded afresh.
func TestAppendFieldsOfTakesOnlyItsOwnSlice(t *testing.T) {
	list := []FieldAction{{Field: "prs_FirstName", Action: "pseudonymise", Rule: "r/identity"}, {Field: "cas_Status", Action: "keep", Rule: "r/case"}}
	enc := EncodeFields(list)
	want, err := json.Marshal(list)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(enc.JSON, want) {
		t.Fatalf("EncodeFields:\n got %s\nwant %s", enc.JSON, want)
	}
	enc.JSON = []byte("[marker]") // to see which bytes are taken
	if got := AppendFieldsOf(nil, list, enc); string(got) != "[marker]" {
		t.Fatalf("the encoded slice itself: got %s", got)
	}
	copied := slices.Clone(list)
	copied[1].Action = "redact"
	for name, fields := range map[string][]FieldAction{"a copy": copied, "a prefix": list[:1], "none": nil, "empty": {}} {
		want, err := json.Marshal(fields)
		if err != nil {
			t.Fatal(err)
		}
		if got := AppendFieldsOf(nil, fields, enc); !bytes.Equal(got, want) {
			t.Errorf("%s: got %s, want %s", name, got, want)
		}
	}
}

func TestHashedFormIsEncodingJSON(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for i := range 20000 {
		e := randomEntry(r)
		got, err := e.hashed()
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(t, e); !bytes.Equal(got, want) {
			t.Fatalf("entry %d:\n got %s\nwant %s", i, got, want)
		}
	}
}

func FuzzHashedForm(f *testing.F) {
	f.Add(int64(1), "d", "exchange", "ngo", "errp", "field", "<&>", "k", "v", []byte{1})
	f.Fuzz(func(t *testing.T, seq int64, id, event, src, dst, fieldName, rule, k, v string, prev []byte) {
		e := &Entry{Seq: seq, DecisionID: id, Time: time.Unix(seq%4e9, 0).UTC(), Event: event, Source: src, Destination: dst,
			Rule: rule, Fields: []FieldAction{{Field: fieldName, Action: rule, Rule: rule}}, Reasons: []string{k}, Details: map[string]string{k: v}, PrevHash: prev}
		got, err := e.hashed()
		if err != nil {
			t.Fatal(err)
		}
		if want := reference(t, e); !bytes.Equal(got, want) {
			t.Fatalf("\n got %s\nwant %s", got, want)
		}
	})
}

func TestHashedFormRefusesAYearWithoutJSON(t *testing.T) {
	e := &Entry{Time: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if _, err := e.hashed(); err == nil {
		t.Fatal("year 10000 encoded")
	}
}

func BenchmarkHashed(b *testing.B) {
	e := &Entry{Seq: 123456, DecisionID: "0193a6f0-7d2c-7c1e-9f55-1b2c3d4e5f60", Time: time.Now().UTC(), Event: "exchange",
		Source: "ngo-sezim", Destination: "errp", Purpose: "criminal-referral", LegalBasis: "victim-consent", PolicyRevision: "sha256:782ce4376ca32803",
		Rule: "criminal-referral", Outcome: Released, Subject: "tumar.internal:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", PrevHash: make([]byte, 32)}
	for _, f := range []string{"prs_FirstName", "prs_SecondName", "prs_Birthdate", "prs_Gender", "prs_Citizenship", "prs_IdentityNumber", "prs_MobilePhone",
		"prs_MailingCity", "prs_MailingState", "vic_TraffickingStatus", "vic_TypeOfExploitation", "cas_Status", "cco_CaseComment", "hte_CountryOfDestination"} {
		e.Fields = append(e.Fields, FieldAction{Field: f, Action: "pseudonymise", Rule: "class/direct_identifier"})
	}
	b.Run("encoding/json", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			reference(b, e)
		}
	})
	b.Run("appendHashed", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := e.hashed(); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// Reading a stored entry's sequence number and previous hash, as
// verification does from the stored bytes, agrees with decoding it; and
// what it accepts always decodes.
func FuzzParseChained(f *testing.F) {
	e := Entry{Seq: 7, DecisionID: "d", Time: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), Event: "exchange", Outcome: Released,
		Fields: []FieldAction{{Field: "prs_FirstName", Action: "keep", Rule: "r"}}, Reasons: []string{"x"}, Details: map[string]string{"seq": "x"}}
	body, _ := e.Seal(7, []byte("previous hash"))
	f.Add(body)
	first, _ := (&Entry{Time: e.Time}).Seal(1, nil)
	f.Add(first)
	for _, b := range []string{`{"seq":1,"seq":2}`, `{"seq":1,"SEQ":2}`, "{\"seq\":1,\"\u017feq\":2}", `{"seq":1,"prev_hash":"AQ==","Prev_Hash":"Ag=="}`,
		`{"seq":1} {}`, `{"prev_hash":null,"seq":1}`, `{"seq":1,"fields":[{"field":1}]}`, `{"seq":1,"time":"yesterday"}`} {
		f.Add([]byte(b))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		var d Entry
		derr := json.Unmarshal(body, &d)
		row := int64(1)
		if derr == nil {
			row = d.Seq
		}
		sum := sha256.Sum256(body)
		c, err := parseChained(RawEntry{Seq: row, Body: body, Hash: sum[:]})
		if err != nil {
			return // refused: verification reports the entry as altered
		}
		if derr != nil {
			t.Fatalf("accepted bytes that do not decode: %q: %v", body, derr)
		}
		if c.seq != d.Seq || !bytes.Equal(c.prev, d.PrevHash) {
			t.Fatalf("parsed seq %d prev %x; decoded seq %d prev %x", c.seq, c.prev, d.Seq, d.PrevHash)
		}
	})
}

// SealShared leaves out the shared encoding of the field decisions, and
// only that: put back where it says, the body and the hash are Seal's.
func TestSealSharedLeavesOutTheSharedEncoding(t *testing.T) {
	list := []FieldAction{{Field: "prs_FirstName", Action: "pseudonymise", Rule: "r/identity"}, {Field: "cas_Status", Action: "keep", Rule: "r/case"}}
	enc := EncodeFields(list)
	if enc.Sum != sha256.Sum256(enc.JSON) {
		t.Fatal("EncodeFields: Sum is not the encoding's SHA-256")
	}
	for name, fields := range map[string][]FieldAction{"shared": list, "a copy": slices.Clone(list), "none": nil} {
		when := time.Date(2026, 11, 27, 7, 0, 0, 123456789, time.UTC)
		whole := &Entry{DecisionID: "d", Time: when, Event: "exchange", Outcome: Released, Subject: "s", Fields: fields, Encoded: enc}
		cut := *whole
		body, err := whole.Seal(7, []byte("prev"))
		if err != nil {
			t.Fatal(err)
		}
		prefix := []byte("not the entry's")
		b, at, err := cut.SealShared(bytes.Clone(prefix), 7, []byte("prev"))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.HasPrefix(b, prefix) {
			t.Fatalf("%s: SealShared did not append to its buffer", name)
		}
		got := b[len(prefix):]
		if name == "shared" {
			if at < len(prefix) || at > len(b) {
				t.Fatalf("%s: left out at %d of %d bytes", name, at, len(b))
			}
			got = append(append(append([]byte{}, b[len(prefix):at]...), enc.JSON...), b[at:]...)
		} else if at != -1 {
			t.Fatalf("%s: SealShared left out an encoding the entry did not take (at %d)", name, at)
		}
		if !bytes.Equal(got, body) {
			t.Fatalf("%s: put back, the body is\n%s\nwant\n%s", name, got, body)
		}
		if !bytes.Equal(cut.Hash, whole.Hash) || cut.Seq != whole.Seq || !cut.Time.Equal(whole.Time) {
			t.Fatalf("%s: SealShared's entry differs from Seal's", name)
		}
	}
}
