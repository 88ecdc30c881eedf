// Package cso connects civil-society case systems: spreadsheets (CSV and
// XLSX) that NGOs and crisis centres keep, mapped column by column to HTCDS.
package cso

import (
	"bufio"
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/transform"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/connectors/mapping"
	"github.com/tumarproject/tumar/gateway"
)

// CSV reads a spreadsheet exported as CSV: comma, semicolon or tab
// separated, UTF-8 or Windows-1251, streamed row by row.
type CSV struct {
	name     string
	file     *os.File
	r        *csv.Reader
	raw      *rawTracker
	plan     *mapping.Plan
	sep      rune
	Encoding string // "utf-8" or "windows-1251", as detected
	out      *csv.Writer
	outFile  *os.File
}

var _ connectors.Connector = (*CSV)(nil)

// OpenCSV opens a CSV file, detects its encoding and separator, and binds its
// header to the mapping. A header that does not fit the mapping refuses the
// whole file before any row is read.
func OpenCSV(name, path string, m *mapping.Mapping) (*CSV, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	c, err := newCSV(name, f, m)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	c.file = f
	return c, nil
}

func newCSV(name string, in io.Reader, m *mapping.Mapping) (*CSV, error) {
	src, sample, enc := decoded(in)
	c := &CSV{name: name, Encoding: enc}
	c.sep = detectSeparator(sample)
	c.raw = &rawTracker{}
	c.r = csv.NewReader(io.TeeReader(src, c.raw))
	c.r.Comma = c.sep
	c.r.FieldsPerRecord = -1 // row length is checked per row, so one short row does not stop the file
	c.r.ReuseRecord = false
	header, err := c.r.Read()
	if err != nil {
		return nil, errors.New("line 1: the header row cannot be read as CSV")
	}
	c.raw.advance(c.r.InputOffset())
	c.plan, err = m.Bind(header)
	if err != nil {
		return nil, err
	}
	return c, nil
}

// decoded detects the encoding and returns a UTF-8 reader, the decoded
// sample and the encoding's name. The header row decides when it has
// non-ASCII letters (a UTF-8 file with one row pasted from elsewhere stays
// UTF-8, and that row is refused alone); otherwise the first 64 KiB do.
func decoded(in io.Reader) (io.Reader, []byte, string) {
	br := bufio.NewReaderSize(in, 64<<10)
	sample, _ := br.Peek(64 << 10)
	judged := sample
	if line, _, _ := bytes.Cut(sample, []byte("\n")); !isASCII(line) {
		judged = line
	}
	if validUTF8Prefix(judged) {
		return br, sample, "utf-8"
	}
	sample, _ = charmap.Windows1251.NewDecoder().Bytes(sample)
	return transform.NewReader(br, charmap.Windows1251.NewDecoder()), sample, "windows-1251"
}

func isASCII(b []byte) bool {
	for _, c := range b {
		if c >= 0x80 {
			return false
		}
	}
	return true
}

// validUTF8Prefix reports whether a sample is UTF-8, allowing a rune cut at
// its end.
func validUTF8Prefix(b []byte) bool {
	for i := 0; i < 4 && len(b) > 0; i++ {
		if utf8.Valid(b) {
			return true
		}
		b = b[:len(b)-1]
	}
	return utf8.Valid(b)
}

// detectSeparator picks the most frequent of ; , and tab in the first line,
// outside quotes.
func detectSeparator(sample []byte) rune {
	line, _, _ := bytes.Cut(sample, []byte("\n"))
	counts := map[rune]int{}
	inQuote := false
	for _, r := range string(line) {
		switch {
		case r == '"':
			inQuote = !inQuote
		case !inQuote && (r == ';' || r == ',' || r == '\t'):
			counts[r]++
		}
	}
	best := ','
	for _, r := range []rune{';', '\t'} {
		if counts[r] > counts[best] {
			best = r
		}
	}
	return best
}

// Name implements connectors.Connector.
func (c *CSV) Name() string { return c.name }

// Read implements connectors.Connector.
func (c *CSV) Read(ctx context.Context, max int) (*connectors.Batch, error) {
	b := &connectors.Batch{}
	for len(b.Items)+len(b.Rejected) < max {
		if err := ctx.Err(); err != nil {
			return b, err
		}
		cells, err := c.r.Read()
		rawLine := c.raw.advance(c.r.InputOffset())
		if errors.Is(err, io.EOF) {
			return b, io.EOF
		}
		raw := connectors.Raw{Header: c.plan.Header(), Line: strings.TrimRight(rawLine, "\r\n"), Sep: string(c.sep)}
		var pe *csv.ParseError
		switch {
		case errors.As(err, &pe):
			b.Rejected = append(b.Rejected, connectors.Rejected{Position: "line " + strconv.Itoa(pe.StartLine), Code: "malformed",
				Reason: "malformed CSV: " + pe.Err.Error(), Raw: raw})
			continue
		case err != nil:
			return b, err
		}
		line, _ := c.r.FieldPos(0)
		item, rej := c.row(cells, "line "+strconv.Itoa(line), raw)
		if rej != nil {
			b.Rejected = append(b.Rejected, *rej)
			continue
		}
		b.Items = append(b.Items, *item)
	}
	return b, nil
}

