package errp

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/config"
	"github.com/tumarproject/tumar/gateway/store"
)

// Register sends crime reports to the register's X-Road service.
type Register struct {
	SecurityServer string    // base URL of the Tunduk security server
	Client         ClientID  // the gateway's subsystem
	Service        ServiceID // the register's crime-report service
	HTTP           *http.Client
}

// CrimeReport is what the register receives for one released referral:
// pseudonyms in the register's own domain, never an identity unless the
// policy kept it.
type CrimeReport struct {
	ReportID   string          `json:"report_id"` // the gateway's exchange id
	Article    string          `json:"article"`
	Purpose    string          `json:"purpose"`
	LegalBasis string          `json:"legal_basis"`
	Subject    []string        `json:"subject,omitempty"`
	Record     json.RawMessage `json:"record"`
	Rules      json.RawMessage `json:"rules"`
	ReportedAt time.Time       `json:"reported_at"`
}

// Receipt is the register's answer to a crime report.
type Receipt struct {
	RegisterCaseID string `json:"register_case_id"`
	XRoadID        string `json:"-"`
}

// ErrRequestHash means the security server's X-Road-Request-Hash does not
// match the request sent: the answer is not for this request.
var ErrRequestHash = errors.New("errp: X-Road-Request-Hash does not match the request")

// Report sends one released referral as a crime report under article 171.
func (r *Register) Report(ctx context.Context, rel *gateway.Released) (*Receipt, error) {
	rules, _ := json.Marshal(rel.Fields)
	rep := CrimeReport{ReportID: rel.ExchangeID, Article: "171", Purpose: rel.Purpose, LegalBasis: rel.LegalBasis,
		Record: rel.Record, Rules: rules, ReportedAt: rel.ReleasedAt}
	if rel.Subject != nil {
		rep.Subject = rel.Subject.Keys
	}
	body, err := json.Marshal(rep)
	if err != nil {
		return nil, err
	}
	url := strings.TrimRight(r.SecurityServer, "/") + "/r1/" + r.Service.String()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(HeaderClient, r.Client.String())
	req.Header.Set(HeaderID, uuid.Must(uuid.NewV7()).String())
	resp, err := r.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("errp: security server unreachable: %w", err)
	}
	defer resp.Body.Close()
	answer, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("errp: read the register's answer: %w", err)
	}
	if h := resp.Header.Get(HeaderRequestHash); h != "" && h != RequestHash(body) {
		return nil, ErrRequestHash
	}
	if resp.StatusCode != http.StatusCreated && resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("errp: the register answered %d", resp.StatusCode)
	}
	var rc Receipt
	if err := json.Unmarshal(answer, &rc); err != nil || rc.RegisterCaseID == "" {
		return nil, errors.New("errp: the register's answer has no register_case_id")
	}
	rc.XRoadID = resp.Header.Get(HeaderID)
	return &rc, nil
}

// Connector hands released referrals to the register. The register's news
// comes back by Events, not by Read.
type Connector struct {
	Register *Register
}

var _ connectors.Connector = (*Connector)(nil)

// Name implements connectors.Connector.
func (c *Connector) Name() string { return "errp" }

// Read implements connectors.Connector: the register pushes case events
// instead (Events).
func (c *Connector) Read(ctx context.Context, max int) (*connectors.Batch, error) {
	return &connectors.Batch{}, io.EOF
}

// Reparse implements connectors.Connector: nothing is read, so nothing is quarantined.
func (c *Connector) Reparse(raw connectors.Raw, position string) (*connectors.Item, *connectors.Rejected) {
	return nil, &connectors.Rejected{Position: position, Code: "not_readable", Reason: "the register connector does not read records"}
}

// Write implements connectors.Connector: each released referral becomes a
// crime report. A referral the register refuses is reported; a transport
// failure stops the write so that the rest stay in the outbox.
func (c *Connector) Write(ctx context.Context, released []gateway.Released) (*connectors.WriteReport, error) {
	rep := &connectors.WriteReport{}
	for i := range released {
		if _, err := c.Register.Report(ctx, &released[i]); err != nil {
			if strings.Contains(err.Error(), "answered 4") {
				rep.Rejected = append(rep.Rejected, connectors.Rejected{Position: "exchange " + released[i].ExchangeID, Code: "refused", Reason: err.Error()})
				continue
			}
			return rep, err
		}
		rep.Accepted++
	}
	return rep, nil
}

// Close implements connectors.Connector.
func (c *Connector) Close() error { return nil }

// Authenticator accepts a call only from the configured security server
// (its client certificate) and takes the agency from X-Road-Client.
func Authenticator(x config.XRoad, cfg *config.Config) gateway.Authenticator {
	return func(r *http.Request) (*config.Agency, error) {
		if r.TLS == nil || len(r.TLS.VerifiedChains) == 0 || r.TLS.VerifiedChains[0][0].Subject.CommonName != x.SecurityServerCN {
			return nil, &gateway.Error{Status: http.StatusUnauthorized, Code: "not_the_security_server", Message: "X-Road calls are accepted only from the configured security server"}
		}
		h, err := ReadHeaders(r)
		if err != nil {
			return nil, &gateway.Error{Status: http.StatusBadRequest, Code: "xroad_header", Message: err.Error()}
		}
		for _, m := range x.Members {
			if m.Client == h.Client.String() {
				if a, ok := cfg.Agency(m.Agency); ok {
					return a, nil
				}
			}
		}
		return nil, &gateway.Error{Status: http.StatusForbidden, Code: "unknown_xroad_client", Message: "the X-Road client is not mapped to an agency"}
	}
}

