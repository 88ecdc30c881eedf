// Package primero pulls cases from Primero v2, the case-management system
// many child-protection and anti-trafficking NGOs use, through its REST API:
// token login, paged case lists, and a changed-since filter so that each run
// takes only what changed.
package primero

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
	"time"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/crypto/identity"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/htcds"
)

// Options configure a Primero source.
type Options struct {
	URL      string // Primero's base URL
	User     string
	Password string
	Since    time.Time // only cases updated at or after this time; zero for all
	PerPage  int       // default 100
	HTTP     *http.Client
}

// Connector reads cases from Primero.
type Connector struct {
	name    string
	opt     Options
	token   string
	page    int
	pageLen int
	pending []json.RawMessage
	done    bool
	latest  time.Time // the newest last_updated_at read: the next run's Since
}

var _ connectors.Connector = (*Connector)(nil)

// ErrLogin means Primero refused the credentials.
var ErrLogin = errors.New("primero: login refused")

// Open logs in to Primero.
func Open(ctx context.Context, name string, opt Options) (*Connector, error) {
	if opt.PerPage <= 0 {
		opt.PerPage = 100
	}
	if opt.HTTP == nil {
		opt.HTTP = &http.Client{Timeout: 60 * time.Second}
	}
	c := &Connector{name: name, opt: opt, page: 1, latest: opt.Since}
	body, _ := json.Marshal(map[string]any{"user": map[string]string{"user_name": opt.User, "password": opt.Password}})
	var tok struct {
		Token string `json:"token"`
	}
	status, err := c.call(ctx, http.MethodPost, "/api/v2/tokens", body, &tok)
	if status == http.StatusUnauthorized || (err == nil && tok.Token == "") {
		return nil, ErrLogin
	}
	if err != nil {
		return nil, err
	}
	c.token = tok.Token
	return c, nil
}

// Latest is the newest last_updated_at read so far: give it as Since to the
// next run to take only what changed after it.
func (c *Connector) Latest() time.Time { return c.latest }

// Name implements connectors.Connector.
func (c *Connector) Name() string { return c.name }

// Cursor implements connectors.Cursored: the next run takes cases updated
// from Latest on (the last case again, which the gateway recognises).
func (c *Connector) Cursor() string {
	if c.latest.IsZero() {
		return ""
	}
	return c.latest.UTC().Format(time.RFC3339)
}

// Read implements connectors.Connector. A page that fails stops the read
// with an error; the cases of earlier pages have been returned, and a new
// run from Latest goes on without losing any.
func (c *Connector) Read(ctx context.Context, max int) (*connectors.Batch, error) {
	b := &connectors.Batch{}
	for len(b.Items)+len(b.Rejected) < max {
		if len(c.pending) == 0 {
			if c.done {
				return b, io.EOF
			}
			if err := c.fetch(ctx); err != nil {
				return b, err
			}
			continue
		}
		raw := c.pending[0]
		c.pending = c.pending[1:]
		pos := "page " + strconv.Itoa(c.page-1) + " case " + strconv.Itoa(c.pageLen-len(c.pending))
		item, rej := c.Reparse(connectors.Raw{Data: raw}, pos)
		if rej != nil {
			b.Rejected = append(b.Rejected, *rej)
			continue
		}
		b.Items = append(b.Items, *item)
	}
	return b, nil
}

type page struct {
	Data     []json.RawMessage `json:"data"`
	Metadata struct {
		Total   int `json:"total"`
		PerPage int `json:"per_page"`
		Page    int `json:"page"`
	} `json:"metadata"`
}

func (c *Connector) fetch(ctx context.Context) error {
	q := url.Values{}
	q.Set("page", strconv.Itoa(c.page))
	q.Set("per_page", strconv.Itoa(c.opt.PerPage))
	if !c.opt.Since.IsZero() {
		q.Set("last_updated_at", c.opt.Since.UTC().Format(time.RFC3339)+"..")
	}
	var p page
	if _, err := c.call(ctx, http.MethodGet, "/api/v2/cases?"+q.Encode(), nil, &p); err != nil {
		return fmt.Errorf("primero: page %d: %w", c.page, err)
	}
	c.pending, c.pageLen = p.Data, len(p.Data)
	c.page++
	if len(p.Data) < c.opt.PerPage || (c.page-1)*c.opt.PerPage >= p.Metadata.Total {
		c.done = true
	}
	return nil
}

