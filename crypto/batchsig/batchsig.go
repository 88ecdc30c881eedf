// Package batchsig signs many released records with one signature and keeps
// each verifiable on its own: the records are the leaves of an RFC 6962
// Merkle tree, the gateway signs the tree's root once per commit, and each
// record carries its inclusion proof. A recipient checks its record against
// the signed root without seeing any other record of the batch.
package batchsig

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/transparency-dev/merkle/proof"
	"github.com/transparency-dev/merkle/rfc6962"

	"github.com/tumarproject/tumar/crypto/keys"
)

// Type is the JWS "typ" of a signed batch root; Verify refuses any other, so
// a root cannot pass for another statement of the same key.
const Type = "tumar-release-batch"

// MaxBatch bounds a batch, and so a proof's length.
const MaxBatch = 1 << 16

// Proof shows that one record belongs to a signed batch.
type Proof struct {
	Batch string   `json:"batch"` // compact JWS of the batch statement
	Index uint64   `json:"index"` // the record's leaf
	Size  uint64   `json:"size"`  // leaves in the batch
	Path  [][]byte `json:"path"`  // sibling hashes, leaf to root
}

// statement is what the gateway signs.
type statement struct {
	Root     []byte    `json:"root"`
	Size     uint64    `json:"size"`
	SignedAt time.Time `json:"signed_at"`
}

var hasher = rfc6962.DefaultHasher

// Sign signs the records of one batch with the named key and returns each
// record's proof, in order.
func Sign(ctx context.Context, signer keys.Signer, keyName string, records [][]byte, now time.Time) ([]Proof, error) {
	leaves := make([][]byte, len(records))
	for i, r := range records {
		leaves[i] = Leaf(r)
	}
	return SignLeaves(ctx, signer, keyName, leaves, now)
}

// Leaf is a record's leaf hash (RFC 6962: SHA-256 of 0x00 and the record).
// A caller that hashes its records as they are made, in parallel, signs
// the batch with SignLeaves.
func Leaf(record []byte) []byte { return hasher.HashLeaf(record) }

// SignLeaves is Sign for records whose leaf hashes (Leaf) are already made.
func SignLeaves(ctx context.Context, signer keys.Signer, keyName string, leaves [][]byte, now time.Time) ([]Proof, error) {
	if len(leaves) == 0 || len(leaves) > MaxBatch {
		return nil, fmt.Errorf("batchsig: a batch holds 1 to %d records, not %d", MaxBatch, len(leaves))
	}
	for i, l := range leaves {
		if len(l) != sha256.Size {
			return nil, fmt.Errorf("batchsig: leaf %d is %d bytes, not a SHA-256 hash", i, len(l))
		}
	}
	op, err := signer.SigningKey(ctx, keyName)
	if err != nil {
		return nil, fmt.Errorf("batchsig: signing key: %w", err)
	}
	s, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.EdDSA, Key: op},
		(&jose.SignerOptions{}).WithType(Type).WithHeader("kid", op.Public().KeyID))
	if err != nil {
		return nil, fmt.Errorf("batchsig: %w", err)
	}
	levels := treeLevels(leaves)
	root := levels[len(levels)-1][0]
	body, err := json.Marshal(statement{Root: root, Size: uint64(len(leaves)), SignedAt: now.UTC().Truncate(time.Second)})
	if err != nil {
		return nil, err
	}
	obj, err := s.Sign(body)
	if err != nil {
		return nil, fmt.Errorf("batchsig: sign: %w", err)
	}
	jws, err := obj.CompactSerialize()
	if err != nil {
		return nil, err
	}
	out := make([]Proof, len(leaves))
	// Every path is at most a hash a level, and they share one array. A
	// batch of one has no path: nil, which a proof's JSON says as null.
	paths := make([][]byte, 0, len(leaves)*(len(levels)-1))
	for i := range leaves {
		out[i] = Proof{Batch: jws, Index: uint64(i), Size: uint64(len(leaves))}
		if len(levels) > 1 {
			start := len(paths)
			paths = appendPath(paths, levels, i)
			out[i].Path = paths[start:len(paths):len(paths)]
		}
	}
	return out, nil
}

