package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/crypto/batchsig"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

// Records released together share one signature, and each verifies on its
// own against the keys the gateway publishes; a changed byte does not.
func TestReleasedRecordsAreSignedPerBatch(t *testing.T) {
	g := gatewaytest.Start(t)
	ctx := context.Background()
	ngo, errp := g.Client(t, "ngo-sezim"), g.Client(t, "errp")
	const n = 24
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			_, errs[i] = ngo.Submit(ctx, &gateway.ExchangeRequest{Destination: "errp", Purpose: "criminal-referral", LegalBasis: "victim-consent",
				Record: json.RawMessage(fmt.Sprintf(`{"prs_FirstName":"Бермет","prs_SecondName":"Асанова","prs_Birthdate":"1990-01-%02d","cas_Status":"Active"}`, 1+i))})
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("submission %d: %v", i, err)
		}
	}
	var set jose.JSONWebKeySet
	if err := errp.Do(ctx, "GET", "/v1/release-keys", nil, &set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("release keys: %v (%d keys)", err, len(set.Keys))
	}
	msgs, err := errp.Inbox(ctx, 100)
	if err != nil || len(msgs) != n {
		t.Fatalf("inbox: %d messages, %v", len(msgs), err)
	}
	batches := map[string]bool{}
	for _, m := range msgs {
		p, err := batchsig.Parse(m.Proof)
		if err != nil {
			t.Fatalf("message %s: %v", m.ID, err)
		}
		if err := batchsig.Verify(m.Released, p, set); err != nil {
			t.Fatalf("message %s: %v", m.ID, err)
		}
		changed := bytes.Replace(m.Released, []byte(`"errp"`), []byte(`"consulate-moscow"`), 1)
		if err := batchsig.Verify(changed, p, set); err == nil {
			t.Fatalf("message %s: a changed record verified", m.ID)
		}
		batches[p.Batch] = true
	}
	t.Logf("%d records in %d signed batches", n, len(batches))
}
