// Package client is the agency side of the gateway's HTTP API: submit a
// record, collect the inbox, acknowledge. The HTTP client it is given carries
// the agency's mutual-TLS certificate; that certificate is the agency's
// identity.
package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	jsonv2 "github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/tumarproject/tumar/gateway"
)

// asV1 makes json v2 decode as encoding/json did, for Do's callers' own
// types: names match whatever their case, a repeated name keeps its last
// value, invalid UTF-8 is replaced. v2 decodes a receipt, whose field
// decisions run long, in a third of encoding/json's time
// (BenchmarkDecodeReceipt).
var asV1 = jsonv2.JoinOptions(jsonv2.MatchCaseInsensitiveNames(true), jsonv1.MatchCaseSensitiveDelimiter(true),
	jsontext.AllowDuplicateNames(true), jsontext.AllowInvalidUTF8(true))

// where says where an answer failed to decode, by byte offset only: json
// v2's errors also name the path, whose map keys are data.
func where(err error) string {
	var (
		sem *jsonv2.SemanticError
		syn *jsontext.SyntacticError
	)
	switch {
	case errors.As(err, &sem):
		return fmt.Sprintf(" (after byte %d)", sem.ByteOffset)
	case errors.As(err, &syn):
		return fmt.Sprintf(" (after byte %d)", syn.ByteOffset)
	}
	return ""
}

// Client talks to one gateway as one agency.
type Client struct {
	base string
	hc   *http.Client
}

// New returns a client for the gateway at base (https://host:port).
func New(base string, hc *http.Client) *Client {
	return &Client{base: strings.TrimRight(base, "/"), hc: hc}
}

// APIError is an error answer of the gateway.
type APIError struct {
	Status   int               `json:"-"`
	Code     string            `json:"code"`
	Message  string            `json:"message"`
	Problems []gateway.Problem `json:"problems"`
	Reasons  []string          `json:"reasons"`
}

func (e *APIError) Error() string {
	s := strconv.Itoa(e.Status) + " " + e.Code + ": " + e.Message
	for _, p := range e.Problems {
		s += "; field " + p.Field + ": " + p.Problem
	}
	if len(e.Reasons) > 0 {
		s += " (" + strings.Join(e.Reasons, "; ") + ")"
	}
	return s
}

// Submit sends one record for a destination and purpose.
func (c *Client) Submit(ctx context.Context, req *gateway.ExchangeRequest) (*gateway.Receipt, error) {
	var r gateway.Receipt
	if err := c.do(ctx, http.MethodPost, "/v1/exchanges", req, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Inbox returns up to limit released records not yet acknowledged.
func (c *Client) Inbox(ctx context.Context, limit int) ([]gateway.InboxMessage, error) {
	var r struct {
		Messages []gateway.InboxMessage `json:"messages"`
	}
	if err := c.do(ctx, http.MethodGet, "/v1/inbox?limit="+strconv.Itoa(limit), nil, &r); err != nil {
		return nil, err
	}
	return r.Messages, nil
}

// Ack acknowledges messages; acknowledged messages are not served again.
func (c *Client) Ack(ctx context.Context, ids []string) (int, error) {
	var r struct {
		Acknowledged int `json:"acknowledged"`
	}
	err := c.do(ctx, http.MethodPost, "/v1/inbox/ack", map[string][]string{"ids": ids}, &r)
	return r.Acknowledged, err
}

// Do sends a request; in is JSON-encoded unless it is already []byte.
func (c *Client) Do(ctx context.Context, method, path string, in, out any) error {
	return c.do(ctx, method, path, in, out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	switch v := in.(type) {
	case nil:
	case []byte:
		body = bytes.NewReader(v)
	default:
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, body)
	if err != nil {
		return err
	}
	if in != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return fmt.Errorf("gateway %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return fmt.Errorf("gateway %s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode >= 300 {
		var e struct {
			Error APIError `json:"error"`
		}
		if json.Unmarshal(raw, &e) != nil || e.Error.Code == "" {
			return &APIError{Status: resp.StatusCode, Code: "http_error", Message: http.StatusText(resp.StatusCode)}
		}
		e.Error.Status = resp.StatusCode
		return &e.Error
	}
	if err := jsonv2.Unmarshal(raw, out, asV1); err != nil {
		return fmt.Errorf("gateway %s %s: malformed answer%s", method, path, where(err))
	}
	return nil
}

// RecordStatus records a status decision about the person a record identifies.
func (c *Client) RecordStatus(ctx context.Context, record json.RawMessage, decisionDate string) (*gateway.StatusReceipt, error) {
	var r gateway.StatusReceipt
	err := c.do(ctx, http.MethodPost, "/v1/status", map[string]any{"record": record, "decision_date": decisionDate}, &r)
	return &r, err
}

// IssueToken asks for a status token of the person a record identifies.
func (c *Client) IssueToken(ctx context.Context, record json.RawMessage, req gateway.IssueRequest) (*gateway.IssuedToken, error) {
	var r gateway.IssuedToken
	body := map[string]any{"record": record, "audience": req.Audience, "purpose": req.Purpose, "encrypt": req.Encrypt}
	err := c.do(ctx, http.MethodPost, "/v1/status-tokens", body, &r)
	return &r, err
}

// Redeem redeems a signed status token addressed to the caller. subject, if
// not empty, is the caller's pseudonym of the person it expects.
func (c *Client) Redeem(ctx context.Context, token, subject string) (*gateway.Redeemed, error) {
	var r gateway.Redeemed
	err := c.do(ctx, http.MethodPost, "/v1/status-tokens/redeem", map[string]string{"token": token, "subject": subject}, &r)
	return &r, err
}

// Revoke revokes a token the caller issued.
func (c *Client) Revoke(ctx context.Context, jti string) error {
	var r map[string]string
	return c.do(ctx, http.MethodPost, "/v1/status-tokens/"+url.PathEscape(jti)+"/revoke", nil, &r)
}

// TokenState reports a token's state to its issuer or audience.
func (c *Client) TokenState(ctx context.Context, jti string) (*gateway.TokenState, error) {
	var r gateway.TokenState
	err := c.do(ctx, http.MethodGet, "/v1/status-tokens/"+url.PathEscape(jti), nil, &r)
	return &r, err
}

// JWKS fetches the public keys that verify status tokens.
func (c *Client) JWKS(ctx context.Context) (json.RawMessage, error) {
	var r json.RawMessage
	err := c.do(ctx, http.MethodGet, "/.well-known/jwks.json", nil, &r)
	return r, err
}