// Event is a case event as the register sends it.
type Event struct {
	EventID         string `json:"event_id"`
	ReportID        string `json:"report_id"` // the gateway's exchange id of the referral
	RegisterCaseID  string `json:"register_case_id"`
	Kind            string `json:"event"` // registered, requalified, discontinued, sent_to_court
	Article         string `json:"article"`
	PreviousArticle string `json:"previous_article,omitempty"`
	Date            string `json:"date"`
}

var (
	eventKinds = map[string]bool{"registered": true, "requalified": true, "discontinued": true, "sent_to_court": true}
	article    = regexp.MustCompile(`^[0-9]{1,4}(-[0-9]{1,2})?(\.[0-9]{1,2})?$`)
	safeID     = regexp.MustCompile(`^[\p{L}0-9._:/-]{1,80}$`)
)

// Check reports the first problem of an event, naming the field.
func (e *Event) Check() error {
	switch {
	case !safeID.MatchString(e.EventID):
		return errors.New("event_id is missing or malformed")
	case !safeID.MatchString(e.ReportID):
		return errors.New("report_id is missing or malformed")
	case !safeID.MatchString(e.RegisterCaseID):
		return errors.New("register_case_id is missing or malformed")
	case !eventKinds[e.Kind]:
		return errors.New("event must be registered, requalified, discontinued or sent_to_court")
	case !article.MatchString(e.Article):
		return errors.New("article must be a Criminal Code article number, like 171")
	case e.Kind == "requalified" && !article.MatchString(e.PreviousArticle):
		return errors.New("a re-qualification needs previous_article")
	}
	if _, err := time.Parse(time.DateOnly, e.Date); err != nil {
		return errors.New("date must be YYYY-MM-DD")
	}
	return nil
}

// Record links a case event to the person of the referral it is about and
// records it, with its details, in one transaction with its audit entry. The
// register may only report on referrals released to it. It reports true for
// an event recorded before.
func Record(ctx context.Context, cases store.CaseStore, agency string, ev *Event, details map[string]string, revision string) (bool, error) {
	ref, err := cases.ReleasedEntry(ctx, ev.ReportID)
	if errors.Is(err, store.ErrNotFound) || (err == nil && ref.Destination != agency) {
		return false, &gateway.Error{Status: http.StatusNotFound, Code: "unknown_report", Message: "no referral with this report_id was released to this agency"}
	}
	if err != nil {
		return false, &gateway.Error{Status: http.StatusServiceUnavailable, Code: "store_failed", Message: "the referral could not be read", Err: err}
	}
	ce := &store.CaseEvent{EventID: ev.EventID, Source: agency, Person: ref.Subject, ExchangeID: ev.ReportID, RegisterCaseID: ev.RegisterCaseID,
		Kind: ev.Kind, Article: ev.Article, PreviousArticle: ev.PreviousArticle, Date: ev.Date, RecordedAt: time.Now()}
	d := map[string]string{"event": ev.Kind, "article": ev.Article, "previous_article": ev.PreviousArticle,
		"register_case_id": ev.RegisterCaseID, "report_id": ev.ReportID}
	for k, v := range details {
		d[k] = v
	}
	e := &audit.Entry{DecisionID: uuid.Must(uuid.NewV7()).String(), Time: time.Now(), Event: "case_event", Source: agency, Destination: "tumar",
		Purpose: ref.Purpose, PolicyRevision: revision, Outcome: audit.Recorded, Details: d}
	switch err := cases.RecordCaseEvent(ctx, ce, e); {
	case errors.Is(err, store.ErrDuplicate):
		return true, nil
	case err != nil:
		return false, &gateway.Error{Status: http.StatusServiceUnavailable, Code: "store_failed", Message: "the event could not be recorded and audited", Err: err}
	}
	return false, nil
}

// Events serves the register's case events: it links each to the person of
// the referral it is about, and records it with the call's X-Road ids in
// the audit trail. The register may only report on referrals it received.
func Events(cases store.CaseStore, policyRevision func() string) gateway.AgencyHandler {
	return func(w http.ResponseWriter, r *http.Request, a *config.Agency) error {
		h, _ := ReadHeaders(r) // checked by the authenticator
		var ev Event
		dec := json.NewDecoder(io.LimitReader(r.Body, 64<<10))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&ev); err != nil {
			return &gateway.Error{Status: http.StatusBadRequest, Code: "malformed_json", Message: "the body is not a case event"}
		}
		if err := ev.Check(); err != nil {
			return &gateway.Error{Status: http.StatusBadRequest, Code: "invalid_event", Message: err.Error()}
		}
		details := map[string]string{"xroad_client": h.Client.String(), "xroad_id": h.ID, "xroad_user_id": h.UserID, "xroad_issue": h.Issue}
		dup, err := Record(r.Context(), cases, a.ID, &ev, details, policyRevision())
		if err != nil {
			return err
		}
		status := http.StatusCreated
		if dup {
			status = http.StatusOK
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		return json.NewEncoder(w).Encode(map[string]string{"event_id": ev.EventID, "status": "recorded"})
	}
}
