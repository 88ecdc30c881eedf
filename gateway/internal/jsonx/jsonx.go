// Package jsonx writes JSON without reflection, byte for byte as
// encoding/json does. Hashes are taken over those bytes (audit entries,
// released records), so a faster encoder must never change one.
package jsonx

import (
	"encoding/json"
	"strings"
	"unicode/utf8"

	"github.com/go-json-experiment/json/jsontext"
)

// AppendString appends s as a JSON string exactly as encoding/json writes it:
// <, > and & escaped for HTML, U+2028 and U+2029 escaped, invalid UTF-8
// replaced. The rare strings that need any of that take encoding/json's own
// path.
func AppendString(b []byte, s string) []byte {
	if plain(s) {
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	if strings.ContainsAny(s, "<>&\u2028\u2029") || !utf8.ValidString(s) {
		out, _ := json.Marshal(s) // a string always encodes
		return append(b, out...)
	}
	b, _ = jsontext.AppendQuote(b, s) // valid UTF-8 always quotes
	return b
}

// AppendMember appends `,"name":` and value as a JSON string, as
// encoding/json writes a string member after the first; name must need no
// escaping.
func AppendMember(b []byte, name, value string) []byte {
	b = append(b, ',', '"')
	b = append(b, name...)
	b = append(b, '"', ':')
	return AppendString(b, value)
}

// plain reports whether s is printable ASCII that JSON needs no escape for:
// most of what Tumar writes (ids, field names, rules, pseudonyms).
func plain(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < 0x20 || c >= 0x7f || c == '"' || c == '\\' || c == '<' || c == '>' || c == '&' {
			return false
		}
	}
	return true
}
