package store

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/tumarproject/tumar/gateway/audit"
)

// TestAcksOfAnyLengthShareAFewStatements acknowledges lists of every length
// from 1 to 40, each padded to a fixed size, and checks that exactly the
// listed messages are acknowledged and that the lengths share three
// statements (a statement per length filled the statement cache, and left
// every statement first seen after it unprepared).
func TestAcksOfAnyLengthShareAFewStatements(t *testing.T) {
	ctx := context.Background()
	s := openTemp(t)
	const total = 1000
	for i := range total {
		id := fmt.Sprint("m", i)
		m := &Message{ID: id, Source: "ngo", Destination: "errp", Purpose: "p", DecisionID: "d" + id, CreatedAt: time.Now(), Payload: []byte("{}")}
		if err := s.Release(ctx, m, &audit.Entry{DecisionID: "d" + id, Time: time.Now(), Event: "exchange", Outcome: audit.Released}); err != nil {
			t.Fatal(err)
		}
	}
	next, acked := 0, 0
	for n := 1; n <= 40; n++ {
		ids := []string{"nope"} // never released: not counted
		for range n {
			ids = append(ids, fmt.Sprint("m", next))
			next++
		}
		got, err := s.Ack(ctx, "errp", ids)
		if err != nil || got != n {
			t.Fatalf("ack of %d ids: %d, %v", n, got, err)
		}
		acked += n
	}
	if got, err := s.Inbox(ctx, "errp", total); err != nil || len(got) != total-acked {
		t.Fatalf("inbox after acking %d: %d messages, %v", acked, len(got), err)
	}
	c := s.db.stmts
	c.mu.Lock()
	shapes := 0
	for _, m := range []map[string]bool{c.wanted, keysOf(c.stmts)} {
		for q := range m {
			if strings.HasPrefix(q, "UPDATE outbox SET acked_at") {
				shapes++
			}
		}
	}
	c.mu.Unlock()
	if shapes > 3 {
		t.Fatalf("acks of 1 to 41 ids took %d statements, want at most 3 (8, 32, 128)", shapes)
	}
	for n, want := range map[int]int{1: 8, 8: 8, 9: 32, 128: 128, 129: 512, 1000: 2048} {
		if got := paddedListSize(n); got != want {
			t.Fatalf("paddedListSize(%d) = %d, want %d", n, got, want)
		}
	}
}

func keysOf[V any](m map[string]V) map[string]bool {
	out := make(map[string]bool, len(m))
	for k := range m {
		out[k] = true
	}
	return out
}
