package store

import (
	"encoding/binary"
	"errors"
	"strings"

	"github.com/tumarproject/tumar/crypto/keys"
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
	macLen         = len(keys.Pseudonym{}.MAC)
)

// packLink appends s packed.
func packLink(b []byte, s string) []byte {
	if strings.HasPrefix(s, internalDomain+":v") {
		if p, err := keys.ParsePseudonym(s); err == nil && p.Domain == internalDomain {
			var buf [128]byte
			if string(p.Append(buf[:0])) == s { // canonical: unpacking gives s back
				b = append(b, packedInternal)
				b = binary.AppendUvarint(b, uint64(p.Epoch))
				return append(b, p.MAC[:]...)
			}
		}
	}
	return append(append(b, packedRaw), s...)
}

var errPacked = errors.New("links index: a link that does not unpack")

// unpackLink gives back the string packLink packed.
func unpackLink(b []byte) (string, error) {
	out, err := appendUnpacked(make([]byte, 0, 64), b)
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
		return keys.Pseudonym{Domain: internalDomain, Epoch: uint32(epoch), MAC: [macLen]byte(b[1+n:])}.Append(out), nil
	}
	return out, errPacked
}
