package audit

import (
	"crypto/sha256"
	"encoding/base64"
	"slices"
	"strconv"
	"time"

	"github.com/tumarproject/tumar/gateway/internal/jsonx"
)

// appendHashed appends the entry's hashed JSON form (the entry without its
// hash) without reflection. It is byte for byte what encoding/json writes
// for the Entry struct with Hash nil: every hash in every stored chain was
// taken over those bytes, so TestHashedFormIsEncodingJSON and FuzzHashedForm
// hold it to that. The writer of a group commit encodes every entry, so this
// is on the serial path.
func (e *Entry) appendHashed(b []byte) []byte {
	b, _ = e.appendBody(b, false)
	return b
}

// appendBody is appendHashed, leaving out Encoded's bytes when omitShared
// and the entry's fields are the ones Encoded was made for. sharedAt is
// where they are, or would be, in b; -1 when the fields are not shared.
func (e *Entry) appendBody(b []byte, omitShared bool) (_ []byte, sharedAt int) {
	sharedAt = -1
	b = append(b, `{"seq":`...)
	b = strconv.AppendInt(b, e.Seq, 10)
	b = jsonx.AppendMember(b, "decision_id", e.DecisionID)
	b = append(b, `,"time":"`...)
	b = e.Time.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	b = jsonx.AppendMember(b, "event", e.Event)
	if e.TokenID != "" {
		b = jsonx.AppendMember(b, "token_id", e.TokenID)
	}
	b = jsonx.AppendMember(b, "source", e.Source)
	b = jsonx.AppendMember(b, "destination", e.Destination)
	b = jsonx.AppendMember(b, "purpose", e.Purpose)
	b = jsonx.AppendMember(b, "legal_basis", e.LegalBasis)
	b = jsonx.AppendMember(b, "policy_revision", e.PolicyRevision)
	if e.Rule != "" {
		b = jsonx.AppendMember(b, "rule", e.Rule)
	}
	b = jsonx.AppendMember(b, "outcome", string(e.Outcome))
	if e.Subject != "" {
		b = jsonx.AppendMember(b, "subject", e.Subject)
	}
	if len(e.Fields) > 0 {
		b = append(b, `,"fields":`...)
		switch {
		case omitShared && e.Encoded.isFor(e.Fields):
			sharedAt = len(b)
		default:
			b = AppendFieldsOf(b, e.Fields, e.Encoded)
		}
	}
	if len(e.Reasons) > 0 {
		b = append(b, `,"reasons":[`...)
		for i, r := range e.Reasons {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonx.AppendString(b, r)
		}
		b = append(b, ']')
	}
	if len(e.Details) > 0 {
		keys := make([]string, 0, len(e.Details))
		for k := range e.Details {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		b = append(b, `,"details":{`...)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = jsonx.AppendString(b, k)
			b = append(b, ':')
			b = jsonx.AppendString(b, e.Details[k])
		}
		b = append(b, '}')
	}
	b = append(b, `,"prev_hash":`...)
	if e.PrevHash == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '"')
		b = base64.StdEncoding.AppendEncode(b, e.PrevHash)
		b = append(b, '"')
	}
	return append(b, '}'), sharedAt
}

// EncodedFields is a list of field decisions with its JSON form, encoded
// once: records that share a policy decision share their field decisions,
// in their audit entries, released records and receipts. Neither may be
// modified once made.
type EncodedFields struct {
	List []FieldAction
	JSON []byte
	Sum  [sha256.Size]byte // SHA-256 of JSON: a store keeps the bytes once, under it
}

// EncodeFields encodes list once, as AppendFields writes it.
func EncodeFields(list []FieldAction) *EncodedFields {
	enc := &EncodedFields{List: list, JSON: AppendFields(nil, list)}
	enc.Sum = sha256.Sum256(enc.JSON)
	return enc
}

// isFor reports whether enc was made for fields itself.
func (enc *EncodedFields) isFor(fields []FieldAction) bool {
	return enc != nil && len(fields) > 0 && len(enc.List) == len(fields) && &enc.List[0] == &fields[0]
}

// AppendFieldsOf is AppendFields, taking the bytes from enc when enc was
// made for fields itself (the same slice, not an equal one).
func AppendFieldsOf(b []byte, fields []FieldAction, enc *EncodedFields) []byte {
	if enc.isFor(fields) {
		return append(b, enc.JSON...)
	}
	return AppendFields(b, fields)
}

// AppendFields appends field decisions as a JSON array, byte for byte as
// encoding/json writes them (null for nil).
func AppendFields(b []byte, fields []FieldAction) []byte {
	if fields == nil {
		return append(b, "null"...)
	}
	b = append(b, '[')
	for i, f := range fields {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"field":`...)
		b = jsonx.AppendString(b, f.Field)
		b = jsonx.AppendMember(b, "action", f.Action)
		b = jsonx.AppendMember(b, "rule", f.Rule)
		b = append(b, '}')
	}
	return append(b, ']')
}
