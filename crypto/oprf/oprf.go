// Package oprf computes blind pseudonyms: an agency learns the pseudonym of
// an identity it holds without the gateway seeing the identity, and without
// the agency ever holding the key.
//
// It is RFC 9497's verifiable OPRF (VOPRF) over ristretto255 with SHA-512,
// through circl. Every pseudonym domain and epoch has its own OPRF key,
// derived (RFC 9497 DeriveKeyPair) from a 32-byte seed that the domain's
// keyed-pseudonym key yields in crypto/keys, so the OPRF keys live and rotate
// with the HMAC keys, in the file keyring or in Vault. The client checks the
// server's DLEQ proof against the domain's published public key, so the
// gateway cannot answer one agency with a key other than the one it
// publishes.
//
// A blind pseudonym is the first 32 bytes of the OPRF output, written like a
// keyed pseudonym ("<domain>:v<epoch>:<base64url>"); the gateway computes
// the same value itself (FullEvaluate) when it does see the identity.
package oprf

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"

	circl "github.com/cloudflare/circl/oprf"
	"github.com/cloudflare/circl/zk/dleq"

	"github.com/tumarproject/tumar/crypto/keys"
)

// SuiteID names the only suite Tumar speaks, as RFC 9497 names it.
const SuiteID = "ristretto255-SHA512"

// suite is SuiteID in circl.
var suite = circl.SuiteRistretto255

// Sizes on the wire, before base64url.
const (
	ElementSize = 32 // a compressed ristretto255 element
	ProofSize   = 64 // a DLEQ proof: two scalars
	SeedSize    = 32
)

// MaxBatch bounds the elements of one evaluation: a person has at most three
// match keys, and a batch of a few persons is all a client needs.
const MaxBatch = 64

// Errors. None carries an input value: inputs are match keys, which are
// identities.
var (
	// ErrSuite means a request names a suite other than SuiteID.
	ErrSuite = errors.New("oprf: unsupported suite")
	// ErrMalformed means an element or proof is not valid base64url of the
	// right length, or not a canonical encoding of a group element.
	ErrMalformed = errors.New("oprf: malformed element")
	// ErrIdentity means an element is the group's identity, which RFC 9497
	// forbids: its evaluation would reveal nothing but accepts anything.
	ErrIdentity = errors.New("oprf: element is the identity")
	// ErrBatch means a request holds no elements, too many, or the same
	// element twice.
	ErrBatch = errors.New("oprf: bad batch")
	// ErrProof means the server's proof does not verify against the
	// published key: the answer must not be used.
	ErrProof = errors.New("oprf: proof does not verify")
)

// seedLabel is the input whose keyed pseudonym, in a domain and epoch, is the
// seed of that domain's OPRF key. Match-key inputs start with their kind
// ("nb", "doc", "tel") and person inputs with "p", so it never collides.
var seedLabel = []byte("tumar/oprf-seed/v1\x00" + SuiteID)

// SeedInput is what crypto/keys pseudonymises to give a domain's OPRF seed.
func SeedInput() []byte { return append([]byte(nil), seedLabel...) }

// Key is one domain's OPRF key at one epoch, on the gateway.
type Key struct {
	Domain string
	Epoch  uint32
	server circl.VerifiableServer
	public []byte
}

// DeriveKey derives a domain's OPRF key for an epoch from its seed. The
// domain and epoch are bound into the derivation, so one seed cannot give
// two domains the same key.
func DeriveKey(seed []byte, domain string, epoch uint32) (*Key, error) {
	if len(seed) != SeedSize {
		return nil, fmt.Errorf("oprf: seed of %d bytes, want %d", len(seed), SeedSize)
	}
	priv, err := circl.DeriveKey(suite, circl.VerifiableMode, seed, deriveInfo(domain, epoch))
	if err != nil {
		return nil, fmt.Errorf("oprf: derive key: %w", err)
	}
	pub, err := priv.Public().MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("oprf: public key: %w", err)
	}
	return &Key{Domain: domain, Epoch: epoch, server: circl.NewVerifiableServer(suite, priv), public: pub}, nil
}

func deriveInfo(domain string, epoch uint32) []byte {
	b := make([]byte, 0, len("tumar/oprf/v1")+len(domain)+6)
	b = append(b, "tumar/oprf/v1\x00"...)
	b = append(b, domain...)
	b = append(b, 0)
	return binary.BigEndian.AppendUint32(b, epoch)
}

