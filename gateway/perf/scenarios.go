package perf

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"path/filepath"
	"runtime"
	"slices"
	"time"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/connectors/cso"
	"github.com/tumarproject/tumar/connectors/mapping"
	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/crypto/keys/vaulttest"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/client"
	"github.com/tumarproject/tumar/gateway/htcds"
)

// size is a scenario's number of records: the env's, when a Go benchmark
// sets it, else full or, with --quick, small.
func (e *env) size(quick bool, full, small int) int {
	switch {
	case e.n > 0:
		return e.n
	case quick:
		return small
	}
	return full
}

// inProcessRecords is how many records (b) exchanges, each its own
// referral held in memory beforehand; inProcessRecordsQuick with --quick.
const inProcessRecords, inProcessRecordsQuick = 100_000, 10_000

// runFloor is (a): JSON decode, three keyed pseudonyms and JSON encode of a
// 1 KB referral, on every core; no policy, no store. Its inputs are as
// many distinct referrals held in memory as (b) holds (100,000 in a full
// run), cycled beyond that: with 1,024 the heap was so small that the
// collector ran twenty times as often as in (b), and the floor measured
// about a fifth slow.
func runFloor(ctx context.Context, e *env, quick bool) ([]Result, error) {
	n := e.size(quick, 400_000, 50_000)
	k, err := keys.NewMemory("errp")
	if err != nil {
		return nil, err
	}
	in := make([][]byte, min(n, e.size(quick, inProcessRecords, inProcessRecordsQuick)))
	for i := range in {
		in[i] = referral(i)
	}
	first, _ := htcds.Lookup("prs_FirstName")
	second, _ := htcds.Lookup("prs_SecondName")
	birth, _ := htcds.Lookup("prs_Birthdate")
	doc, _ := htcds.Lookup("prs_IdentityNumber")
	workers := runtime.GOMAXPROCS(0)
	bufs := make([][3][]byte, workers)
	r, err := measure("a", "floor: decode, 3 keyed pseudonyms, encode", n, func() error {
		return parallel(n, workers, func(w, i int) error {
			var rec htcds.Record
			if err := rec.UnmarshalJSON(in[i%len(in)]); err != nil {
				return err
			}
			fn, _ := rec.Get(first.ID)
			sn, _ := rec.Get(second.ID)
			bd, _ := rec.Get(birth.ID)
			dn, _ := rec.Get(doc.ID)
			b := &bufs[w]
			b[0] = append(append(append(b[0][:0], fn.Str...), ' '), sn.Str...)
			b[1] = append(b[1][:0], bd.Str...)
			b[2] = append(b[2][:0], dn.Str...)
			ps, err := k.Pseudonymize(ctx, "errp", b[:])
			if err != nil || len(ps) != 3 {
				return fmt.Errorf("pseudonymise: %w", err)
			}
			_, err = json.Marshal(&rec)
			return err
		})
	})
	return []Result{r}, err
}

// runInProcess is (b): the whole exchange inside one process,
// inProcessFlight at a time: decode, normalisation and match keys, pseudonyms, the (cached) policy
// decision, transformation, and the durable SQLite commit of the outbox row
// and the hash-chained audit entry, grouped with concurrent ones.
func runInProcess(ctx context.Context, e *env, quick bool) ([]Result, error) {
	if err := e.open(ctx); err != nil {
		return nil, err
	}
	n := e.size(quick, inProcessRecords, inProcessRecordsQuick)
	in := make([][]byte, n)
	for i := range in {
		in[i] = referral(i)
	}
	r, err := measure("b", fmt.Sprintf("in-process exchange, file keys, SQLite, %d in flight", inProcessFlight), n, func() error {
		return parallel(n, inProcessFlight, func(_, i int) error {
			var rec htcds.Record
			if err := rec.UnmarshalJSON(in[i]); err != nil {
				return err
			}
			_, err := e.app.Exchange.Exchange(ctx, &gateway.Submission{Source: "ngo-sezim", Destination: "errp",
				Purpose: "criminal-referral", LegalBasis: "victim-consent", Record: &rec})
			return err
		})
	})
	if err != nil {
		return nil, err
	}
	r.Clients = inProcessFlight
	return []Result{r}, released(ctx, e, n)
}

// inProcessFlight is how many exchanges (b) keeps in flight: as many as
// the connector runner, the in-process caller, does by default (tumar
// connector run --in-flight). The gateway commits together what waits
// while it writes the last batch: with 256 in flight a commit took about
// 45 records and (b) ran 15% slower; with 64, 15% slower again
// (docs/benchmarks.md).
const inProcessFlight = connectors.DefaultInFlight

// released checks that the audit log holds n verified entries: the figures
// count only records that went the whole way.
func released(ctx context.Context, e *env, n int) error {
	rep, err := e.app.VerifyAudit(ctx)
	if err != nil {
		return err
	}
	if !rep.OK || rep.LastSeq != int64(n) {
		return fmt.Errorf("the audit log holds %d entries (ok=%v), want %d", rep.LastSeq, rep.OK, n)
	}
	return nil
}

