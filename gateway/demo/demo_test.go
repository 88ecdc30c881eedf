package demo

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"

	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

func TestDemoRuns(t *testing.T) {
	var out bytes.Buffer
	if err := Run(context.Background(), &out, slog.New(slog.DiscardHandler), Options{KDF: gatewaytest.FastKDF}); err != nil {
		t.Fatalf("demo failed: %v\n%s", err, out.String())
	}
	s := out.String()
	for _, want := range []string{
		"Referral 1, NGO case SEZIM-2026-0141",
		"pseudonymise by class/direct_identifier",
		"redact by kind/free_text",
		"give errp the same pseudonym: true",
		"unrelated pseudonyms (different MACs) for the same person: true",
		"Denied: a criminal referral to the consulate gets 403 denied",
		`sending only OPRF-blinded match keys, and got "PossibleVictimOfTrafficking"`,
		"the chain verifies",
	} {
		if !strings.Contains(s, want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
