package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/crypto/batchsig"
	"github.com/tumarproject/tumar/crypto/envelope"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

// A consulate with an envelope key gets its records sealed to it: the
// gateway's database holds only the envelope, the proof covers the envelope,
// and only the consulate's key opens it, bound to the message id.
func TestReleasesSealedToTheRecipient(t *testing.T) {
	k, err := envelope.GenerateKey(envelope.XWing)
	if err != nil {
		t.Fatal(err)
	}
	g := gatewaytest.StartWith(t, func(c *config.Config) {
		for i := range c.Agencies {
			if c.Agencies[i].ID == "consulate-moscow" {
				c.Agencies[i].EnvelopeKey = &k.Public
			}
		}
	})
	ctx := context.Background()
	const canary = "Канарейка Сеалдовна"
	rec := `{"prs_FirstName":"Канарейка","prs_SecondName":"Сеалдовна","prs_Birthdate":"1991-04-05","cas_Status":"Active","cco_CaseComment":"` + canary + `"}`
	if _, err := g.Client(t, "ngo-sezim").Submit(ctx, &gateway.ExchangeRequest{Destination: "consulate-moscow", Purpose: "consular-assistance",
		LegalBasis: "victim-consent", Record: json.RawMessage(rec)}); err != nil {
		t.Fatal(err)
	}
	consulate := g.Client(t, "consulate-moscow")
	msgs, err := consulate.Inbox(ctx, 10)
	if err != nil || len(msgs) != 1 || !msgs[0].Sealed {
		t.Fatalf("inbox: %v %+v", err, msgs)
	}
	m := msgs[0]
	var set jose.JSONWebKeySet
	if err := consulate.Do(ctx, "GET", "/v1/release-keys", nil, &set); err != nil {
		t.Fatal(err)
	}
	p, err := batchsig.Parse(m.Proof)
	if err != nil || batchsig.Verify(m.Released, p, set) != nil {
		t.Fatalf("the envelope is not the signed bytes: %v", err)
	}
	plain, err := envelope.Open(k, "consulate-moscow", m.Released, []byte(m.ID))
	if err != nil {
		t.Fatal(err)
	}
	var rel gateway.Released
	if err := json.Unmarshal(plain, &rel); err != nil || rel.Destination != "consulate-moscow" || rel.ExchangeID != m.ID {
		t.Fatalf("opened to %s: %v", plain, err)
	}
	other, _ := envelope.GenerateKey(envelope.XWing)
	if _, err := envelope.Open(other, "consulate-moscow", m.Released, []byte(m.ID)); err == nil {
		t.Fatal("another key opened the envelope")
	}
	// The gateway publishes the key it seals to, and only that agency's.
	var doc struct {
		Keys []struct {
			Agency string          `json:"agency"`
			Key    json.RawMessage `json:"key"`
		} `json:"keys"`
	}
	if err := consulate.Do(ctx, "GET", "/.well-known/envelope-keys.json", nil, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Keys) != 1 || doc.Keys[0].Agency != "consulate-moscow" {
		t.Fatalf("published envelope keys: %+v", doc.Keys)
	}
	if pub, err := envelope.ParsePublicKey(doc.Keys[0].Key); err != nil || pub.ID != k.Public.ID {
		t.Fatalf("the published key is not the consulate's: %v", err)
	}
	// Nothing of the record is readable in the gateway's files.
	files, _ := filepath.Glob(filepath.Join(g.Env.Dir, "tumar.db*"))
	for _, f := range files {
		b, _ := os.ReadFile(f)
		if bytes.Contains(b, []byte(`"cas_Status":"Active"`)) {
			t.Fatalf("%s holds the released record in clear", f)
		}
	}
}
