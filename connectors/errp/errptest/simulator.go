// Package errptest is a crime-register simulator behind a stand-in Tunduk
// security server, speaking the X-Road REST profile: it takes crime reports
// at /r1/{service id}, answers with X-Road-Id and X-Road-Request-Hash, and
// sends case events to the gateway with the security server's certificate
// and X-Road headers. Tests start it themselves.
package errptest

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/tumarproject/tumar/connectors/errp"
)

// Register is a running simulator.
type Register struct {
	URL     string
	Client  *http.Client // calls the gateway as the security server
	Service errp.ServiceID

	mu       sync.Mutex
	reports  []errp.CrimeReport
	clients  []string
	down     bool
	badHash  bool
	delay    time.Duration
	nextCase int
	seen     map[string]int // report id -> times received
}

// Start runs the simulator with the security server's certificate; tlsCfg
// must hold that certificate and trust the gateway's CA.
func Start(t testing.TB, service errp.ServiceID, tlsCfg *tls.Config) *Register {
	t.Helper()
	r := &Register{Service: service}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(r.serve))
	srv.TLS = tlsCfg.Clone()
	srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
	srv.TLS.ClientCAs = tlsCfg.RootCAs
	srv.StartTLS()
	t.Cleanup(srv.Close)
	r.URL = srv.URL
	r.Client = &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}}
	return r
}

// SetDown makes the security server answer 503.
func (r *Register) SetDown(down bool) { r.mu.Lock(); r.down = down; r.mu.Unlock() }

// SetDelay makes each report take d to answer.
func (r *Register) SetDelay(d time.Duration) { r.mu.Lock(); r.delay = d; r.mu.Unlock() }

// Received returns how many times each report id arrived.
func (r *Register) Received() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, v := range r.seen {
		out[k] = v
	}
	return out
}

// SetBadHash makes answers carry a wrong X-Road-Request-Hash.
func (r *Register) SetBadHash(bad bool) { r.mu.Lock(); r.badHash = bad; r.mu.Unlock() }

// Reports returns the crime reports received.
func (r *Register) Reports() []errp.CrimeReport {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]errp.CrimeReport(nil), r.reports...)
}

// Clients returns the X-Road-Client header of each report.
func (r *Register) Clients() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.clients...)
}

func (r *Register) serve(w http.ResponseWriter, req *http.Request) {
	r.mu.Lock()
	delay := r.delay
	r.mu.Unlock()
	time.Sleep(delay)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.down {
		http.Error(w, `{"type":"Server.ServerProxy.NetworkError","message":"service unavailable"}`, http.StatusServiceUnavailable)
		return
	}
	if req.Method != http.MethodPost || req.URL.Path != "/r1/"+r.Service.String() {
		http.Error(w, `{"type":"Server.ClientProxy.UnknownService"}`, http.StatusNotFound)
		return
	}
	if _, err := errp.ParseClientID(req.Header.Get(errp.HeaderClient)); err != nil {
		http.Error(w, `{"type":"Server.ClientProxy.InvalidClientIdentifier"}`, http.StatusBadRequest)
		return
	}
	body, _ := io.ReadAll(req.Body)
	var rep errp.CrimeReport
	if err := json.Unmarshal(body, &rep); err != nil || rep.ReportID == "" {
		http.Error(w, `{"type":"Server.ServerProxy.BadRequest"}`, http.StatusBadRequest)
		return
	}
	r.reports = append(r.reports, rep)
	if r.seen == nil {
		r.seen = map[string]int{}
	}
	r.seen[rep.ReportID]++
	r.clients = append(r.clients, req.Header.Get(errp.HeaderClient))
	r.nextCase++
	hash := errp.RequestHash(body)
	if r.badHash {
		hash = errp.RequestHash([]byte("another request"))
	}
	w.Header().Set(errp.HeaderID, uuid.Must(uuid.NewV7()).String())
	w.Header().Set(errp.HeaderRequestHash, hash)
	w.Header().Set(errp.HeaderClient, req.Header.Get(errp.HeaderClient))
	w.Header().Set(errp.HeaderService, r.Service.String())
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusCreated)
	fmt.Fprintf(w, `{"register_case_id": "ERRP-2026-%06d"}`, r.nextCase)
}

// SendEvent posts a case event to the gateway's X-Road endpoint as the
// security server, with the given X-Road headers.
func (r *Register) SendEvent(ctx context.Context, url string, headers map[string]string, ev any) (int, string, error) {
	body, _ := json.Marshal(ev)
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, "", err
	}
	req.Header.Set("Content-Type", "application/json")
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := r.Client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, strings.TrimSpace(string(b)), nil
}