// runHTTPS is (c): the exchange over HTTPS with mutual TLS and keep-alive,
// with 1, 16 and 64 clients.
func runHTTPS(ctx context.Context, e *env, quick bool) ([]Result, error) {
	if err := e.open(ctx); err != nil {
		return nil, err
	}
	addr, err := e.app.Listen()
	if err != nil {
		return nil, err
	}
	sctx, stop := context.WithCancel(ctx)
	done := make(chan error, 1)
	go func() { done <- e.app.Serve(sctx) }()
	closeApp := e.close
	e.close = func() {
		stop()
		<-done
		closeApp()
	}
	tc, err := e.dev.ClientTLS("ngo-sezim")
	if err != nil {
		return nil, err
	}
	base := "https://" + addr.String()
	var out []Result
	total := 0
	levels := e.clients
	if len(levels) == 0 {
		levels = []int{1, 16, 64}
	}
	for _, clients := range levels {
		n := e.size(quick, 2_000, 500)
		if clients > 1 {
			n = e.size(quick, 30_000, 3_000)
		}
		tr := &http.Transport{TLSClientConfig: tc.Clone(), MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
		hc := &http.Client{Timeout: 30 * time.Second, Transport: tr}
		cl := client.New(base, hc)
		bodies := make([]json.RawMessage, n)
		for i := range bodies {
			bodies[i] = referral(total + i)
		}
		lat := make([]time.Duration, n)
		r, err := measure("c", "HTTPS + mutual TLS, keep-alive", n, func() error {
			return parallel(n, clients, func(_, i int) error {
				t0 := time.Now()
				_, err := cl.Submit(ctx, &gateway.ExchangeRequest{Destination: "errp", Purpose: "criminal-referral",
					LegalBasis: "victim-consent", Record: bodies[i]})
				lat[i] = time.Since(t0)
				return err
			})
		})
		tr.CloseIdleConnections()
		if err != nil {
			return nil, err
		}
		total += n
		slices.Sort(lat)
		r.Clients = clients
		r.P50Millis = ms(lat[n/2])
		r.P99Millis = ms(lat[n*99/100])
		out = append(out, r)
	}
	return out, released(ctx, e, total)
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// runBulk is (d): a CSV export read by the NGO connector, streamed through
// the gateway into the outbox and the audit log.
func runBulk(ctx context.Context, e *env, quick bool) ([]Result, error) {
	if err := e.open(ctx); err != nil {
		return nil, err
	}
	n := e.size(quick, 1_000_000, 20_000)
	csvPath := filepath.Join(e.dir, "cases.csv")
	if err := writeCSV(csvPath, n); err != nil {
		return nil, err
	}
	mpath := filepath.Join(e.dir, "mapping.yaml")
	if err := writeFile(mpath, mappingYAML); err != nil {
		return nil, err
	}
	m, err := mapping.Load(mpath)
	if err != nil {
		return nil, err
	}
	c, err := cso.OpenCSV("bench", csvPath, m)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	sealer, ok := e.app.Keys.(keys.Sealer)
	if !ok {
		return nil, errors.New("the key store cannot seal the quarantine")
	}
	runner := &connectors.Runner{Connector: c, Source: "ngo-sezim", Sink: e.app.Exchange,
		Target:     connectors.Target{Destination: "errp", Purpose: "criminal-referral", LegalBasis: "victim-consent"},
		Quarantine: &connectors.Quarantine{Store: e.app.Store, Sealer: sealer},
		BatchSize:  2000, Workers: connectors.DefaultInFlight}
	r, err := measure("d", "bulk: CSV through the NGO connector to outbox and audit", n, func() error {
		st, err := runner.Run(ctx)
		if err == nil && st.Accepted != n {
			err = fmt.Errorf("accepted %d of %d rows (%v)", st.Accepted, n, st.ByReason)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	r.Clients = runner.Workers
	return []Result{r}, released(ctx, e, n)
}

// runVault is (e): pseudonyms from the Vault backend against the
// Vault-compatible test server, batched.
func runVault(ctx context.Context, e *env, quick bool) ([]Result, error) {
	cl := &cleanups{}
	e.close = cl.run
	srv := vaulttest.New(cl)
	opt := keys.VaultOptions{Address: srv.URL, Auth: keys.VaultAuth{Method: "token", Token: srv.RootToken}, Timeout: 30 * time.Second, BatchSize: 1000}
	if _, err := keys.SetupVault(ctx, opt, srv.RootToken, []string{"errp"}); err != nil {
		return nil, err
	}
	v, err := keys.OpenVault(ctx, opt, []string{"errp"})
	if err != nil {
		return nil, err
	}
	cl.Cleanup(v.Close)
	n := e.size(quick, 1_000_000, 100_000)
	const batch = 10_000
	in := make([][]byte, batch)
	for i := range in {
		in[i] = fmt.Appendf(nil, "nb\x00asanbekova zhildiz %07d|1990-05-12", i)
	}
	r, err := measure("e", "Vault backend (Vault-compatible test server), 10,000 per call", n, func() error {
		for done := 0; done < n; done += batch {
			part := in[:min(batch, n-done)]
			ps, err := v.Pseudonymize(ctx, "errp", part)
			if err != nil {
				return err
			}
			if len(ps) != len(part) {
				return fmt.Errorf("%d pseudonyms for %d inputs", len(ps), len(part))
			}
		}
		return nil
	})
	return []Result{r}, err
}

// cleanups stands in for testing.TB where the test server wants one.
type cleanups struct{ fns []func() }

func (c *cleanups) Helper()          {}
func (c *cleanups) Cleanup(f func()) { c.fns = append(c.fns, f) }
func (c *cleanups) run() {
	for i := len(c.fns) - 1; i >= 0; i-- {
		c.fns[i]()
	}
}