// PublicKey is the key clients verify proofs against, base64url.
func (k *Key) PublicKey() string { return base64.RawURLEncoding.EncodeToString(k.public) }

// Evaluation is the server's answer to one batch: one evaluated element per
// blinded element, in order, and one proof for the batch.
type Evaluation struct {
	Elements []string
	Proof    string
}

// Evaluate evaluates a batch of blinded elements (base64url, as a client
// sent them). It refuses a malformed batch before any work is done.
func (k *Key) Evaluate(blinded []string) (*Evaluation, error) {
	b, err := ParseBatch(blinded)
	if err != nil {
		return nil, err
	}
	return k.EvaluateBatch(b)
}

// EvaluateBatch evaluates a batch that ParseBatch accepted.
func (k *Key) EvaluateBatch(b *Batch) (*Evaluation, error) {
	ev, err := k.server.Evaluate(&circl.EvaluationRequest{Elements: b.elems})
	if err != nil {
		return nil, fmt.Errorf("oprf: evaluate: %w", err)
	}
	out := &Evaluation{Elements: make([]string, len(ev.Elements))}
	for i, e := range ev.Elements {
		raw, err := e.MarshalBinaryCompress()
		if err != nil {
			return nil, fmt.Errorf("oprf: encode element: %w", err)
		}
		out.Elements[i] = base64.RawURLEncoding.EncodeToString(raw)
	}
	p, err := ev.Proof.MarshalBinary()
	if err != nil {
		return nil, fmt.Errorf("oprf: encode proof: %w", err)
	}
	out.Proof = base64.RawURLEncoding.EncodeToString(p)
	return out, nil
}

// Pseudonym is the blind pseudonym of an input, computed by the gateway
// itself: what a client gets by blinding the same input.
func (k *Key) Pseudonym(input []byte) (keys.Pseudonym, error) {
	out, err := k.server.FullEvaluate(input)
	if err != nil {
		return keys.Pseudonym{}, fmt.Errorf("oprf: evaluate: %w", err)
	}
	return pseudonym(k.Domain, k.Epoch, out), nil
}

func pseudonym(domain string, epoch uint32, out []byte) keys.Pseudonym {
	p := keys.Pseudonym{Domain: domain, Epoch: epoch}
	copy(p.MAC[:], out) // SHA-512 output, truncated
	return p
}

// b64 is base64url without padding, strict: one spelling per byte string,
// so that a re-spelled element is the same element to the replay check.
var b64 = base64.RawURLEncoding.Strict()

// Batch is a client's batch of blinded elements, decoded and checked.
type Batch struct {
	elems []circl.Blinded
	raw   [][ElementSize]byte
}

// Len is the number of elements.
func (b *Batch) Len() int { return len(b.elems) }

// Digest identifies the batch under a domain's epoch, for the replay check.
// It is taken over the decoded bytes, so a re-spelling cannot change it.
// Blinded elements are uniformly random: the digest reveals nothing about
// the inputs.
func (b *Batch) Digest(domain string, epoch uint32) []byte {
	h := sha256.New()
	h.Write(deriveInfo(domain, epoch))
	for _, r := range b.raw {
		h.Write(r[:])
	}
	return h.Sum(nil)
}

// ParseBatch decodes a batch of elements, refusing an empty or oversized
// batch, a repeated element, and anything that is not a canonical,
// non-identity ristretto255 element. Errors name the element's position.
func ParseBatch(batch []string) (*Batch, error) {
	if len(batch) == 0 {
		return nil, fmt.Errorf("%w: no elements", ErrBatch)
	}
	if len(batch) > MaxBatch {
		return nil, fmt.Errorf("%w: %d elements, at most %d", ErrBatch, len(batch), MaxBatch)
	}
	b := &Batch{elems: make([]circl.Blinded, len(batch)), raw: make([][ElementSize]byte, len(batch))}
	seen := make(map[[ElementSize]byte]int, len(batch))
	for i, s := range batch {
		e, raw, err := parseElement(s)
		if err != nil {
			return nil, fmt.Errorf("element %d: %w", i, err)
		}
		if j, dup := seen[raw]; dup {
			return nil, fmt.Errorf("%w: element %d repeats element %d", ErrBatch, i, j)
		}
		seen[raw] = i
		b.elems[i], b.raw[i] = e, raw
	}
	return b, nil
}