// treeLevels computes RFC 6962's Merkle tree of leaves bottom up: each
// level pairs the nodes of the one below, and a last node without a pair
// goes up as it is. That is the tree of section 2.1, whose split at the
// largest power of two below n leaves every such node at the right edge.
// The first level is leaves, the last the root alone.
func treeLevels(leaves [][]byte) [][][]byte {
	levels := [][][]byte{leaves}
	for below := leaves; len(below) > 1; {
		up := make([][]byte, 0, (len(below)+1)/2)
		for i := 0; i < len(below); i += 2 {
			if i+1 == len(below) {
				up = append(up, below[i])
				break
			}
			up = append(up, hasher.HashChildren(below[i], below[i+1]))
		}
		levels = append(levels, up)
		below = up
	}
	return levels
}

// appendPath appends RFC 6962's audit path of leaf m (section 2.1.1),
// leaf to root: at each level, the sibling of the node above the leaf,
// unless that node has none and goes up as it is.
func appendPath(path [][]byte, levels [][][]byte, m int) [][]byte {
	for _, level := range levels[:len(levels)-1] {
		if sib := m ^ 1; sib < len(level) {
			path = append(path, level[sib])
		}
		m >>= 1
	}
	return path
}

// ErrInvalid means a proof does not verify. Its message says which check
// failed, never anything of the record.
var ErrInvalid = errors.New("batchsig: proof does not verify")

// Verify checks that record is in a batch signed by a key of set.
func Verify(record []byte, p *Proof, set jose.JSONWebKeySet) error {
	if p.Size == 0 || p.Size > MaxBatch || p.Index >= p.Size || len(p.Path) > 64 {
		return fmt.Errorf("%w: index %d, size %d and a path of %d are not a proof", ErrInvalid, p.Index, p.Size, len(p.Path))
	}
	obj, err := jose.ParseSignedCompact(p.Batch, []jose.SignatureAlgorithm{jose.EdDSA})
	if err != nil {
		return fmt.Errorf("%w: the batch is not a compact EdDSA JWS", ErrInvalid)
	}
	h := obj.Signatures[0].Header
	if typ, _ := h.ExtraHeaders[jose.HeaderType].(string); typ != Type {
		return fmt.Errorf("%w: the batch is not of type %s", ErrInvalid, Type)
	}
	ks := set.Key(h.KeyID)
	if len(ks) != 1 {
		return fmt.Errorf("%w: signed by an unknown key", ErrInvalid)
	}
	body, err := obj.Verify(ks[0].Key)
	if err != nil {
		return fmt.Errorf("%w: bad signature", ErrInvalid)
	}
	var st statement
	if err := json.Unmarshal(body, &st); err != nil || len(st.Root) != sha256.Size {
		return fmt.Errorf("%w: the signed statement is malformed", ErrInvalid)
	}
	if st.Size != p.Size {
		return fmt.Errorf("%w: the proof's size %d is not the signed size %d", ErrInvalid, p.Size, st.Size)
	}
	if err := proof.VerifyInclusion(hasher, p.Index, p.Size, hasher.HashLeaf(record), p.Path, st.Root); err != nil {
		return fmt.Errorf("%w: the record is not the one signed", ErrInvalid)
	}
	return nil
}

// Parse reads a proof as the inbox serves it.
func Parse(b []byte) (*Proof, error) {
	var p Proof
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("%w: not a proof object", ErrInvalid)
	}
	if p.Batch == "" || len(p.Path) > 64 {
		return nil, fmt.Errorf("%w: not a proof object", ErrInvalid)
	}
	for _, h := range p.Path {
		if len(h) != sha256.Size {
			return nil, fmt.Errorf("%w: a path hash is not 32 bytes", ErrInvalid)
		}
	}
	return &p, nil
}
