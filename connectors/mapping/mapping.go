// Package mapping turns a row of a spreadsheet, whose column names are
// whatever an NGO chose (often Russian or Kyrgyz), into a canonical HTCDS
// record. A mapping file names, for every column, the HTCDS field it fills
// or that it is deliberately ignored; values are converted by the field's
// kind (local date formats, yes/no in three languages, picklist synonyms).
//
// Errors name the column and the field, never the value.
package mapping

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"sort"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
	"golang.org/x/text/unicode/norm"

	"github.com/tumarproject/tumar/crypto/identity"
	"github.com/tumarproject/tumar/gateway/htcds"
)

// Mapping is a parsed mapping file.
type Mapping struct {
	// SourceID is the column holding the source's own record id.
	SourceID string `yaml:"source_id"`
	// Columns maps a column name to an HTCDS field.
	Columns map[string]Column `yaml:"columns"`
	// Ignore lists columns that are deliberately not imported.
	Ignore []string `yaml:"ignore"`
}

// Column says how one column fills one field.
type Column struct {
	Field string `yaml:"field"`
	// Values maps the source's words to HTCDS picklist values (case-insensitive).
	Values map[string]string `yaml:"values,omitempty"`
	// Separator splits list fields; default ";".
	Separator string `yaml:"separator,omitempty"`
}

// UnmarshalYAML accepts a bare field name or the full form.
func (c *Column) UnmarshalYAML(n *yaml.Node) error {
	if n.Kind == yaml.ScalarNode {
		c.Field = n.Value
		return nil
	}
	type plain Column
	return n.Decode((*plain)(c))
}

// Load reads and checks a mapping file.
func Load(path string) (*Mapping, error) {
	raw, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mapping: %w", err)
	}
	var m Mapping
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("mapping: %s: %w", path, err)
	}
	if err := m.check(); err != nil {
		return nil, fmt.Errorf("mapping: %s:\n%w", path, err)
	}
	return &m, nil
}

// check reports every problem of the mapping itself.
func (m *Mapping) check() error {
	var errs []error
	fields := map[string]string{}
	for col, c := range m.Columns {
		f, ok := htcds.Lookup(c.Field)
		if !ok {
			errs = append(errs, fmt.Errorf("column %q: %q is not an HTCDS field", col, c.Field))
			continue
		}
		if prev, dup := fields[c.Field]; dup {
			errs = append(errs, fmt.Errorf("columns %q and %q both fill %s", prev, col, c.Field))
		}
		fields[c.Field] = col
		for from, to := range c.Values {
			if !slicesContains(f.Values, to) {
				errs = append(errs, fmt.Errorf("column %q: value %q maps to %q, which is not in the %s picklist", col, from, to, f.Name))
			}
		}
	}
	return errors.Join(errs...)
}

func slicesContains(list []string, v string) bool {
	for _, s := range list {
		if s == v {
			return true
		}
	}
	return false
}

// Plan is a mapping bound to one file's header row: for each column, the
// field it fills, or nil when it is ignored or is the record id.
type Plan struct {
	m        *Mapping
	header   []string
	fields   []*htcds.Field
	columns  []Column
	sourceID int // index of the source id column, -1 when there is none
	mapped   int // columns mapped to a field: a record's most fields
}

