// Package demo runs `tumar demo`: a whole gateway on loopback with no set-up,
// bundled referrals from an NGO to the crime register and to a consulate, and
// a side-by-side account of what was sent, what each recipient received, and
// the rule behind every field.
package demo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"
	"text/tabwriter"
	"unicode/utf8"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/client"
	"github.com/tumarproject/tumar/gateway/devenv"
	"github.com/tumarproject/tumar/gateway/htcds"
)

// route is one destination the demo sends every sample to.
type route struct {
	dest, purpose, basis string
}

var routes = []route{
	{"errp", "criminal-referral", "kg-law-trafficking-in-persons"},
	{"consulate-moscow", "consular-assistance", "victim-consent"},
}

const source = "ngo-sezim"

// Options tune Run; the zero value is what `tumar demo` uses.
type Options struct {
	KDF keys.KDF // zero means keys.DefaultKDF
}

// Run performs the demo and writes its account to out.
func Run(ctx context.Context, out io.Writer, log *slog.Logger, opt Options) error {
	dir, err := os.MkdirTemp("", "tumar-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	env, err := devenv.Create(ctx, dir, devenv.Options{Listen: "127.0.0.1:0", KDF: opt.KDF})
	if err != nil {
		return err
	}
	app, err := gateway.Open(ctx, env.Config, log)
	if err != nil {
		return err
	}
	addr, err := app.Listen()
	if err != nil {
		return err
	}
	sctx, stop := context.WithCancel(ctx)
	served := make(chan error, 1)
	go func() { served <- app.Serve(sctx) }()
	err = exchange(ctx, out, env, "https://"+addr.String(), app)
	stop()
	return errors.Join(err, <-served)
}

func exchange(ctx context.Context, out io.Writer, env *devenv.Env, base string, app *gateway.App) error {
	clients := map[string]*client.Client{}
	for _, id := range []string{source, "errp", "consulate-moscow"} {
		hc, err := env.Client(id)
		if err != nil {
			return err
		}
		clients[id] = client.New(base, hc)
	}
	fmt.Fprintf(out, "Tumar demo: a gateway on %s with a fresh keyring, a development CA and policy %s.\n", base, app.Policy.Revision())
	fmt.Fprintf(out, "The NGO %s refers %d invented people to the crime register (errp) and to a consulate (consulate-moscow).\n\n", source, len(devenv.Samples()))

	samples := devenv.Samples()
	sent := make([]map[string]string, len(samples)) // per sample: destination -> exchange id
	for i, s := range samples {
		sent[i] = map[string]string{}
		for _, r := range routes {
			receipt, err := clients[source].Submit(ctx, &gateway.ExchangeRequest{
				Destination: r.dest, Purpose: r.purpose, LegalBasis: r.basis, SourceRecordID: s.SourceRecordID, Record: s.Record,
			})
			if err != nil {
				return fmt.Errorf("demo: submit %s to %s: %w", s.SourceRecordID, r.dest, err)
			}
			sent[i][r.dest] = receipt.ExchangeID
		}
	}
	received := map[string]*gateway.Released{} // exchange id -> what the recipient got
	for _, r := range routes {
		if err := collect(ctx, clients[r.dest], received); err != nil {
			return err
		}
	}
	for i, s := range samples {
		if err := printSample(out, i, s, sent[i], received); err != nil {
			return err
		}
	}
	printLinks(out, sent, received)
	printDenied(ctx, out, clients[source], samples[0])
	if err := printBlindLookup(ctx, out, clients[source], clients["consulate-moscow"], samples); err != nil {
		return err
	}
	return printAudit(ctx, out, app)
}

// collect pulls a recipient's inbox, acknowledges it, and checks that nothing
// acknowledged is served again.
func collect(ctx context.Context, c *client.Client, into map[string]*gateway.Released) error {
	msgs, err := c.Inbox(ctx, 100)
	if err != nil {
		return fmt.Errorf("demo: inbox: %w", err)
	}
	ids := make([]string, len(msgs))
	for i, m := range msgs {
		var rel gateway.Released
		if err := json.Unmarshal(m.Released, &rel); err != nil {
			return fmt.Errorf("demo: released record: %w", err)
		}
		into[m.ID] = &rel
		ids[i] = m.ID
	}
	if n, err := c.Ack(ctx, ids); err != nil || n != len(ids) {
		return fmt.Errorf("demo: acknowledged %d of %d: %v", n, len(ids), err)
	}
	again, err := c.Inbox(ctx, 100)
	if err != nil || len(again) != 0 {
		return fmt.Errorf("demo: %d acknowledged messages served again (%v)", len(again), err)
	}
	return nil
}

func printSample(out io.Writer, i int, s devenv.Sample, sent map[string]string, received map[string]*gateway.Released) error {
	var rec htcds.Record
	if err := rec.UnmarshalJSON(s.Record); err != nil {
		return err
	}
	fmt.Fprintf(out, "Referral %d, NGO case %s\n", i+1, s.SourceRecordID)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
	header := "  FIELD\t" + source + " SENT"
	rels := make([]*gateway.Released, len(routes))
	got := make([]map[string]json.RawMessage, len(routes))
	rules := make([]map[string]audit.FieldAction, len(routes))
	for j, r := range routes {
		rels[j] = received[sent[r.dest]]
		if rels[j] == nil {
			return fmt.Errorf("demo: %s did not receive %s", r.dest, s.SourceRecordID)
		}
		if err := json.Unmarshal(rels[j].Record, &got[j]); err != nil {
			return err
		}
		rules[j] = map[string]audit.FieldAction{}
		for _, f := range rels[j].Fields {
			rules[j][f.Field] = f
		}
		header += "\t" + r.dest + " RECEIVED\tRULE (" + r.purpose + ")"
	}
	fmt.Fprintln(tw, header)
	for _, e := range rec.Entries() {
		name := e.Field().Name
		v, _ := e.JSON()
		line := "  " + name + "\t" + show(v)
		for j := range routes {
			f := rules[j][name]
			line += "\t" + show(got[j][name]) + "\t" + f.Action + " by " + strings.TrimPrefix(f.Rule, rels[j].Purpose+"/")
		}
		fmt.Fprintln(tw, line)
	}
	tw.Flush()
	for j, r := range routes {
		keys := "(none released)"
		if rels[j].Subject != nil {
			keys = strings.Join(rels[j].Subject.Keys, ", ")
		}
		fmt.Fprintf(out, "  %s's pseudonyms of this person: %s\n", r.dest, keys)
	}
	fmt.Fprintln(out)
	return nil
}

// show renders a JSON value for a table cell, shortened; "—" for nothing.
func show(v json.RawMessage) string {
	if v == nil {
		return "—"
	}
	var s string
	if json.Unmarshal(v, &s) != nil {
		s = string(v)
	}
	if utf8.RuneCountInString(s) > 30 {
		r := []rune(s)
		s = string(r[:29]) + "…"
	}
	return s
}

func printLinks(out io.Writer, sent []map[string]string, received map[string]*gateway.Released) {
	if len(sent) < 2 {
		return
	}
	a, b := received[sent[0]["errp"]], received[sent[1]["errp"]]
	c := received[sent[0]["consulate-moscow"]]
	same := a.Subject != nil && b.Subject != nil && a.Subject.Keys[0] == b.Subject.Keys[0]
	differ := a.Subject != nil && c.Subject != nil && macOf(a.Subject.Keys[0]) != macOf(c.Subject.Keys[0])
	fmt.Fprintf(out, "Linking: referrals 1 (Cyrillic) and 2 (passport Latin) give errp the same pseudonym: %v.\n", same)
	fmt.Fprintf(out, "Separation: errp and consulate-moscow get unrelated pseudonyms (different MACs) for the same person: %v.\n\n", differ)
}

// macOf is the MAC part of a pseudonym: the domain prefix alone would make any
// two domains' pseudonyms look different.
func macOf(p string) string { return p[strings.LastIndexByte(p, ':')+1:] }

func printDenied(ctx context.Context, out io.Writer, c *client.Client, s devenv.Sample) {
	_, err := c.Submit(ctx, &gateway.ExchangeRequest{Destination: "consulate-moscow", Purpose: "criminal-referral", LegalBasis: "kg-law-trafficking-in-persons", Record: s.Record})
	var apiErr *client.APIError
	if errors.As(err, &apiErr) {
		fmt.Fprintf(out, "Denied: a criminal referral to the consulate gets %d %s: %s.\n", apiErr.Status, apiErr.Code, strings.Join(apiErr.Reasons, "; "))
		return
	}
	fmt.Fprintf(out, "Denied: expected a denial, got %v.\n", err)
}

// printBlindLookup records the first person's status at the NGO, then has
// the consulate ask about the person of the second referral (the passport
// spelling) blind: only blinded match keys leave the consulate.
func printBlindLookup(ctx context.Context, out io.Writer, ngo, consulate *client.Client, samples []devenv.Sample) error {
	if _, err := ngo.RecordStatus(ctx, samples[0].Record, "2026-11-01"); err != nil {
		return fmt.Errorf("demo: record a status: %w", err)
	}
	res, err := consulate.BlindLookup(ctx, samples[1].Record, client.LookupOptions{Purpose: "consular-assistance"})
	if err != nil {
		return fmt.Errorf("demo: blind look-up: %w", err)
	}
	if !res.Found {
		return errors.New("demo: the blind look-up did not find the recorded status")
	}
	fmt.Fprintf(out, "Blind look-up: %s recorded the status of the person of referral 1. consulate-moscow asked about referral 2's person\n", source)
	fmt.Fprintf(out, "  sending only OPRF-blinded match keys, and got %q (decided by %s) with a single-use token of its own.\n\n", res.Status, res.DecisionOrg)
	return nil
}

func printAudit(ctx context.Context, out io.Writer, app *gateway.App) error {
	log, err := app.Store.AuditLog(ctx, 0, 1<<20)
	if err != nil {
		return err
	}
	if err := audit.Verify(nil, log); err != nil {
		return fmt.Errorf("demo: audit chain: %w", err)
	}
	counts := map[audit.Outcome]int{}
	for _, e := range log {
		counts[e.Outcome]++
	}
	fmt.Fprintf(out, "Audit: %d hash-chained entries (%d released, %d denied); the chain verifies.\n", len(log), counts[audit.Released], counts[audit.Denied])
	return nil
}