func (c *Connector) call(ctx context.Context, method, path string, body []byte, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimRight(c.opt.URL, "/")+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.opt.HTTP.Do(req)
	if err != nil {
		return 0, fmt.Errorf("primero unreachable: %w", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusCreated {
		return resp.StatusCode, fmt.Errorf("primero answered %d", resp.StatusCode)
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, 32<<20)).Decode(out); err != nil {
		return resp.StatusCode, errors.New("primero's answer is not the expected JSON")
	}
	return resp.StatusCode, nil
}

// Case is the part of a Primero case that maps to HTCDS.
type Case struct {
	ID             string   `json:"id"`
	CaseIDDisplay  string   `json:"case_id_display"`
	NameFirst      string   `json:"name_first"`
	NameMiddle     string   `json:"name_middle"`
	NameLast       string   `json:"name_last"`
	DateOfBirth    string   `json:"date_of_birth"`
	Sex            string   `json:"sex"`
	Nationality    []string `json:"nationality"`
	NationalIDNo   string   `json:"national_id_no"`
	Telephone      string   `json:"telephone_current"`
	Status         string   `json:"status"`
	Registration   string   `json:"registration_date"`
	ConsentForSvcs *bool    `json:"consent_for_services"`
	LastUpdatedAt  string   `json:"last_updated_at"`
}

var sexes = map[string]string{"female": "Feminine", "male": "Masculine", "other": "NonConforming", "unknown": "NonSpecifiedUnknown"}

// Reparse implements connectors.Connector: a case's JSON becomes an HTCDS
// record. Errors name Primero's field, never its value.
func (c *Connector) Reparse(raw connectors.Raw, pos string) (*connectors.Item, *connectors.Rejected) {
	reject := func(code, reason string) (*connectors.Item, *connectors.Rejected) {
		return nil, &connectors.Rejected{Position: pos, Code: code, Reason: reason, Raw: raw}
	}
	var pc Case
	if err := json.Unmarshal(raw.Data, &pc); err != nil {
		return reject("malformed", "the case is not a JSON object of the expected shape")
	}
	if pc.ID == "" {
		return reject("malformed", "the case has no id")
	}
	var rec htcds.Record
	var problems []string
	set := func(name, v string) {
		if v = strings.TrimSpace(v); v != "" {
			rec.SetString(name, v)
		}
	}
	set("prs_FirstName", strings.TrimSpace(pc.NameFirst+" "+pc.NameMiddle))
	set("prs_SecondName", pc.NameLast)
	set("prs_IdentityNumber", pc.NationalIDNo)
	set("prs_MobilePhone", pc.Telephone)
	for field, v := range map[string]string{"prs_Birthdate": pc.DateOfBirth, "cas_IncomingReferralDate": pc.Registration} {
		if v == "" {
			continue
		}
		d, err := identity.NormalizeDate(v)
		if err != nil {
			problems = append(problems, "a date ("+field+") is not a date")
			continue
		}
		set(field, d)
	}
	if pc.Sex != "" {
		if g, ok := sexes[strings.ToLower(pc.Sex)]; ok {
			set("prs_Gender", g)
		} else {
			problems = append(problems, "sex is not female, male, other or unknown")
		}
	}
	if len(pc.Nationality) > 0 {
		f, _ := htcds.Lookup("prs_Citizenship")
		list := make([]string, len(pc.Nationality))
		for i, n := range pc.Nationality {
			list[i] = strings.ToUpper(n)
		}
		rec.Set(f.ID, htcds.Value{List: list})
	}
	switch strings.ToLower(pc.Status) {
	case "open":
		set("cas_Status", "Active")
	case "closed":
		set("cas_Status", "Closed")
	}
	if pc.ConsentForSvcs != nil {
		f, _ := htcds.Lookup("con_Consent")
		rec.Set(f.ID, htcds.Value{Bool: *pc.ConsentForSvcs})
	}
	if err := rec.Validate(); err != nil {
		problems = append(problems, err.Error())
	}
	if len(problems) > 0 {
		return reject("mapping", strings.Join(problems, "; "))
	}
	if t, err := time.Parse(time.RFC3339, pc.LastUpdatedAt); err == nil && t.After(c.latest) {
		c.latest = t
	}
	return &connectors.Item{Position: pos, SourceID: "primero:" + pc.ID, Record: &rec, Raw: raw}, nil
}

// Write implements connectors.Connector: Primero is only read.
func (c *Connector) Write(ctx context.Context, released []gateway.Released) (*connectors.WriteReport, error) {
	return nil, connectors.ErrNotWritable
}

// Close implements connectors.Connector.
func (c *Connector) Close() error { return nil }
