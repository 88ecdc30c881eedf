package client

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	jsonv2 "github.com/go-json-experiment/json"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/audit"
)

// A receipt with a real record's 25 field decisions, decoded by
// encoding/json and by json v2 (what Client uses):
// go test -run XXX -bench DecodeReceipt ./gateway/client/
func BenchmarkDecodeReceipt(b *testing.B) {
	r := gateway.Receipt{ExchangeID: "01a21a68-f400-7c00-87a7-44615bcf4343", DecisionID: "01a21a68-f3ff-7bfe-9819-2ee7fcf0cc31",
		Outcome: audit.Released, Rule: "criminal-referral", PolicyRevision: "sha256:782ce4376ca32803", Version: 1}
	for i := range 25 {
		r.Fields = append(r.Fields, audit.FieldAction{Field: fmt.Sprintf("prs_Field%d", i), Action: "pseudonymise", Rule: "criminal-referral/class/direct_identifier"})
	}
	raw, _ := json.Marshal(&r)
	for name, decode := range map[string]func([]byte, any) error{"encoding-json": json.Unmarshal, "json-v2": func(b []byte, v any) error { return jsonv2.Unmarshal(b, v, asV1) }} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				var got gateway.Receipt
				if err := decode(raw, &got); err != nil || len(got.Fields) != 25 {
					b.Fatal(err)
				}
			}
		})
	}
}

// Do decodes as encoding/json did: a caller's own type still gets names in
// another case, the last of a repeated name, and invalid UTF-8 replaced.
func TestDecodesAsEncodingJSON(t *testing.T) {
	type own struct {
		ExchangeID string `json:"exchange_id"`
		Note       string
		FirstName  string `json:"firstname"`
	}
	raw := []byte("{\"EXCHANGE_ID\":\"a\",\"exchange_id\":\"b\",\"note\":\"x\xffy\",\"first_name\":\"c\"}")
	var v1, v2 own
	if err := json.Unmarshal(raw, &v1); err != nil {
		t.Fatal(err)
	}
	if err := jsonv2.Unmarshal(raw, &v2, asV1); err != nil {
		t.Fatal(err)
	}
	if v1 != v2 {
		t.Fatalf("json v2 gives %+v, encoding/json %+v", v2, v1)
	}
}

// An answer that does not decode is reported by its offset, never by the
// path into it, whose map keys are data.
func TestMalformedAnswerNamesNoData(t *testing.T) {
	var v map[string]int
	err := jsonv2.Unmarshal([]byte(`{"Aigul Toktosunova":"x"}`), &v, asV1)
	if err == nil || strings.Contains(where(err), "Aigul") || !strings.Contains(where(err), "after byte") {
		t.Fatalf("%v: %q", err, where(err))
	}
}
