package htcds

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/agnivade/levenshtein"
	"github.com/go-json-experiment/json/jsontext"

	"github.com/tumarproject/tumar/gateway/internal/jsonx"
)

// Value is one field's value. Which part is meaningful follows the field's
// Kind: Str for strings and dates, List for arrays, Num for numbers, Bool for
// booleans.
type Value struct {
	Str  string
	List []string
	Num  float64
	Bool bool
}

// Entry is one field of a record with its value.
type Entry struct {
	ID    FieldID
	Value Value
}

// Field returns the entry's catalogue field.
func (e Entry) Field() *Field { return &catalogue[e.ID] }

// Record is one canonical HTCDS record: a set of fields, kept in catalogue
// order, each at most once. The zero Record is empty and ready to use.
//
// A record holds a victim's data. Nothing in this package formats a value into
// an error or a string meant for a log.
type Record struct {
	entries []Entry
}

// Len returns the number of fields set.
func (r *Record) Len() int { return len(r.entries) }

// Entries returns the fields in catalogue order. The slice must not be modified.
func (r *Record) Entries() []Entry { return r.entries }

// FieldSet is a set of catalogue fields as a bit set: a comparable value,
// for a key that stands for a record's field names.
type FieldSet [4]uint64

// FieldSet returns the set of the record's fields.
func (r *Record) FieldSet() FieldSet {
	var s FieldSet
	for _, e := range r.entries {
		s[e.ID/64] |= 1 << (e.ID % 64)
	}
	return s
}

// Get returns the value of a field.
func (r *Record) Get(id FieldID) (Value, bool) {
	i, ok := r.find(id)
	if !ok {
		return Value{}, false
	}
	return r.entries[i].Value, true
}

// Set sets a field, replacing any earlier value. It does not validate: use
// Validate before trusting a record built by hand.
func (r *Record) Set(id FieldID, v Value) {
	i, ok := r.find(id)
	if ok {
		r.entries[i].Value = v
		return
	}
	r.entries = slices.Insert(r.entries, i, Entry{ID: id, Value: v})
}

// Grow makes room for n more fields, so that setting them allocates once.
func (r *Record) Grow(n int) { r.entries = slices.Grow(r.entries, n) }

// SetString is Set for the string kinds.
func (r *Record) SetString(name, s string) error {
	f, ok := Lookup(name)
	if !ok {
		return &FieldError{Field: name, Problem: "is not an HTCDS field"}
	}
	r.Set(f.ID, Value{Str: s})
	return nil
}

func (r *Record) find(id FieldID) (int, bool) {
	return slices.BinarySearchFunc(r.entries, id, func(e Entry, id FieldID) int { return int(e.ID) - int(id) })
}

// FieldError is one problem with one field. Its message names the field and
// the problem, never the value.
type FieldError struct {
	Field   string // the HTCDS name, or a position when the name itself is not safe to repeat
	Problem string
}

func (e *FieldError) Error() string { return "field " + e.Field + ": " + e.Problem }

// ErrInvalid is wrapped by every validation error.
var ErrInvalid = errors.New("invalid HTCDS record")

// ValidationError lists every problem found in a record.
type ValidationError struct {
	Problems []*FieldError
}

func (e *ValidationError) Error() string {
	var b bytes.Buffer
	b.WriteString("invalid HTCDS record: ")
	for i, p := range e.Problems {
		if i > 0 {
			b.WriteString("; ")
		}
		b.WriteString(p.Error())
	}
	return b.String()
}

// Unwrap lets callers test for ErrInvalid.
func (e *ValidationError) Unwrap() error { return ErrInvalid }

// MaxListItems bounds the values of one list field.
const MaxListItems = 64

// MaxValueBytes bounds one string value; longer values are refused rather than
// stored, since nothing in HTCDS needs more.
const MaxValueBytes = 8 << 10

