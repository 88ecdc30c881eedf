// Package errp connects the crime register (ERRP, ЕРПП), reached through
// Tunduk, Kyrgyzstan's X-Road. The gateway is a subsystem behind a Tunduk
// security server: released referrals go out as crime reports through the
// X-Road REST profile, and the register's case events (registered,
// re-qualified, discontinued, sent to court) come back through the security
// server, checked and linked to the person of the referral.
package errp

import (
	"crypto/sha512"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
)

// The X-Road REST profile's headers.
const (
	HeaderClient      = "X-Road-Client"
	HeaderService     = "X-Road-Service"
	HeaderID          = "X-Road-Id"
	HeaderUserID      = "X-Road-UserId"
	HeaderIssue       = "X-Road-Issue"
	HeaderRequestHash = "X-Road-Request-Hash"
)

// ClientID is an X-Road member subsystem: INSTANCE/CLASS/MEMBER/SUBSYSTEM.
type ClientID struct {
	Instance, Class, Member, Subsystem string
}

// ServiceID is a subsystem's service: INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE.
type ServiceID struct {
	ClientID
	Service string
}

func (c ClientID) String() string {
	return c.Instance + "/" + c.Class + "/" + c.Member + "/" + c.Subsystem
}

func (s ServiceID) String() string { return s.ClientID.String() + "/" + s.Service }

// idPart is what one part of an X-Road identifier may hold.
var idPart = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,64}$`)

// ErrHeader means an X-Road header is missing or malformed.
var ErrHeader = errors.New("errp: X-Road header missing or malformed")

// ParseClientID reads INSTANCE/CLASS/MEMBER/SUBSYSTEM.
func ParseClientID(s string) (ClientID, error) {
	p := strings.Split(s, "/")
	if len(p) != 4 || !allParts(p) {
		return ClientID{}, fmt.Errorf("%w: %s must be INSTANCE/CLASS/MEMBER/SUBSYSTEM", ErrHeader, HeaderClient)
	}
	return ClientID{p[0], p[1], p[2], p[3]}, nil
}

// ParseServiceID reads INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE.
func ParseServiceID(s string) (ServiceID, error) {
	p := strings.Split(s, "/")
	if len(p) != 5 || !allParts(p) {
		return ServiceID{}, fmt.Errorf("%w: a service id must be INSTANCE/CLASS/MEMBER/SUBSYSTEM/SERVICE", ErrHeader)
	}
	return ServiceID{ClientID{p[0], p[1], p[2], p[3]}, p[4]}, nil
}

func allParts(p []string) bool {
	for _, s := range p {
		if !idPart.MatchString(s) {
			return false
		}
	}
	return true
}

// Headers are the X-Road headers of one incoming call.
type Headers struct {
	Client  ClientID
	ID      string // the X-Road message id
	UserID  string // the official behind the call
	Issue   string // the case or issue the call belongs to
	Service string
}

// printable bounds the free headers: a message id, a user id, an issue.
var printable = regexp.MustCompile(`^[\x21-\x7e]{1,200}$`)

// ReadHeaders checks the X-Road headers of an incoming call. X-Road-Client and
// X-Road-Id are required; X-Road-UserId and X-Road-Issue must be printable
// when present.
func ReadHeaders(r *http.Request) (*Headers, error) {
	c, err := ParseClientID(r.Header.Get(HeaderClient))
	if err != nil {
		return nil, err
	}
	h := &Headers{Client: c, ID: r.Header.Get(HeaderID), UserID: r.Header.Get(HeaderUserID),
		Issue: r.Header.Get(HeaderIssue), Service: r.Header.Get(HeaderService)}
	if !printable.MatchString(h.ID) {
		return nil, fmt.Errorf("%w: %s is required", ErrHeader, HeaderID)
	}
	for name, v := range map[string]string{HeaderUserID: h.UserID, HeaderIssue: h.Issue, HeaderService: h.Service} {
		if v != "" && !printable.MatchString(v) {
			return nil, fmt.Errorf("%w: %s", ErrHeader, name)
		}
	}
	return h, nil
}

// RequestHash is the X-Road-Request-Hash of a request body as this adapter
// computes it: base64 of SHA-512 over the body. A security server's own
// computation covers the whole signed request message; check this against a
// Tunduk test server before production.
func RequestHash(body []byte) string {
	s := sha512.Sum512(body)
	return base64.StdEncoding.EncodeToString(s[:])
}
