package connectors

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/store"
)

// DeliveryStats count a delivery run.
type DeliveryStats struct {
	Delivered int
	Refused   []Rejected
}

// Lease is how long a delivering process holds the records it claimed;
// longer than one delivery ever takes.
const Lease = 2 * time.Minute

// Deliver hands an agency's released records to its system through a
// connector, one at a time, acknowledging each one the system took. Where
// the store can, records are claimed first, so that several gateway
// processes delivering at once never send the same record, and a process
// that dies mid-batch lets its claims go when the lease ends. A record the
// system refuses stays in the outbox and is reported; a transport failure
// stops the run with the rest still in the outbox. A process killed between
// sending a record and acknowledging it sends it again later: receivers
// take the exchange id as the record's identity (at-least-once).
func Deliver(ctx context.Context, s store.Store, agency string, c Connector, max int) (*DeliveryStats, error) {
	return DeliverAs(ctx, s, agency, c, max, defaultOwner(), Lease)
}

// DeliverAs is Deliver with the claim owner and lease given.
func DeliverAs(ctx context.Context, s store.Store, agency string, c Connector, max int, owner string, lease time.Duration) (*DeliveryStats, error) {
	st := &DeliveryStats{}
	var (
		msgs []store.Message
		err  error
	)
	if cl, ok := s.(store.Claimer); ok {
		msgs, err = cl.Claim(ctx, agency, owner, max, lease)
	} else {
		msgs, err = s.Inbox(ctx, agency, max)
	}
	if err != nil {
		return st, err
	}
	for _, m := range msgs {
		if m.Sealed {
			return st, fmt.Errorf("connectors: outbox message %s is sealed to %s's envelope key: the agency collects it from its inbox, not through a connector", m.ID, agency)
		}
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

func defaultOwner() string {
	host, _ := os.Hostname()
	return host + "/" + strconv.Itoa(os.Getpid())
}
