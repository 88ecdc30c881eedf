// Package policy decides, with Open Policy Agent embedded, what each field of a
// record becomes when it leaves an agency.
//
// The default policy ships inside the binary (default/*.rego) and can be
// replaced by a directory of Rego files. Whatever is loaded is compiled and
// its own Rego tests are run before the engine is handed out, so a gateway
// never starts on a policy that fails its tests. The query is prepared once;
// an undefined or malformed answer is a denial, never a release.
package policy

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

//go:embed default/*.rego
var defaultFS embed.FS

// The rules every policy must define: the field-release decision, and the
// status-token authorisation.
const (
	Query       = "data.tumar.exchange.decision"
	StatusQuery = "data.tumar.status.decision"
)

// Action is what happens to one field.
type Action uint8

// The actions, in order of how much they release.
const (
	Redact Action = iota + 1
	Generalise
	Pseudonymise
	Keep
)

var actionNames = map[string]Action{"redact": Redact, "generalise": Generalise, "pseudonymise": Pseudonymise, "keep": Keep}

func (a Action) String() string {
	switch a {
	case Redact:
		return "redact"
	case Generalise:
		return "generalise"
	case Pseudonymise:
		return "pseudonymise"
	case Keep:
		return "keep"
	}
	return "invalid"
}

// MarshalText writes the action's name.
func (a Action) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText reads an action's name.
func (a *Action) UnmarshalText(b []byte) error {
	v, ok := actionNames[string(b)]
	if !ok {
		return fmt.Errorf("policy: unknown action %q", b)
	}
	*a = v
	return nil
}

// Party is one side of an exchange.
type Party struct {
	ID   string // agency id from the configuration
	Type string // HTCDS organisation type
	// Domain is the agency's pseudonym domain; only the status policy reads
	// it (blind evaluations in an agency's own domain).
	Domain string
}

// FieldRef is what the policy sees of one field: never its value.
type FieldRef struct {
	Name           string
	Class          string
	Kind           string
	Generalization string
}

// Input is everything a release decision may read.
type Input struct {
	Source      Party
	Destination Party
	Purpose     string
	LegalBasis  string
	Fields      []FieldRef
}

// FieldDecision is the action for one field and the rule that chose it.
type FieldDecision struct {
	Action Action `json:"action"`
	Rule   string `json:"rule"`
}

// Decision is the policy's answer for one exchange.
type Decision struct {
	Allow    bool
	Rule     string                   // the exchange rule that allowed it
	Reasons  []string                 // why it was denied
	Fields   map[string]FieldDecision // one per input field when allowed
	Revision string                   // the policy revision that decided

	attached atomic.Pointer[any] // see Attach
}

// Attach keeps v with the decision, for Attached to return. A cached
// decision is shared by every exchange it decides, so what its user derives
// from it alone (the gateway's encoded field decisions) can be derived once
// and shared too. v must not be modified once attached; two racing Attach
// calls must attach equal values.
func (d *Decision) Attach(v any) { d.attached.Store(&v) }

// Attached is what Attach kept, or nil.
func (d *Decision) Attached() any {
	if p := d.attached.Load(); p != nil {
		return *p
	}
	return nil
}

var (
	// ErrDenied is returned by callers that turn a denial into an error.
	ErrDenied = errors.New("policy: exchange denied")
	// ErrEvaluation means the policy could not be evaluated; nothing may be released.
	ErrEvaluation = errors.New("policy: evaluation failed")
	// ErrLoad means the policy could not be loaded, compiled or failed its own tests.
	ErrLoad = errors.New("policy: cannot load")
)

// Engine evaluates the prepared release query. It is safe for concurrent use.
//
// Field-release decisions are cached: a decision reads only the parties, the
// purpose, the legal basis and the fields' names, classes, kinds and
// generalisations, and an Engine holds one policy revision, so the same input
// gives the same decision. Cached decisions are shared and must not be
// modified.
type Engine struct {
	query    rego.PreparedEvalQuery
	status   rego.PreparedEvalQuery
	revision string
	cache    atomic.Pointer[sync.Map] // input key -> *Decision
	cached   atomic.Int64             // entries in the current map
	noCache  bool
}

// cacheLimit bounds the decision cache; when full it starts afresh.
const cacheLimit = 50000

// Modules are Rego sources by file name.
type Modules map[string]string

// Default returns the policy shipped with Tumar.
func Default() Modules {
	mods, err := readModules(defaultFS, "default")
	if err != nil {
		panic("policy: embedded default policy unreadable: " + err.Error()) // the build is broken
	}
	return mods
}

// FromDir reads every .rego file of a directory (tests included).
func FromDir(dir string) (Modules, error) {
	mods, err := readModules(os.DirFS(dir), ".")
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrLoad, dir, err)
	}
	if len(mods) == 0 {
		return nil, fmt.Errorf("%w: %s holds no .rego file", ErrLoad, dir)
	}
	return mods, nil
}

