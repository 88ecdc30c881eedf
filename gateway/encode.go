package gateway

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"time"

	"github.com/tumarproject/tumar/crypto/batchsig"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/internal/jsonx"
)

// appendJSON appends the released record's JSON form, byte for byte what
// encoding/json writes for it (TestReleasedEncodingIsEncodingJSON and
// FuzzReleasedEncoding hold it to that), without reflection. encoding/json
// would also re-scan the record to check and compact it; appendJSON takes
// it as it is, so the record must be compact JSON as encoding/json writes
// it, as the transformation makes it (encodeObject of htcds values and
// pseudonyms).
func (r *Released) appendJSON(b []byte) ([]byte, error) {
	if y := r.ReleasedAt.Year(); y < 0 || y > 9999 {
		return nil, fmt.Errorf("gateway: encode released record: year %d is outside 0 to 9999", y)
	}
	b = append(b, `{"exchange_id":`...)
	b = jsonx.AppendString(b, r.ExchangeID)
	b = jsonx.AppendMember(b, "decision_id", r.DecisionID)
	b = jsonx.AppendMember(b, "source", r.Source)
	b = jsonx.AppendMember(b, "destination", r.Destination)
	b = jsonx.AppendMember(b, "purpose", r.Purpose)
	b = jsonx.AppendMember(b, "legal_basis", r.LegalBasis)
	b = jsonx.AppendMember(b, "policy_revision", r.PolicyRevision)
	b = append(b, `,"released_at":"`...)
	b = r.ReleasedAt.AppendFormat(b, time.RFC3339Nano)
	b = append(b, '"')
	if r.SourceRecordID != "" {
		b = jsonx.AppendMember(b, "source_record_id", r.SourceRecordID)
	}
	if r.Subject != nil {
		b = append(b, `,"subject":{"keys":`...)
		if r.Subject.Keys == nil {
			b = append(b, "null"...)
		} else {
			b = append(b, '[')
			for i, k := range r.Subject.Keys {
				if i > 0 {
					b = append(b, ',')
				}
				b = jsonx.AppendString(b, k)
			}
			b = append(b, ']')
		}
		b = append(b, '}')
	}
	b = append(b, `,"record":`...)
	if r.Record == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, r.Record...)
	}
	b = append(b, `,"fields":`...)
	b = audit.AppendFieldsOf(b, r.Fields, r.encoded)
	return append(b, '}'), nil
}

// proofBatchPrefix is what a proof's JSON form starts with; the batch
// signature, a JSON string, follows.
const proofBatchPrefix = `{"batch":`

// appendProof appends a release's proof in its JSON form, byte for byte
// what encoding/json writes for it (FuzzProofEncoding): every record of a
// commit gets one, on the committer's serial path.
func appendProof(b []byte, p *batchsig.Proof) []byte {
	return appendProofOf(b, jsonx.AppendString(nil, p.Batch), p)
}

// appendProofOf is appendProof for a proof whose batch, which every proof
// of a commit shares, is already in its JSON form.
func appendProofOf(b, batch []byte, p *batchsig.Proof) []byte {
	b = append(b, proofBatchPrefix...)
	b = append(b, batch...)
	b = append(b, `,"index":`...)
	b = strconv.AppendUint(b, p.Index, 10)
	b = append(b, `,"size":`...)
	b = strconv.AppendUint(b, p.Size, 10)
	b = append(b, `,"path":`...)
	if p.Path == nil {
		b = append(b, "null"...)
	} else {
		b = append(b, '[')
		for i, h := range p.Path {
			if i > 0 {
				b = append(b, ',')
			}
			if h == nil {
				b = append(b, "null"...)
				continue
			}
			b = append(b, '"')
			b = base64.StdEncoding.AppendEncode(b, h)
			b = append(b, '"')
		}
		b = append(b, ']')
	}
	return append(b, '}')
}

// appendJSON appends the receipt's JSON form, byte for byte what
// encoding/json writes for it (FuzzReceiptEncoding). Every exchange answers
// with one, with all its field decisions.
func (r *Receipt) appendJSON(b []byte) []byte {
	b = append(b, `{"exchange_id":`...)
	b = jsonx.AppendString(b, r.ExchangeID)
	b = jsonx.AppendMember(b, "decision_id", r.DecisionID)
	b = jsonx.AppendMember(b, "outcome", string(r.Outcome))
	if r.Rule != "" {
		b = jsonx.AppendMember(b, "rule", r.Rule)
	}
	b = jsonx.AppendMember(b, "policy_revision", r.PolicyRevision)
	if len(r.Fields) > 0 {
		b = append(b, `,"fields":`...)
		b = audit.AppendFieldsOf(b, r.Fields, r.encoded)
	}
	if r.Version != 0 {
		b = append(b, `,"version":`...)
		b = strconv.AppendInt(b, int64(r.Version), 10)
	}
	return append(b, '}')
}