func (c *CSV) row(cells []string, pos string, raw connectors.Raw) (*connectors.Item, *connectors.Rejected) {
	for _, cell := range cells {
		if !utf8.ValidString(cell) {
			return nil, &connectors.Rejected{Position: pos, Code: "encoding", Reason: "the row is not valid UTF-8 (does the file mix encodings?)", Raw: raw}
		}
	}
	id, rec, err := c.plan.Row(cells)
	if err != nil {
		return nil, &connectors.Rejected{Position: pos, SourceID: id, Code: "mapping", Reason: err.Error(), Raw: raw}
	}
	return &connectors.Item{Position: pos, SourceID: id, Record: rec, Raw: raw}, nil
}

// Reparse implements connectors.Connector: a quarantined line is read again
// under the current mapping.
func (c *CSV) Reparse(raw connectors.Raw, position string) (*connectors.Item, *connectors.Rejected) {
	plan, err := c.planFor(raw.Header)
	if err != nil {
		return nil, &connectors.Rejected{Position: position, Code: "mapping", Reason: err.Error(), Raw: raw}
	}
	if raw.Cells != nil {
		return rowWith(plan, raw.Cells, position, raw)
	}
	r := csv.NewReader(strings.NewReader(raw.Line))
	if raw.Sep != "" {
		r.Comma = []rune(raw.Sep)[0]
	}
	r.FieldsPerRecord = -1
	cells, err := r.Read()
	if err != nil {
		return nil, &connectors.Rejected{Position: position, Code: "malformed", Reason: "malformed CSV: " + strings.TrimPrefix(err.Error(), "record on line 1: "), Raw: raw}
	}
	return rowWith(plan, cells, position, raw)
}

func (c *CSV) planFor(header []string) (*mapping.Plan, error) {
	if c.plan != nil && equal(header, c.plan.Header()) {
		return c.plan, nil
	}
	return nil, errors.New("the quarantined row has another header than the current file")
}

func rowWith(plan *mapping.Plan, cells []string, pos string, raw connectors.Raw) (*connectors.Item, *connectors.Rejected) {
	id, rec, err := plan.Row(cells)
	if err != nil {
		return nil, &connectors.Rejected{Position: pos, SourceID: id, Code: "mapping", Reason: err.Error(), Raw: raw}
	}
	return &connectors.Item{Position: pos, SourceID: id, Record: rec, Raw: raw}, nil
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// WriteTo sets the file Write appends released records to.
func (c *CSV) WriteTo(path string) error {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	c.outFile, c.out = f, csv.NewWriter(f)
	return nil
}

// Write implements connectors.Connector: released records become CSV rows,
// one column per released field, plus the exchange id and the subject keys.
func (c *CSV) Write(ctx context.Context, released []gateway.Released) (*connectors.WriteReport, error) {
	if c.out == nil {
		return nil, connectors.ErrNotWritable
	}
	return writeReleased(c.out, released)
}

// Close implements connectors.Connector.
func (c *CSV) Close() error {
	var errs []error
	if c.out != nil {
		c.out.Flush()
		errs = append(errs, c.out.Error(), c.outFile.Close())
	}
	if c.file != nil {
		errs = append(errs, c.file.Close())
	}
	return errors.Join(errs...)
}

// rawTracker keeps the bytes the CSV reader has consumed, so that each row's
// raw text can be quarantined exactly as it was written.
type rawTracker struct {
	buf  []byte
	base int64 // stream offset of buf[0]
}

func (t *rawTracker) Write(p []byte) (int, error) {
	t.buf = append(t.buf, p...)
	return len(p), nil
}

// advance returns the bytes up to stream offset off and forgets them.
func (t *rawTracker) advance(off int64) string {
	n := int(off - t.base)
	if n < 0 || n > len(t.buf) {
		return ""
	}
	s := string(t.buf[:n])
	t.buf = append(t.buf[:0], t.buf[n:]...)
	t.base = off
	return s
}

// ReadHeader reads the header row of a CSV file, whatever its encoding and
// separator, for proposing a mapping.
func ReadHeader(in io.Reader) ([]string, error) {
	src, sample, _ := decoded(in)
	r := csv.NewReader(src)
	r.Comma = detectSeparator(sample)
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err != nil {
		return nil, errors.New("line 1: the header row cannot be read as CSV")
	}
	return header, nil
}