func readModules(fsys fs.FS, dir string) (Modules, error) {
	entries, err := fs.ReadDir(fsys, dir)
	if err != nil {
		return nil, err
	}
	mods := Modules{}
	for _, e := range entries {
		if e.IsDir() || filepath.Ext(e.Name()) != ".rego" {
			continue
		}
		b, err := fs.ReadFile(fsys, path.Join(dir, e.Name()))
		if err != nil {
			return nil, err
		}
		mods[e.Name()] = string(b)
	}
	return mods, nil
}

// Revision is a digest of the modules: the same sources give the same revision.
func (m Modules) Revision() string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		fmt.Fprintf(h, "%d:%s%d:%s", len(n), n, len(m[n]), m[n])
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16]
}

// New compiles the modules, runs their Rego tests, and prepares the query.
// A policy without tests, or with a failing test, is refused.
func New(ctx context.Context, mods Modules) (*Engine, error) {
	results, err := Test(ctx, mods)
	if err != nil {
		return nil, err
	}
	if len(results) == 0 {
		return nil, fmt.Errorf("%w: the policy has no Rego tests; a release policy must test its own rules", ErrLoad)
	}
	if failed := Failed(results); len(failed) > 0 {
		return nil, fmt.Errorf("%w: %d Rego test(s) fail: %s", ErrLoad, len(failed), strings.Join(failed, ", "))
	}
	prepare := func(query string) (rego.PreparedEvalQuery, error) {
		opts := []func(*rego.Rego){rego.Query(query)}
		for name, src := range mods {
			if !strings.HasSuffix(name, "_test.rego") {
				opts = append(opts, rego.Module(name, src))
			}
		}
		pq, err := rego.New(opts...).PrepareForEval(ctx)
		if err != nil {
			return pq, fmt.Errorf("%w: %w", ErrLoad, err)
		}
		return pq, nil
	}
	e := &Engine{revision: mods.Revision()}
	e.cache.Store(&sync.Map{})
	if e.query, err = prepare(Query); err != nil {
		return nil, err
	}
	if e.status, err = prepare(StatusQuery); err != nil {
		return nil, err
	}
	return e, nil
}

// StatusInput is what a status-token authorisation may read.
type StatusInput struct {
	Action   string // record, issue, redeem, revoke, read, lookup, oprf_evaluate
	Agency   Party  // the caller
	Audience Party  // issue: the agency the token is for
	Purpose  string // issue, lookup: the token's purpose
	Domain   string // oprf_evaluate: the OPRF domain asked for
	Token    struct{ Issuer, Audience string }
}

// Authorize asks the status policy whether the caller may act. It returns the
// rule that allowed it; a denial is ErrDenied, an evaluation failure
// ErrEvaluation.
func (e *Engine) Authorize(ctx context.Context, in *StatusInput) (string, error) {
	party := func(p Party) *ast.Term {
		return ast.ObjectTerm(ast.Item(ast.StringTerm("id"), ast.StringTerm(p.ID)), ast.Item(ast.StringTerm("type"), ast.StringTerm(p.Type)),
			ast.Item(ast.StringTerm("domain"), ast.StringTerm(p.Domain)))
	}
	input := ast.NewObject(
		ast.Item(ast.StringTerm("action"), ast.StringTerm(in.Action)),
		ast.Item(ast.StringTerm("domain"), ast.StringTerm(in.Domain)),
		ast.Item(ast.StringTerm("agency"), party(in.Agency)),
		ast.Item(ast.StringTerm("audience"), party(in.Audience)),
		ast.Item(ast.StringTerm("purpose"), ast.StringTerm(in.Purpose)),
		ast.Item(ast.StringTerm("token"), ast.ObjectTerm(
			ast.Item(ast.StringTerm("issuer"), ast.StringTerm(in.Token.Issuer)),
			ast.Item(ast.StringTerm("audience"), ast.StringTerm(in.Token.Audience)))),
	)
	rs, err := e.status.Eval(ctx, rego.EvalParsedInput(input))
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return "", fmt.Errorf("%w: the status policy gave no decision", ErrDenied)
	}
	d, _ := rs[0].Expressions[0].Value.(map[string]any)
	if allow, _ := d["allow"].(bool); !allow {
		reason, _ := d["reason"].(string)
		if reason == "" {
			reason = "denied by the status policy"
		}
		return "", fmt.Errorf("%w: %s", ErrDenied, reason)
	}
	rule, _ := d["rule"].(string)
	return rule, nil
}

// Revision identifies the loaded policy; audit entries record it.
func (e *Engine) Revision() string { return e.revision }

// Decide evaluates the policy for one exchange. A denial is a Decision with
// Allow false; an error means the policy could not answer and nothing may
// leave. Errors are never cached.
func (e *Engine) Decide(ctx context.Context, in *Input) (*Decision, error) {
	if e.noCache {
		return e.decide(ctx, in)
	}
	key := in.key()
	m := e.cache.Load()
	if d, ok := m.Load(key); ok {
		return d.(*Decision), nil
	}
	d, err := e.decide(ctx, in)
	if err != nil {
		return nil, err
	}
	if e.cached.Add(1) > cacheLimit {
		e.cache.Store(&sync.Map{})
		e.cached.Store(1)
		m = e.cache.Load()
	}
	m.Store(key, d)
	return d, nil
}

