package cso

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/xuri/excelize/v2"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/connectors/mapping"
	"github.com/tumarproject/tumar/gateway"
)

// XLSX reads the first sheet (or a named one) of a workbook, streamed row by
// row. A header row with merged cells is refused: its columns cannot be told
// apart.
type XLSX struct {
	name  string
	f     *excelize.File
	rows  *excelize.Rows
	sheet string
	plan  *mapping.Plan
	row   int
}

var _ connectors.Connector = (*XLSX)(nil)

// OpenXLSX opens a workbook and binds its header row to the mapping.
func OpenXLSX(name, path, sheet string, m *mapping.Mapping) (*XLSX, error) {
	f, err := excelize.OpenFile(path)
	if err != nil {
		return nil, fmt.Errorf("%s: not a readable XLSX workbook", path)
	}
	x, err := newXLSX(name, f, sheet, m)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return x, nil
}

func newXLSX(name string, f *excelize.File, sheet string, m *mapping.Mapping) (*XLSX, error) {
	if sheet == "" {
		sheet = f.GetSheetName(0)
	}
	if idx, err := f.GetSheetIndex(sheet); err != nil || idx < 0 {
		return nil, fmt.Errorf("the workbook has no sheet %q", sheet)
	}
	merged, err := f.GetMergeCells(sheet)
	if err != nil {
		return nil, fmt.Errorf("sheet %q: merged cells cannot be read", sheet)
	}
	for _, mc := range merged {
		if _, row, err := excelize.CellNameToCoordinates(mc.GetStartAxis()); err == nil && row == 1 {
			return nil, fmt.Errorf("sheet %q: the header row has merged cells (%s:%s); unmerge them so that every column has its own name",
				sheet, mc.GetStartAxis(), mc.GetEndAxis())
		}
	}
	rows, err := f.Rows(sheet)
	if err != nil {
		return nil, fmt.Errorf("sheet %q cannot be read", sheet)
	}
	if !rows.Next() {
		return nil, fmt.Errorf("sheet %q is empty", sheet)
	}
	header, err := rows.Columns()
	if err != nil {
		return nil, fmt.Errorf("sheet %q: row 1 cannot be read", sheet)
	}
	plan, err := m.Bind(header)
	if err != nil {
		return nil, err
	}
	return &XLSX{name: name, f: f, rows: rows, sheet: sheet, plan: plan, row: 1}, nil
}

// Name implements connectors.Connector.
func (x *XLSX) Name() string { return x.name }

// Read implements connectors.Connector.
func (x *XLSX) Read(ctx context.Context, max int) (*connectors.Batch, error) {
	b := &connectors.Batch{}
	for len(b.Items)+len(b.Rejected) < max {
		if err := ctx.Err(); err != nil {
			return b, err
		}
		if !x.rows.Next() {
			if err := x.rows.Error(); err != nil {
				return b, fmt.Errorf("sheet %q after row %d: %w", x.sheet, x.row, err)
			}
			return b, io.EOF
		}
		x.row++
		pos := fmt.Sprintf("sheet %q row %d", x.sheet, x.row)
		cells, err := x.rows.Columns()
		if err != nil {
			b.Rejected = append(b.Rejected, connectors.Rejected{Position: pos, Code: "malformed", Reason: "the row cannot be read",
				Raw: connectors.Raw{Header: x.plan.Header()}})
			continue
		}
		if blank(cells) {
			continue
		}
		// Short rows: trailing empty cells are not stored by spreadsheets.
		for len(cells) < len(x.plan.Header()) {
			cells = append(cells, "")
		}
		raw := connectors.Raw{Header: x.plan.Header(), Cells: cells}
		item, rej := rowWith(x.plan, cells, pos, raw)
		if rej != nil {
			b.Rejected = append(b.Rejected, *rej)
			continue
		}
		b.Items = append(b.Items, *item)
	}
	return b, nil
}

func blank(cells []string) bool {
	for _, c := range cells {
		if strings.TrimSpace(c) != "" {
			return false
		}
	}
	return true
}

// Reparse implements connectors.Connector.
func (x *XLSX) Reparse(raw connectors.Raw, position string) (*connectors.Item, *connectors.Rejected) {
	if !equal(raw.Header, x.plan.Header()) {
		return nil, &connectors.Rejected{Position: position, Code: "mapping", Reason: "the quarantined row has another header than the current sheet", Raw: raw}
	}
	return rowWith(x.plan, raw.Cells, position, raw)
}

// Write implements connectors.Connector: spreadsheets are read here, not written.
func (x *XLSX) Write(ctx context.Context, released []gateway.Released) (*connectors.WriteReport, error) {
	return nil, connectors.ErrNotWritable
}

// Close implements connectors.Connector.
func (x *XLSX) Close() error {
	return errors.Join(x.rows.Close(), x.f.Close())
}

// writeReleased writes released records as CSV rows that describe
// themselves: exchange id, source, purpose, the subject keys, then
// field=value pairs, since each record releases its own set of fields.
func writeReleased(w *csv.Writer, released []gateway.Released) (*connectors.WriteReport, error) {
	rep := &connectors.WriteReport{}
	for _, r := range released {
		var fields map[string]json.RawMessage
		if err := json.Unmarshal(r.Record, &fields); err != nil {
			rep.Rejected = append(rep.Rejected, connectors.Rejected{Position: "exchange " + r.ExchangeID, Code: "malformed", Reason: "the released record is not a JSON object"})
			continue
		}
		names := make([]string, 0, len(fields))
		for n := range fields {
			names = append(names, n)
		}
		sort.Strings(names)
		row := []string{r.ExchangeID, r.Source, r.Purpose, subjectKeys(r)}
		for _, n := range names {
			var s string
			if json.Unmarshal(fields[n], &s) != nil {
				s = string(fields[n])
			}
			row = append(row, n+"="+s)
		}
		if err := w.Write(row); err != nil {
			return rep, err
		}
		rep.Accepted++
	}
	w.Flush()
	return rep, w.Error()
}

func subjectKeys(r gateway.Released) string {
	if r.Subject == nil {
		return ""
	}
	return strings.Join(r.Subject.Keys, " ")
}
