package connectors

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/store"
)

// DeliveryStats count a delivery run.
type DeliveryStats struct {
	Delivered int
	Refused   []Rejected
}

// Deliver hands an agency's released records to its system through a
// connector, one at a time, acknowledging each one the system took. A record
// the system refuses stays in the outbox and is reported; a transport
// failure stops the run with the rest still in the outbox.
func Deliver(ctx context.Context, s store.Store, agency string, c Connector, max int) (*DeliveryStats, error) {
	st := &DeliveryStats{}
	msgs, err := s.Inbox(ctx, agency, max)
	if err != nil {
		return st, err
	}
	for _, m := range msgs {
		var rel gateway.Released
		if err := json.Unmarshal(m.Payload, &rel); err != nil {
			return st, fmt.Errorf("connectors: outbox message %s is damaged: %w", m.ID, err)
		}
		rep, err := c.Write(ctx, []gateway.Released{rel})
		if err != nil {
			return st, fmt.Errorf("connectors: deliver %s to %s: %w", m.ID, agency, err)
		}
		if rep.Accepted == 0 {
			st.Refused = append(st.Refused, rep.Rejected...)
			continue
		}
		if _, err := s.Ack(ctx, agency, []string{m.ID}); err != nil {
			return st, err
		}
		st.Delivered++
	}
	return st, nil
}