// Bind checks a header row against the mapping: every column must be mapped
// or ignored, and every mapped column must be present.
func (m *Mapping) Bind(header []string) (*Plan, error) {
	p := &Plan{m: m, header: header, fields: make([]*htcds.Field, len(header)), columns: make([]Column, len(header)), sourceID: -1}
	ignored := map[string]bool{}
	for _, c := range m.Ignore {
		ignored[Clean(c)] = true
	}
	byName := map[string]Column{}
	for name, c := range m.Columns {
		byName[Clean(name)] = c
	}
	seen := map[string]bool{}
	var unmapped []string
	for i, h := range header {
		name := Clean(h)
		seen[name] = true
		switch c, ok := byName[name]; {
		case name == Clean(m.SourceID) && m.SourceID != "":
			p.sourceID = i
		case ok:
			f, _ := htcds.Lookup(c.Field)
			p.fields[i], p.columns[i] = f, c
			p.mapped++
		case ignored[name] || name == "":
		default:
			unmapped = append(unmapped, strconv.Quote(h))
		}
	}
	var errs []error
	if len(unmapped) > 0 {
		errs = append(errs, fmt.Errorf("header: columns neither mapped nor ignored: %s", strings.Join(unmapped, ", ")))
	}
	var missing []string
	for name := range m.Columns {
		if !seen[Clean(name)] {
			missing = append(missing, strconv.Quote(name))
		}
	}
	if m.SourceID != "" && p.sourceID < 0 {
		missing = append(missing, strconv.Quote(m.SourceID)+" (source_id)")
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		errs = append(errs, fmt.Errorf("header: mapped columns not in the file: %s", strings.Join(missing, ", ")))
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return p, nil
}

// Header returns the header the plan was bound to.
func (p *Plan) Header() []string { return p.header }

// Row converts one row. It returns the source's record id and the record, or
// an error naming every bad column.
func (p *Plan) Row(cells []string) (string, *htcds.Record, error) {
	if len(cells) != len(p.header) {
		return "", nil, fmt.Errorf("has %d cells, the header has %d", len(cells), len(p.header))
	}
	var (
		rec  htcds.Record
		errs []error
		id   string
	)
	if p.sourceID >= 0 {
		id = strings.TrimSpace(cells[p.sourceID])
	}
	rec.Grow(p.mapped)
	for i, cell := range cells {
		f := p.fields[i]
		cell = strings.TrimSpace(norm.NFC.String(cell))
		if f == nil || cell == "" {
			continue
		}
		v, err := convert(f, p.columns[i], cell)
		if err != nil {
			errs = append(errs, fmt.Errorf("column %q (%s): %w", p.header[i], f.Name, err))
			continue
		}
		rec.Set(f.ID, v)
	}
	if err := rec.Validate(); err != nil {
		errs = append(errs, err)
	}
	if len(errs) > 0 {
		return id, nil, errors.Join(errs...)
	}
	return id, &rec, nil
}

// convert turns one cell into a value of the field's kind.
func convert(f *htcds.Field, c Column, cell string) (htcds.Value, error) {
	switch f.Kind {
	case htcds.Date:
		d, err := identity.NormalizeDate(cell)
		if err != nil {
			return htcds.Value{}, errors.New("not a date in a known form (YYYY-MM-DD, DD.MM.YYYY, DD/MM/YYYY ...)")
		}
		return htcds.Value{Str: d}, nil
	case htcds.Picklist:
		v, err := pick(f, c, cell)
		return htcds.Value{Str: v}, err
	case htcds.MultiPicklist, htcds.CountryList:
		var list []string
		for _, part := range split(cell, c.Separator) {
			var (
				v   string
				err error
			)
			if f.Kind == htcds.MultiPicklist {
				v, err = pick(f, c, part)
			} else {
				v = country(c, part)
			}
			if err != nil {
				return htcds.Value{}, err
			}
			list = append(list, v)
		}
		return htcds.Value{List: list}, nil
	case htcds.Country:
		return htcds.Value{Str: country(c, cell)}, nil
	case htcds.Language:
		return htcds.Value{Str: strings.ToLower(cell)}, nil
	case htcds.Integer, htcds.Number:
		n, err := strconv.ParseFloat(strings.ReplaceAll(strings.ReplaceAll(cell, " ", ""), ",", "."), 64)
		if err != nil {
			return htcds.Value{}, errors.New("not a number")
		}
		return htcds.Value{Num: n}, nil
	case htcds.Boolean:
		b, ok := yesNo[strings.ToLower(cell)]
		if !ok {
			return htcds.Value{}, errors.New("not yes or no (да/нет, ооба/жок, yes/no, 1/0)")
		}
		return htcds.Value{Bool: b}, nil
	}
	return htcds.Value{Str: cell}, nil
}

var yesNo = map[string]bool{
	"да": true, "нет": false, "ооба": true, "жок": false, "yes": true, "no": false,
	"true": true, "false": false, "1": true, "0": false, "+": true, "-": false, "y": true, "n": false,
}

// pick maps a word to a picklist value: the column's own synonyms first,
// then the picklist value itself, case-insensitively.
func pick(f *htcds.Field, c Column, word string) (string, error) {
	w := strings.ToLower(strings.TrimSpace(word))
	for from, to := range c.Values {
		if strings.ToLower(from) == w {
			return to, nil
		}
	}
	for _, v := range f.Values {
		if strings.ToLower(v) == w {
			return v, nil
		}
	}
	return "", errors.New("a value is not in the picklist and has no synonym in the mapping")
}

func country(c Column, word string) string {
	w := strings.TrimSpace(word)
	for from, to := range c.Values {
		if strings.EqualFold(from, w) {
			return to
		}
	}
	return strings.ToUpper(w)
}

func split(cell, sep string) []string {
	if sep == "" {
		sep = ";"
	}
	var out []string
	for _, p := range strings.Split(cell, sep) {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Clean is how column names are compared: NFKC, lower case, single spaces,
// no surrounding punctuation or byte-order mark.
func Clean(s string) string {
	s = strings.TrimPrefix(s, "\ufeff")
	s = strings.ToLower(strings.Join(strings.Fields(norm.NFKC.String(s)), " "))
	return strings.Trim(s, " .:;*")
}