// WithoutCache returns an engine that evaluates every decision afresh, for
// proving the cache changes nothing.
func (e *Engine) WithoutCache() *Engine {
	return &Engine{query: e.query, status: e.status, revision: e.revision, noCache: true}
}

// key is everything a decision reads, in a canonical form.
func (in *Input) key() string {
	var b strings.Builder
	b.Grow(64 + 48*len(in.Fields))
	for _, s := range []string{in.Source.ID, in.Source.Type, in.Destination.ID, in.Destination.Type, in.Purpose, in.LegalBasis} {
		b.WriteString(s)
		b.WriteByte(0)
	}
	for _, f := range in.Fields {
		b.WriteString(f.Name)
		b.WriteByte(1)
		b.WriteString(f.Class)
		b.WriteByte(1)
		b.WriteString(f.Kind)
		b.WriteByte(1)
		b.WriteString(f.Generalization)
		b.WriteByte(0)
	}
	return b.String()
}

func (e *Engine) decide(ctx context.Context, in *Input) (*Decision, error) {
	rs, err := e.query.Eval(ctx, rego.EvalParsedInput(in.value()))
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	if len(rs) != 1 || len(rs[0].Expressions) != 1 {
		return &Decision{Reasons: []string{"the policy gave no decision"}, Revision: e.revision}, nil
	}
	d, err := parseDecision(rs[0].Expressions[0].Value, in)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrEvaluation, err)
	}
	d.Revision = e.revision
	return d, nil
}

func parseDecision(v any, in *Input) (*Decision, error) {
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, errors.New("decision is not an object")
	}
	d := &Decision{}
	d.Allow, _ = obj["allow"].(bool)
	if !d.Allow {
		for _, r := range asSlice(obj["reasons"]) {
			if s, ok := r.(string); ok {
				d.Reasons = append(d.Reasons, s)
			}
		}
		if len(d.Reasons) == 0 {
			d.Reasons = []string{"denied by policy"}
		}
		return d, nil
	}
	d.Rule, _ = obj["rule"].(string)
	fields, _ := obj["fields"].(map[string]any)
	d.Fields = make(map[string]FieldDecision, len(in.Fields))
	for _, f := range in.Fields {
		fd, err := parseFieldDecision(fields[f.Name])
		if err != nil {
			return nil, fmt.Errorf("field %s: %w", f.Name, err)
		}
		d.Fields[f.Name] = fd
	}
	if len(fields) != len(in.Fields) {
		return nil, errors.New("decision names fields that were not asked about")
	}
	return d, nil
}

func parseFieldDecision(v any) (FieldDecision, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return FieldDecision{}, errors.New("no action decided")
	}
	name, _ := m["action"].(string)
	a, ok := actionNames[name]
	if !ok {
		return FieldDecision{}, errors.New("unknown action")
	}
	rule, _ := m["rule"].(string)
	if rule == "" {
		return FieldDecision{}, errors.New("action without a rule")
	}
	return FieldDecision{Action: a, Rule: rule}, nil
}

func asSlice(v any) []any {
	s, _ := v.([]any)
	return s
}

// value builds the OPA input directly as an AST value, sparing the JSON round
// trip OPA makes of a Go struct.
func (in *Input) value() ast.Value {
	fields := make([]*ast.Term, len(in.Fields))
	for i, f := range in.Fields {
		fields[i] = ast.ObjectTerm(
			ast.Item(ast.StringTerm("name"), ast.StringTerm(f.Name)),
			ast.Item(ast.StringTerm("class"), ast.StringTerm(f.Class)),
			ast.Item(ast.StringTerm("kind"), ast.StringTerm(f.Kind)),
			ast.Item(ast.StringTerm("generalization"), ast.StringTerm(f.Generalization)),
		)
	}
	party := func(p Party) *ast.Term {
		return ast.ObjectTerm(
			ast.Item(ast.StringTerm("id"), ast.StringTerm(p.ID)),
			ast.Item(ast.StringTerm("type"), ast.StringTerm(p.Type)),
		)
	}
	return ast.NewObject(
		ast.Item(ast.StringTerm("source"), party(in.Source)),
		ast.Item(ast.StringTerm("destination"), party(in.Destination)),
		ast.Item(ast.StringTerm("purpose"), ast.StringTerm(in.Purpose)),
		ast.Item(ast.StringTerm("legal_basis"), ast.StringTerm(in.LegalBasis)),
		ast.Item(ast.StringTerm("fields"), ast.ArrayTerm(fields...)),
	)
}

// FieldNames returns the input's field names, sorted; useful for logs.
func (in *Input) FieldNames() []string {
	names := make([]string, len(in.Fields))
	for i, f := range in.Fields {
		names[i] = f.Name
	}
	slices.Sort(names)
	return names
}
