package connectors

import (
	"context"
	"errors"
	"fmt"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/client"
)

// RemoteSink submits through a running gateway's API, as the agency of the
// client's certificate: how a connector runs beside the gateway on SQLite,
// where one process at a time releases records. The gateway's refusals come
// back as *gateway.Error, so the runner quarantines them as it does in
// process.
type RemoteSink struct{ Client *client.Client }

// Exchange implements Sink. The source is the certificate's agency, not
// sub.Source: the gateway takes it from the certificate only.
func (s RemoteSink) Exchange(ctx context.Context, sub *gateway.Submission) (*gateway.Receipt, error) {
	rec, err := sub.Record.MarshalJSON()
	if err != nil {
		return nil, fmt.Errorf("connectors: encode the record: %w", err)
	}
	r, err := s.Client.Submit(ctx, &gateway.ExchangeRequest{Destination: sub.Destination, Purpose: sub.Purpose, LegalBasis: sub.LegalBasis,
		SourceRecordID: sub.SourceRecordID, Record: rec, StatusToken: sub.StatusToken})
	var ae *client.APIError
	if errors.As(err, &ae) {
		return nil, &gateway.Error{Status: ae.Status, Code: ae.Code, Message: ae.Message, Problems: ae.Problems, Reasons: ae.Reasons}
	}
	return r, err
}
