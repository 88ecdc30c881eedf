package keys

import (
	"errors"
	"testing"
)

func FuzzParseHMACAnswer(f *testing.F) {
	f.Add([]byte(`{"data":{"batch_results":[{"hmac":"vault:v1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}}`), 1)
	f.Add([]byte(`{"data":{"batch_results":[{"error":"bad"}]}}`), 1)
	f.Add([]byte(`{"errors":["permission denied"]}`), 2)
	f.Fuzz(func(t *testing.T, body []byte, n int) {
		if n < 0 || n > 64 {
			return
		}
		out := make([]Pseudonym, n)
		err := parseHMACAnswer(body, "errp", 1, out)
		if err != nil {
			if !errors.Is(err, ErrUnavailable) {
				t.Fatalf("a bad answer must be ErrUnavailable, got %v", err)
			}
			return
		}
		for i := range out {
			if out[i].Domain != "errp" || out[i].Epoch != 1 {
				t.Fatalf("item %d accepted without being filled", i)
			}
		}
	})
}

func TestParseHMACAnswerRefusesAnotherVersion(t *testing.T) {
	out := make([]Pseudonym, 1)
	err := parseHMACAnswer([]byte(`{"data":{"batch_results":[{"hmac":"vault:v2:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]}}`), "errp", 1, out)
	if !errors.Is(err, ErrUnavailable) {
		t.Fatalf("an HMAC of version 2 was accepted for epoch 1: %v", err)
	}
}
