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
