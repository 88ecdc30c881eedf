// Package connectortest is the contract every connector meets. A connector's
// tests give it a fresh connector over a source they wrote, holding some good
// items and some bad ones.
package connectortest

import (
	"context"
	"errors"
	"io"
	"testing"

	"github.com/tumarproject/tumar/connectors"
)

// Source describes what a fresh connector's source holds.
type Source struct {
	Connector connectors.Connector
	Good, Bad int // how many items can be read, how many must be refused
}

// Run checks the contract: every item is read or refused, nothing twice;
// every refusal has a position and a reason; Reparse of what was read gives
// the same record, of what was refused a refusal; reading past the end keeps
// returning io.EOF.
func Run(t *testing.T, open func(t *testing.T) Source) {
	t.Helper()
	ctx := context.Background()

	t.Run("nothing is dropped", func(t *testing.T) {
		src := open(t)
		var items []connectors.Item
		var rejected []connectors.Rejected
		for i := 0; ; i++ {
			if i > 10000 {
				t.Fatal("Read never returned io.EOF")
			}
			b, err := src.Connector.Read(ctx, 3)
			if b == nil {
				t.Fatal("Read returned no batch")
			}
			if len(b.Items)+len(b.Rejected) > 3 {
				t.Fatalf("Read returned %d items for max 3", len(b.Items)+len(b.Rejected))
			}
			items = append(items, b.Items...)
			rejected = append(rejected, b.Rejected...)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		if len(items) != src.Good || len(rejected) != src.Bad {
			t.Fatalf("read %d and refused %d, want %d and %d", len(items), len(rejected), src.Good, src.Bad)
		}
		positions := map[string]bool{}
		for _, it := range items {
			if it.Record == nil || it.Record.Validate() != nil || it.Position == "" {
				t.Fatalf("item at %q has no valid record or position", it.Position)
			}
			positions[it.Position] = true
			again, rej := src.Connector.Reparse(it.Raw, it.Position)
			if rej != nil {
				t.Fatalf("%s: read, but refused on reparse: %s", it.Position, rej.Reason)
			}
			a, _ := it.Record.MarshalJSON()
			b, _ := again.Record.MarshalJSON()
			if string(a) != string(b) || again.SourceID != it.SourceID {
				t.Fatalf("%s: reparse gave another record", it.Position)
			}
		}
		for _, r := range rejected {
			if r.Position == "" || r.Reason == "" || r.Code == "" {
				t.Fatalf("a refusal without position, reason or code: %+v", r)
			}
			positions[r.Position] = true
			if _, rej := src.Connector.Reparse(r.Raw, r.Position); rej == nil {
				t.Fatalf("%s: refused, but accepted on reparse", r.Position)
			}
		}
		if len(positions) != src.Good+src.Bad {
			t.Fatal("two items share a position")
		}
		if b, err := src.Connector.Read(ctx, 3); !errors.Is(err, io.EOF) || len(b.Items)+len(b.Rejected) != 0 {
			t.Fatal("reading past the end did not return io.EOF and nothing")
		}
		if err := src.Connector.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
