package gateway

import (
	"errors"
	"net/http"
	"time"

	"github.com/tumarproject/tumar/gateway/htcds"
)

// Error is what the HTTP edge tells a caller: a status, a stable code and a
// public message. The internal cause goes to the log only. No Error ever
// carries a value from a record.
type Error struct {
	Status   int
	Code     string
	Message  string
	Problems []Problem // field-level problems, when the record was invalid
	Reasons  []string  // policy reasons, when the exchange was denied
	// RetryAfter tells a caller when to come back (429, 503); 503 without
	// it says 5 seconds.
	RetryAfter time.Duration
	Err        error // internal cause, for the log
}

// Problem names one invalid field.
type Problem struct {
	Field   string `json:"field"`
	Problem string `json:"problem"`
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Code + ": " + e.Message + ": " + e.Err.Error()
	}
	return e.Code + ": " + e.Message
}

func (e *Error) Unwrap() error { return e.Err }

// Sentinels that callers of Exchange can test with errors.Is.
var (
	ErrUnknownAgency = errors.New("gateway: unknown agency")
	ErrDenied        = errors.New("gateway: exchange denied by policy")
	ErrPrivacy       = errors.New("gateway: a privacy control failed; nothing was released")
)

func badRequest(code, msg string) *Error {
	return &Error{Status: http.StatusBadRequest, Code: code, Message: msg}
}

func invalidRecord(err error) *Error {
	e := &Error{Status: http.StatusUnprocessableEntity, Code: "invalid_record", Message: "the record is not a valid HTCDS record", Err: err}
	var ve *htcds.ValidationError
	if errors.As(err, &ve) {
		for _, p := range ve.Problems {
			e.Problems = append(e.Problems, Problem{Field: p.Field, Problem: p.Problem})
		}
	}
	return e
}

// unavailable is a privacy control or the store failing: the caller may retry.
func unavailable(code, msg string, err error) *Error {
	return &Error{Status: http.StatusServiceUnavailable, Code: code, Message: msg, Err: errors.Join(ErrPrivacy, err)}
}
