package connectors

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/client"
	"github.com/tumarproject/tumar/gateway/htcds"
)

// The remote sink sends the submission as the API's request, and brings
// the gateway's refusals back as *gateway.Error, so that the runner
// quarantines them; a failure of the gateway stays a failure.
func TestRemoteSink(t *testing.T) {
	var got gateway.ExchangeRequest
	status := http.StatusCreated
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		json.Unmarshal(body, &got)
		w.WriteHeader(status)
		switch status {
		case http.StatusCreated:
			io.WriteString(w, `{"exchange_id":"x1","decision_id":"d1","outcome":"released","policy_revision":"r"}`)
		case http.StatusUnprocessableEntity:
			io.WriteString(w, `{"error":{"code":"invalid_record","message":"the record is not valid","problems":[{"field":"prs_FirstName","problem":"not a name"}]}}`)
		default:
			io.WriteString(w, `{"error":{"code":"store_failed","message":"nothing was released"}}`)
		}
	}))
	defer srv.Close()
	rec := &htcds.Record{}
	if err := rec.UnmarshalJSON([]byte(`{"prs_FirstName":"Айгүл","prs_Birthdate":"1996-03-14"}`)); err != nil {
		t.Fatal(err)
	}
	sink := RemoteSink{Client: client.New(srv.URL, srv.Client())}
	sub := &gateway.Submission{Source: "ngo-sezim", Destination: "errp", Purpose: "criminal-referral", LegalBasis: "victim-consent", SourceRecordID: "SZ-1", Record: rec}
	r, err := sink.Exchange(context.Background(), sub)
	if err != nil || r.ExchangeID != "x1" {
		t.Fatalf("a release: %+v, %v", r, err)
	}
	if got.Destination != "errp" || got.SourceRecordID != "SZ-1" || !strings.Contains(string(got.Record), `"prs_FirstName":"Айгүл"`) {
		t.Fatalf("the request sent: %+v", got)
	}
	status = http.StatusUnprocessableEntity
	_, err = sink.Exchange(context.Background(), sub)
	var ge *gateway.Error
	if !errors.As(err, &ge) || ge.Status != 422 || len(ge.Problems) != 1 || !refusedByGateway(err) {
		t.Fatalf("a refusal: %v", err)
	}
	status = http.StatusServiceUnavailable
	if _, err = sink.Exchange(context.Background(), sub); err == nil || refusedByGateway(err) {
		t.Fatalf("a failure of the gateway: %v", err)
	}
}
