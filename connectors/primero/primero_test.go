package primero

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/connectors/connectortest"
	"github.com/tumarproject/tumar/connectors/primero/primerotest"
)

func cases() []map[string]any {
	var out []map[string]any
	for i := range 7 {
		c := map[string]any{"id": fmt.Sprintf("c-%d", i), "case_id_display": fmt.Sprintf("%d", 100+i), "name_first": "Айгүл", "name_last": "Токтосунова",
			"date_of_birth": "1996-03-14", "sex": "female", "nationality": []string{"kg"}, "status": "open",
			"last_updated_at": time.Date(2026, 11, 1+i, 9, 0, 0, 0, time.UTC).Format(time.RFC3339)}
		if i == 3 {
			c["date_of_birth"] = "1996-02-31"
		}
		out = append(out, c)
	}
	return out
}

func open(t *testing.T, srv *primerotest.Server, since time.Time) *Connector {
	t.Helper()
	c, err := Open(context.Background(), "primero", Options{URL: srv.URL, User: srv.User, Password: srv.Password, PerPage: 3, Since: since})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestPrimeroContract(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Source {
		return connectortest.Source{Connector: open(t, primerotest.Start(t, cases()), time.Time{}), Good: 6, Bad: 1}
	})
}

func readAll(c *Connector) ([]connectors.Item, []connectors.Rejected, error) {
	var items []connectors.Item
	var rej []connectors.Rejected
	for {
		b, err := c.Read(context.Background(), 2)
		items, rej = append(items, b.Items...), append(rej, b.Rejected...)
		if errors.Is(err, io.EOF) {
			return items, rej, nil
		}
		if err != nil {
			return items, rej, err
		}
	}
}

func TestPagingChangedSinceAndAFailingPage(t *testing.T) {
	srv := primerotest.Start(t, cases())
	srv.FailPage(2)
	c := open(t, srv, time.Time{})
	items, rejected, err := readAll(c)
	if err == nil || !strings.Contains(err.Error(), "page 2") {
		t.Fatalf("a failing page: %v", err)
	}
	if len(items)+len(rejected) != 3 || c.Latest().Day() != 3 {
		t.Fatalf("before the failure: %d read, latest %v", len(items)+len(rejected), c.Latest())
	}
	// The next run starts from what was read: nothing lost, page 2 again.
	srv.FailPage(0)
	next := open(t, srv, c.Latest())
	items, rejected, err = readAll(next)
	if err != nil || len(items) != 4 || len(rejected) != 1 {
		t.Fatalf("the next run: %d items, %d rejected, %v", len(items), len(rejected), err)
	}
	if items[0].SourceID != "primero:c-2" {
		t.Fatalf("the next run starts at %s, want the last case already read again (idempotent) c-2", items[0].SourceID)
	}
	if !strings.Contains(rejected[0].Reason, "prs_Birthdate") || strings.Contains(rejected[0].Reason, "1996-02-31") {
		t.Fatalf("reason %q", rejected[0].Reason)
	}
}

func TestLoginRefused(t *testing.T) {
	srv := primerotest.Start(t, cases())
	if _, err := Open(context.Background(), "primero", Options{URL: srv.URL, User: srv.User, Password: "wrong"}); !errors.Is(err, ErrLogin) {
		t.Fatalf("got %v", err)
	}
}

func FuzzCase(f *testing.F) {
	f.Add(`{"id":"c","name_first":"Айгүл","date_of_birth":"1996-03-14","sex":"female","nationality":["kg"]}`)
	c := &Connector{}
	f.Fuzz(func(t *testing.T, body string) {
		item, rej := c.Reparse(connectors.Raw{Data: []byte(body)}, "p")
		if (item == nil) == (rej == nil) {
			t.Fatal("a case must be read or refused, not both or neither")
		}
		if item != nil && item.Record.Validate() != nil {
			t.Fatal("an invalid record was read")
		}
	})
}
