package gateway

import (
	"errors"
	"strings"
	"testing"
)

func FuzzDecodeExchange(f *testing.F) {
	f.Add([]byte(`{"destination":"errp","purpose":"criminal-referral","legal_basis":"victim-consent","record":{"prs_FirstName":"Айгүл","prs_Birthdate":"1996-03-14"}}`))
	f.Add([]byte(`{"destination":"errp","record":{"prs_Gender":"x"}}`))
	f.Add([]byte(`{"source":"errp"}`))
	f.Add([]byte(`[]`))
	f.Fuzz(func(t *testing.T, body []byte) {
		sub, err := decodeExchange(body)
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) || ge.Status < 400 || ge.Status > 499 || ge.Code == "" {
				t.Fatalf("a bad body must give a 4xx *Error, got %v", err)
			}
			// A value of at least 8 bytes from the body must never be echoed.
			for _, p := range ge.Problems {
				if len(p.Problem) > 0 && len(body) >= 8 && strings.Contains(p.Problem, string(body)) {
					t.Fatalf("problem echoes the body: %q", p.Problem)
				}
			}
			return
		}
		if sub.Record == nil || sub.Destination == "" {
			t.Fatal("accepted a submission without a record or destination")
		}
	})
}

// A repeated member is refused: with two destinations, which one was meant?
func TestExchangeRequestRefusesRepeatedAndUnknownFields(t *testing.T) {
	for body, want := range map[string]string{
		`{"destination":"errp","destination":"consulate-moscow","purpose":"p","legal_basis":"b","record":{}}`: "repeats a field",
		`{"destination":"errp","purpose":"p","legal_basis":"b","record":{},"Айгүл":1}`:                        "unknown or misspelt field",
		`{"destination":7,"purpose":"p","legal_basis":"b","record":{}}`:                                       "request field destination has the wrong type",
		`{"destination":"errp","purpose":"p","legal_basis":"b","record":{}} {}`:                               "more than one JSON value",
		`{"destination":"errp",`: "empty or cut short",
	} {
		_, err := decodeExchange([]byte(body))
		var ge *Error
		if !errors.As(err, &ge) || ge.Code != "malformed_json" || !strings.Contains(ge.Message, want) {
			t.Errorf("%s: got %v, want malformed_json saying %q", body, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "Айгүл") {
			t.Errorf("the error repeats a field name from the body: %v", err)
		}
	}
}

// FuzzEvaluateRequest is the body of POST /v1/oprf/evaluate: whatever comes
// in, the answer is a 4xx *Error that never quotes an element, or a request
// whose every element is a valid, distinct group element.
func FuzzEvaluateRequest(f *testing.F) {
	f.Add([]byte(`{"suite":"ristretto255-SHA512","domain":"tumar.lookup","elements":["4gD6Hz4FbgOuxT8Z2jSWBPpqyB19cWClVHxPIa1NHEw"]}`))
	f.Add([]byte(`{"suite":"ristretto255-SHA512","domain":"tumar.lookup","epoch":2,"elements":["AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"]}`))
	f.Add([]byte(`{"suite":"P256-SHA256","domain":"x","elements":[]}`))
	f.Add([]byte(`{"elements":["a","a"]}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		var req EvaluateRequest
		err := decodeStrict(body, &req)
		if err == nil {
			_, err = req.check()
		}
		if err != nil {
			var ge *Error
			if !errors.As(err, &ge) || ge.Status != 400 || ge.Code == "" {
				t.Fatalf("a bad body must give a 400 *Error, got %v", err)
			}
			for _, el := range req.Elements {
				if len(el) >= 8 && strings.Contains(ge.Message, el) {
					t.Fatalf("the error quotes an element: %q", ge.Message)
				}
			}
			return
		}
		if len(req.Elements) == 0 || req.Domain == "" {
			t.Fatal("accepted a request without elements or a domain")
		}
	})
}

// FuzzAppendFold holds the one-pass fold to foldText, the form every text
// pseudonym was made from: a difference would change pseudonyms.
func FuzzAppendFold(f *testing.F) {
	for _, s := range []string{"", " ", "ул. Киевская 12", "  Bishkek\t\tCITY ", "ǅemal İstanbul", "ﬁ ＡＢＣ", "\u0085x\u00a0Y\u3000z", "a\xffb", "ΣΑΣ"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := string(appendFold([]byte("p"), s)), "p"+foldText(s); got != want {
			t.Fatalf("appendFold(%q) = %q, want %q", s, got, want)
		}
	})
}
