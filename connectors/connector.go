// Package connectors brings records from outside systems (the crime
// register, NGO spreadsheets and case systems, consulates) into the gateway
// as canonical HTCDS records, and takes released records back out, so that
// the gateway core never knows where a record came from.
//
// Every connector meets one contract (Connector, tested by connectortest):
// it reads batches, reports each item it could not turn into a record with
// its position and reason, and never drops anything silently. The Runner
// submits what was read, keeps what was refused in a sealed quarantine, and
// relies on the gateway's idempotency (source record id + keyed content
// hash) so that a run can be repeated after a crash without making a second
// case.
package connectors

import (
	"context"
	"encoding/json"
	"errors"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/htcds"
)

// Item is one record read from a source.
type Item struct {
	Position string // where in the source ("line 12", "sheet Cases row 7"); never a value
	SourceID string // the source's own record id, "" when it has none
	Record   *htcds.Record
	Raw      Raw // the item as read, for the quarantine
}

// Rejected is a source item that could not become a canonical record.
type Rejected struct {
	Position string
	SourceID string
	Reason   string // names columns and fields, never a value
	Code     string // a short reason class for metrics: malformed, encoding, mapping, invalid_record ...
	Raw      Raw
}

// Raw is a source item as read: the header it was read under and either the
// raw text of a line or its cells. It holds identities; it is only ever
// stored sealed.
type Raw struct {
	Header []string `json:"header,omitempty"`
	Line   string   `json:"line,omitempty"`
	Sep    string   `json:"sep,omitempty"`
	Cells  []string `json:"cells,omitempty"`
	Data   []byte   `json:"data,omitempty"` // a whole source document (JSON), for API sources
}

// Encode is the raw item's serialised form, sealed into the quarantine.
func (r Raw) Encode() []byte {
	b, _ := json.Marshal(r)
	return b
}

// DecodeRaw reads a serialised raw item.
func DecodeRaw(b []byte) (Raw, error) {
	var r Raw
	err := json.Unmarshal(b, &r)
	return r, err
}

// Batch is what one Read returns.
type Batch struct {
	Items    []Item
	Rejected []Rejected
}

// WriteReport says what a Write did.
type WriteReport struct {
	Accepted int
	Rejected []Rejected
}

// Connector is one source system.
//
// Read returns up to max items and rejections; at the end of the source it
// returns io.EOF (with an empty batch). Reparse turns a quarantined raw item
// back into an item or a rejection, for a retry after the mapping or the
// source was fixed. Write hands released records to the system, reporting
// each one it refused.
type Connector interface {
	Name() string
	Read(ctx context.Context, max int) (*Batch, error)
	Reparse(raw Raw, position string) (*Item, *Rejected)
	Write(ctx context.Context, released []gateway.Released) (*WriteReport, error)
	Close() error
}

// ErrNotWritable is returned by Write on a connector that only reads.
var ErrNotWritable = errors.New("connectors: this connector only reads")