func parseElement(s string) (circl.Blinded, [ElementSize]byte, error) {
	var raw [ElementSize]byte
	if len(s) != b64.EncodedLen(ElementSize) {
		return nil, raw, ErrMalformed
	}
	b, err := b64.DecodeString(s)
	if err != nil || len(b) != ElementSize {
		return nil, raw, ErrMalformed
	}
	copy(raw[:], b)
	e := suite.Group().NewElement()
	if err := e.UnmarshalBinary(b); err != nil {
		return nil, raw, ErrMalformed
	}
	if e.IsIdentity() {
		return nil, raw, ErrIdentity
	}
	return e, raw, nil
}

// Client blinds inputs for one domain and epoch, and checks and unblinds the
// gateway's answer.
type Client struct {
	Domain string
	Epoch  uint32
	client circl.VerifiableClient
}

// NewClient makes a client for a domain's epoch whose public key (base64url)
// the gateway publishes.
func NewClient(domain string, epoch uint32, publicKey string) (*Client, error) {
	b, err := b64.DecodeString(publicKey)
	if err != nil || len(b) != ElementSize {
		return nil, fmt.Errorf("%w: public key", ErrMalformed)
	}
	pub := new(circl.PublicKey)
	if err := pub.UnmarshalBinary(suite, b); err != nil {
		return nil, fmt.Errorf("%w: public key", ErrMalformed)
	}
	return &Client{Domain: domain, Epoch: epoch, client: circl.NewVerifiableClient(suite, pub)}, nil
}

// Blinded is a batch of inputs, blinded: Elements go to the gateway; the
// rest stays with the client until Finalize.
type Blinded struct {
	Elements []string
	fin      *circl.FinalizeData
}

// Blind blinds inputs with fresh random blinds.
func (c *Client) Blind(inputs [][]byte) (*Blinded, error) {
	if len(inputs) == 0 || len(inputs) > MaxBatch {
		return nil, fmt.Errorf("%w: %d inputs, want 1 to %d", ErrBatch, len(inputs), MaxBatch)
	}
	fin, req, err := c.client.Blind(inputs)
	if err != nil {
		return nil, fmt.Errorf("oprf: blind: %w", err)
	}
	out := &Blinded{Elements: make([]string, len(req.Elements)), fin: fin}
	for i, e := range req.Elements {
		b, err := e.MarshalBinaryCompress()
		if err != nil {
			return nil, fmt.Errorf("oprf: encode element: %w", err)
		}
		out.Elements[i] = base64.RawURLEncoding.EncodeToString(b)
	}
	return out, nil
}

// Finalize checks the gateway's proof and unblinds its answer into the
// inputs' blind pseudonyms, in order.
func (c *Client) Finalize(b *Blinded, ev *Evaluation) ([]keys.Pseudonym, error) {
	if len(ev.Elements) != len(b.Elements) {
		return nil, fmt.Errorf("%w: %d evaluated elements for %d blinded", ErrBatch, len(ev.Elements), len(b.Elements))
	}
	elems := make([]circl.Evaluated, len(ev.Elements))
	for i, s := range ev.Elements {
		e, _, err := parseElement(s)
		if err != nil {
			return nil, fmt.Errorf("evaluated element %d: %w", i, err)
		}
		elems[i] = e
	}
	raw, err := b64.DecodeString(ev.Proof)
	if err != nil || len(raw) != ProofSize {
		return nil, fmt.Errorf("%w: proof", ErrMalformed)
	}
	proof := new(dleq.Proof)
	if err := proof.UnmarshalBinary(suite.Group(), raw); err != nil {
		return nil, fmt.Errorf("%w: proof", ErrMalformed)
	}
	outs, err := c.client.Finalize(b.fin, &circl.Evaluation{Elements: elems, Proof: proof})
	if errors.Is(err, circl.ErrInvalidProof) {
		return nil, ErrProof
	}
	if err != nil {
		return nil, fmt.Errorf("oprf: finalize: %w", err)
	}
	ps := make([]keys.Pseudonym, len(outs))
	for i, o := range outs {
		ps[i] = pseudonym(c.Domain, c.Epoch, o)
	}
	return ps, nil
}