// safeName matches field names that are safe to repeat in an error: shaped like
// HTCDS names, so they cannot carry a person's name in Cyrillic or with spaces.
var safeName = regexp.MustCompile(`^[a-z]{3}_[A-Za-z0-9]{1,60}$`)

// UnmarshalJSON decodes a JSON object of HTCDS fields, refusing unknown and
// repeated fields, values of the wrong type, values outside a picklist and
// impossible dates. Every problem is reported, each naming its field.
func (r *Record) UnmarshalJSON(data []byte) error {
	if !utf8.Valid(data) {
		return &ValidationError{Problems: []*FieldError{{Field: "(record)", Problem: "is not valid UTF-8"}}}
	}
	// Repeated names are allowed through the tokenizer so that they are
	// reported by field, with every other problem, below.
	dec := jsontext.NewDecoder(bytes.NewReader(data), jsontext.AllowDuplicateNames(true))
	if tok, err := dec.ReadToken(); err != nil || tok.Kind() != '{' {
		return &ValidationError{Problems: []*FieldError{{Field: "(record)", Problem: "must be a JSON object"}}}
	}
	r.entries = r.entries[:0]
	var (
		problems []*FieldError
		seen     fieldSet
	)
	for pos := 1; dec.PeekKind() != '}'; pos++ {
		tok, err := dec.ReadToken()
		if err != nil {
			return syntaxError(err)
		}
		name := tok.String()
		f, ok := Lookup(name)
		if !ok {
			if err := dec.SkipValue(); err != nil {
				return syntaxError(err)
			}
			problems = append(problems, unknownField(name, pos))
			continue
		}
		raw, err := dec.ReadValue()
		if err != nil {
			return syntaxError(err)
		}
		if seen.has(f.ID) {
			problems = append(problems, &FieldError{Field: f.Name, Problem: "appears more than once"})
			continue
		}
		seen.add(f.ID)
		v, perr := decodeValue(f, raw)
		if perr != nil {
			problems = append(problems, perr)
			continue
		}
		r.Set(f.ID, v)
	}
	if _, err := dec.ReadToken(); err != nil {
		return syntaxError(err)
	}
	if _, err := dec.ReadToken(); err != io.EOF {
		return &ValidationError{Problems: []*FieldError{{Field: "(record)", Problem: "has data after the object"}}}
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

// fieldSet is a set of catalogue fields, one bit each.
type fieldSet []uint64

func (s fieldSet) has(id FieldID) bool {
	return int(id/64) < len(s) && s[id/64]&(1<<(id%64)) != 0
}

func (s *fieldSet) add(id FieldID) {
	for int(id/64) >= len(*s) {
		*s = append(*s, 0)
	}
	(*s)[id/64] |= 1 << (id % 64)
}

// unknownField reports a field name outside HTCDS by its position. The name
// itself is never repeated: a key can carry a document number or a name
// ("doc_AN1234567"). When a catalogue name is a likely misspelling of it,
// that catalogue name is suggested.
func unknownField(name string, pos int) *FieldError {
	problem := "is not an HTCDS field"
	if s := suggest(name); s != "" {
		problem += " (did you mean " + s + "?)"
	}
	return &FieldError{Field: "#" + strconv.Itoa(pos), Problem: problem}
}

// suggest returns the catalogue name closest to name, if it is within two
// edits and name looks like an HTCDS name.
func suggest(name string) string {
	if !safeName.MatchString(name) {
		return ""
	}
	best, bestDist := "", 3
	for _, f := range catalogue {
		if d := levenshtein.ComputeDistance(strings.ToLower(name), strings.ToLower(f.Name)); d < bestDist {
			best, bestDist = f.Name, d
		}
	}
	return best
}

// syntaxError reports a JSON syntax error by offset only: the JSON
// libraries' messages can quote the offending input.
func syntaxError(err error) error {
	var se *jsontext.SyntacticError
	if errors.As(err, &se) {
		return &ValidationError{Problems: []*FieldError{{Field: "(record)", Problem: "is malformed JSON near byte " + strconv.FormatInt(se.ByteOffset, 10)}}}
	}
	var je *json.SyntaxError
	if errors.As(err, &je) {
		return &ValidationError{Problems: []*FieldError{{Field: "(record)", Problem: "is malformed JSON near byte " + strconv.FormatInt(je.Offset, 10)}}}
	}
	return &ValidationError{Problems: []*FieldError{{Field: "(record)", Problem: "is malformed JSON"}}}
}

func decodeValue(f *Field, raw jsontext.Value) (Value, *FieldError) {
	bad := func(problem string) (Value, *FieldError) {
		return Value{}, &FieldError{Field: f.Name, Problem: problem}
	}
	kind := raw.Kind()
	if kind == 'n' {
		return bad("must not be null (leave the field out when there is no value)")
	}
	var v Value
	switch {
	case f.Kind.list():
		list, ok := stringList(raw)
		if !ok {
			return bad("must be an array of strings")
		}
		v.List = list
	case f.Kind == Integer || f.Kind == Number:
		if kind != '0' {
			return bad("must be a number")
		}
		n, err := strconv.ParseFloat(string(raw), 64)
		if err != nil {
			return bad("must be a number")
		}
		v.Num = n
	case f.Kind == Boolean:
		if kind != 't' && kind != 'f' {
			return bad("must be true or false")
		}
		return Value{Bool: kind == 't'}, nil
	default:
		if kind != '"' {
			return bad("must be a string")
		}
		s, ok := unquote(raw)
		if !ok {
			return bad("must be a string")
		}
		v.Str = s
	}
	if p := checkValue(f, v); p != "" {
		return bad(p)
	}
	return v, nil
}

// unquote returns a JSON string's value, copying only when it has escapes.
func unquote(raw jsontext.Value) (string, bool) {
	if len(raw) >= 2 && bytes.IndexByte(raw, '\\') < 0 {
		return string(raw[1 : len(raw)-1]), true
	}
	b, err := jsontext.AppendUnquote(nil, raw)
	return string(b), err == nil
}

// stringList decodes a JSON array of strings.
func stringList(raw jsontext.Value) ([]string, bool) {
	if raw.Kind() != '[' {
		return nil, false
	}
	dec := jsontext.NewDecoder(bytes.NewReader(raw))
	if _, err := dec.ReadToken(); err != nil {
		return nil, false
	}
	list := []string{}
	for dec.PeekKind() != ']' {
		if dec.PeekKind() != '"' {
			return nil, false
		}
		tok, err := dec.ReadToken()
		if err != nil {
			return nil, false
		}
		list = append(list, tok.String())
	}
	return list, true
}

// checkValue returns what is wrong with a value, or "".
func checkValue(f *Field, v Value) string {
	switch f.Kind {
	case Picklist:
		if _, ok := idx.picklists[f.ID][v.Str]; !ok {
			return "value is not in the HTCDS picklist"
		}
	case MultiPicklist:
		if len(v.List) > MaxListItems {
			return "has more than " + strconv.Itoa(MaxListItems) + " values"
		}
		for _, s := range v.List {
			if _, ok := idx.picklists[f.ID][s]; !ok {
				return "a value is not in the HTCDS picklist"
			}
		}
	case Date:
		t, err := ParseDate(v.Str)
		if err != nil {
			return "is not a possible date in the form YYYY-MM-DD"
		}
		if f.Role == RoleBirthdate && (t.Year() < 1900 || t.After(time.Now())) {
			return "is not a possible birth date (before 1900 or in the future)"
		}
	case Integer:
		if v.Num != math.Trunc(v.Num) || v.Num < 0 || v.Num > 1e6 {
			return "must be a whole number from 0 to 1000000"
		}
	case Number:
		limit := 180.0
		if f.Latitude {
			limit = 90
		}
		if math.IsNaN(v.Num) || math.IsInf(v.Num, 0) || math.Abs(v.Num) > limit {
			return "must be a coordinate from -" + strconv.FormatFloat(limit, 'f', -1, 64) + " to " + strconv.FormatFloat(limit, 'f', -1, 64)
		}
	case Country:
		if !isCountryCode(v.Str) {
			return "must be an ISO 3166 country code"
		}
	case CountryList:
		if len(v.List) > MaxListItems {
			return "has more than " + strconv.Itoa(MaxListItems) + " values"
		}
		for _, s := range v.List {
			if !isCountryCode(s) {
				return "a value is not an ISO 3166 country code"
			}
		}
	case Language:
		if !isLanguageCode(v.Str) {
			return "must be an ISO 639 language code"
		}
	}
	if len(v.Str) > MaxValueBytes {
		return "is longer than " + strconv.Itoa(MaxValueBytes) + " bytes"
	}
	if f.Kind.stringValued() && f.Kind != FreeText && v.Str == "" {
		return "must not be empty"
	}
	return ""
}

// ParseDate parses a canonical HTCDS date, YYYY-MM-DD, refusing impossible days.
func ParseDate(s string) (time.Time, error) {
	t, err := time.Parse(time.DateOnly, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: not a date in the form YYYY-MM-DD", ErrInvalid)
	}
	return t, nil
}

func isCountryCode(s string) bool  { return (len(s) == 2 || len(s) == 3) && isUpperASCII(s) }
func isLanguageCode(s string) bool { return (len(s) == 2 || len(s) == 3) && isLowerASCII(s) }

func isUpperASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'A' || s[i] > 'Z' {
			return false
		}
	}
	return true
}

func isLowerASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < 'a' || s[i] > 'z' {
			return false
		}
	}
	return true
}

// Validate checks a record built with Set, with the same rules as UnmarshalJSON.
func (r *Record) Validate() error {
	var problems []*FieldError
	for _, e := range r.entries {
		f := e.Field()
		if p := checkValue(f, e.Value); p != "" {
			problems = append(problems, &FieldError{Field: f.Name, Problem: p})
		}
	}
	if len(problems) > 0 {
		return &ValidationError{Problems: problems}
	}
	return nil
}

// MarshalJSON encodes the record as a JSON object in catalogue order.
func (r Record) MarshalJSON() ([]byte, error) {
	b := make([]byte, 0, 64*len(r.entries))
	b = append(b, '{')
	for i, e := range r.entries {
		if i > 0 {
			b = append(b, ',')
		}
		f := e.Field()
		b = append(b, idx.quoted[f.ID]...)
		b = append(b, ':')
		var err error
		if b, err = appendValue(b, f.Kind, e.Value); err != nil {
			return nil, fmt.Errorf("htcds: encode field %s: %w", f.Name, err)
		}
	}
	return append(b, '}'), nil
}

func appendValue(b []byte, k Kind, v Value) ([]byte, error) {
	switch {
	case k.list():
		b = append(b, '[')
		for i, s := range v.List {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = appendString(b, s); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case k == Integer || k == Number:
		return strconv.AppendFloat(b, v.Num, 'f', -1, 64), nil
	case k == Boolean:
		return strconv.AppendBool(b, v.Bool), nil
	default:
		return appendString(b, v.Str)
	}
}

// appendString appends a JSON string as encoding/json writes it.
func appendString(b []byte, s string) ([]byte, error) { return jsonx.AppendString(b, s), nil }

// AppendName appends the entry's field name as a JSON string, encoded once
// for the catalogue.
func (e Entry) AppendName(b []byte) []byte { return append(b, idx.quoted[e.ID]...) }

// AppendJSON appends the entry's value encoded as JSON, in the shape its
// kind takes.
func (e Entry) AppendJSON(b []byte) ([]byte, error) {
	return appendValue(b, e.Field().Kind, e.Value)
}

// JSON returns the entry's value encoded as JSON, in the shape its kind takes.
func (e Entry) JSON() ([]byte, error) {
	return appendValue(nil, e.Field().Kind, e.Value)
}
