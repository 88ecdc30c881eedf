package store

import (
	"encoding/base64"
	"encoding/binary"
	"errors"
	"strconv"
	"strings"
)

// The links index keeps a link's key and person packed: both are keyed
// pseudonyms of the gateway's internal domain, 62 characters as strings
// ("tumar.internal:v1:" and 43 of base64url), and 34 bytes packed (a tag,
// the epoch as a uvarint, the 32-byte MAC). Less to write, flush and
// compact for every link; the index at 1,000,000 records holds about
// three million of them. Anything that is not such a pseudonym, in its
// canonical form, is kept as it is after another tag, so that unpacking
// gives back every string exactly.
const (
	internalDomain = "tumar.internal" // config.InternalDomain, which the store does not import
	packedRaw      = 0x00
	packedInternal = 0x01
	macLen         = 32
)

var strictMAC = base64.RawURLEncoding.Strict()

// packLink appends s packed.
func packLink(b []byte, s string) []byte {
	if rest, ok := strings.CutPrefix(s, internalDomain+":v"); ok {
		if i := strings.IndexByte(rest, ':'); i > 0 && rest[0] != '0' {
			epoch, err := strconv.ParseUint(rest[:i], 10, 32)
			mac := rest[i+1:]
			if err == nil && len(mac) == strictMAC.EncodedLen(macLen) {
				var m [macLen]byte
				if n, err := strictMAC.Decode(m[:], []byte(mac)); err == nil && n == macLen {
					b = append(b, packedInternal)
					b = binary.AppendUvarint(b, epoch)
					return append(b, m[:]...)
				}
			}
		}
	}
	return append(append(b, packedRaw), s...)
}

var errPacked = errors.New("links index: a link that does not unpack")

// unpackLink gives back the string packLink packed.
func unpackLink(b []byte) (string, error) {
	out, err := appendUnpacked(make([]byte, 0, len(internalDomain)+13+strictMAC.EncodedLen(macLen)), b)
	return string(out), err
}

// appendUnpacked appends the string packLink packed into b.
func appendUnpacked(out, b []byte) ([]byte, error) {
	if len(b) == 0 {
		return out, errPacked
	}
	switch b[0] {
	case packedRaw:
		return append(out, b[1:]...), nil
	case packedInternal:
		epoch, n := binary.Uvarint(b[1:])
		if n <= 0 || epoch == 0 || epoch > 1<<32-1 || len(b[1+n:]) != macLen {
			return out, errPacked
		}
		out = append(out, internalDomain+":v"...)
		out = strconv.AppendUint(out, epoch, 10)
		out = append(out, ':')
		return strictMAC.AppendEncode(out, b[1+n:]), nil
	}
	return out, errPacked
}
