package audit

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/crypto/keys"
)

// Checkpoint kinds.
const (
	KindCheckpoint = "checkpoint" // the chain up to Seq is signed
	KindTruncation = "truncation" // entries up to Seq were removed by retention
)

// Checkpoint is a signature by the gateway's audit key over the chain up to
// an entry: its seq and hash. Someone who edits an entry and rebuilds the
// chain after it cannot make the old checkpoints match without the key.
type Checkpoint struct {
	Seq    int64
	Kind   string
	Hash   []byte
	Time   time.Time
	Signed string // compact JWS of the payload below
}

type checkpointPayload struct {
	Seq  int64     `json:"seq"`
	Kind string    `json:"kind"`
	Hash string    `json:"hash"`
	Time time.Time `json:"time"`
}

// ErrCheckpoint means a checkpoint's signature or content does not verify.
var ErrCheckpoint = errors.New("audit: checkpoint does not verify")

// Sign makes a checkpoint over (seq, hash) with the keys.SigningKeyAudit key.
func Sign(ctx context.Context, signer keys.Signer, seq int64, hash []byte, kind string, now time.Time) (*Checkpoint, error) {
	op, err := signer.SigningKey(ctx, keys.SigningKeyAudit)
	if err != nil {
		return nil, fmt.Errorf("audit: signing key: %w", err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: op}, (&jose.SignerOptions{}).WithHeader("kid", op.Public().KeyID))
	if err != nil {
		return nil, err
	}
	cp := &Checkpoint{Seq: seq, Kind: kind, Hash: hash, Time: now.UTC().Truncate(time.Second)}
	payload, _ := json.Marshal(checkpointPayload{Seq: seq, Kind: kind, Hash: hex.EncodeToString(hash), Time: cp.Time})
	obj, err := s.Sign(payload)
	if err != nil {
		return nil, fmt.Errorf("audit: sign checkpoint: %w", err)
	}
	if cp.Signed, err = obj.CompactSerialize(); err != nil {
		return nil, err
	}
	return cp, nil
}

// Verify checks the checkpoint's signature against the audit key set and
// that the signed payload is the checkpoint's own seq, kind and hash.
func (cp *Checkpoint) Verify(set jose.JSONWebKeySet) error {
	obj, err := jose.ParseSignedCompact(cp.Signed, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return fmt.Errorf("%w at seq %d: malformed signature", ErrCheckpoint, cp.Seq)
	}
	ks := set.Key(obj.Signatures[0].Header.KeyID)
	if len(ks) != 1 {
		return fmt.Errorf("%w at seq %d: signed by an unknown key", ErrCheckpoint, cp.Seq)
	}
	payload, err := obj.Verify(ks[0].Key)
	if err != nil {
		return fmt.Errorf("%w at seq %d: forged signature", ErrCheckpoint, cp.Seq)
	}
	var p checkpointPayload
	if err := json.Unmarshal(payload, &p); err != nil || p.Seq != cp.Seq || p.Kind != cp.Kind || p.Hash != hex.EncodeToString(cp.Hash) {
		return fmt.Errorf("%w at seq %d: the stored checkpoint differs from what was signed", ErrCheckpoint, cp.Seq)
	}
	return nil
}

// HasField reports whether the entry decided about an HTCDS field.
func (e *Entry) HasField(name string) bool {
	for _, f := range e.Fields {
		if f.Field == name {
			return true
		}
	}
	return false
}
