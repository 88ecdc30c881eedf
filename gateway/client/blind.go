package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/crypto/oprf"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/config"
)

// ErrKeyMismatch means the gateway answered a blind evaluation under another
// key than the one it publishes: the answer is not used.
var ErrKeyMismatch = errors.New("client: the gateway answered under a key it does not publish")

// OPRFKeys fetches the gateway's published OPRF public keys.
func (c *Client) OPRFKeys(ctx context.Context) (*gateway.OPRFKeys, error) {
	var r gateway.OPRFKeys
	if err := c.do(ctx, http.MethodGet, "/.well-known/oprf-keys.json", nil, &r); err != nil {
		return nil, err
	}
	if r.Suite != oprf.SuiteID {
		return nil, fmt.Errorf("%w: the gateway publishes suite %q", oprf.ErrSuite, r.Suite)
	}
	return &r, nil
}

// BlindPseudonyms computes the blind pseudonyms of inputs (normalised match
// keys) in a domain's epoch, whose published key is pub: the inputs are
// blinded here, the gateway evaluates them without seeing them, and its
// proof is checked against pub before anything is unblinded.
func (c *Client) BlindPseudonyms(ctx context.Context, pub gateway.OPRFKey, inputs [][]byte) ([]keys.Pseudonym, error) {
	oc, err := oprf.NewClient(pub.Domain, pub.Epoch, pub.PublicKey)
	if err != nil {
		return nil, err
	}
	b, err := oc.Blind(inputs)
	if err != nil {
		return nil, err
	}
	var r gateway.EvaluateResponse
	req := gateway.EvaluateRequest{Suite: oprf.SuiteID, Domain: pub.Domain, Epoch: pub.Epoch, Elements: b.Elements}
	if err := c.do(ctx, http.MethodPost, "/v1/oprf/evaluate", req, &r); err != nil {
		return nil, err
	}
	if r.Suite != oprf.SuiteID || r.Domain != pub.Domain || r.Epoch != pub.Epoch || r.PublicKey != pub.PublicKey {
		return nil, ErrKeyMismatch
	}
	return oc.Finalize(b, &oprf.Evaluation{Elements: r.Elements, Proof: r.Proof})
}

// LookupOptions are a blind look-up's purpose and how it trusts the
// gateway's keys.
type LookupOptions struct {
	Purpose string
	Encrypt bool // ask for the token encrypted to the caller (JWE)
	// Keys, when set, are the gateway's OPRF keys as the agency saved them
	// earlier (a pinned /.well-known/oprf-keys.json): proofs are checked
	// against these, and an answer under any other key is refused. When nil
	// the keys are fetched from the gateway, which checks only that every
	// answer is under the key the gateway publishes now.
	Keys *gateway.OPRFKeys
}

// BlindLookup asks whether the person an HTCDS record identifies has a
// recorded victim status, without sending the identity: the record's match
// keys are computed here and evaluated blind in the look-up domain, newest
// epoch first, until a status is found. A found status comes with a
// single-use status token for the caller.
func (c *Client) BlindLookup(ctx context.Context, record json.RawMessage, opt LookupOptions) (*gateway.LookupResult, error) {
	inputs, err := gateway.MatchInputs(record)
	if err != nil {
		return nil, fmt.Errorf("record: %w", err)
	}
	if len(inputs) == 0 {
		return nil, errors.New("record: it does not identify the person: give a name and birth date, a document or a mobile phone")
	}
	doc := opt.Keys
	if doc == nil {
		if doc, err = c.OPRFKeys(ctx); err != nil {
			return nil, err
		}
	}
	res := &gateway.LookupResult{}
	asked := false
	for _, k := range doc.Keys { // newest epoch first
		if k.Domain != config.LookupDomain {
			continue
		}
		ps, err := c.BlindPseudonyms(ctx, k, inputs)
		if err != nil {
			return nil, err
		}
		req := gateway.LookupRequest{Purpose: opt.Purpose, Encrypt: opt.Encrypt}
		for _, p := range ps {
			req.Pseudonyms = append(req.Pseudonyms, p.String())
		}
		res = &gateway.LookupResult{}
		if err := c.do(ctx, http.MethodPost, "/v1/status/lookup", req, res); err != nil {
			return nil, err
		}
		asked = true
		if res.Found {
			break
		}
	}
	if !asked {
		return nil, fmt.Errorf("the gateway publishes no key for %s", config.LookupDomain)
	}
	return res, nil
}
