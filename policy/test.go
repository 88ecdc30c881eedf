package policy

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/tester"
)

// TestResult is the outcome of one Rego test.
type TestResult struct {
	Name     string // package.rule
	Pass     bool
	Message  string // why it failed, empty when it passed
	Duration time.Duration
}

// Test compiles the modules and runs every Rego test among them, in name order.
func Test(ctx context.Context, mods Modules) ([]TestResult, error) {
	parsed := make(map[string]*ast.Module, len(mods))
	for name, src := range mods {
		m, err := ast.ParseModuleWithOpts(name, src, ast.ParserOptions{RegoVersion: ast.RegoV1})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrLoad, err)
		}
		parsed[name] = m
	}
	ch, err := tester.NewRunner().SetModules(parsed).RunTests(ctx, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrLoad, err)
	}
	var out []TestResult
	for r := range ch {
		tr := TestResult{Name: strings.TrimPrefix(r.Package, "data.") + "." + r.Name, Pass: r.Pass(), Duration: r.Duration}
		switch {
		case r.Error != nil:
			tr.Message = r.Error.Error()
		case r.Fail:
			tr.Message = "failed"
			if r.FailedAt != nil {
				tr.Message = "failed at " + r.FailedAt.Location.String()
			}
		case r.Skip:
			tr.Message = "skipped"
		}
		out = append(out, tr)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, nil
}

// Failed returns the names of the tests that did not pass.
func Failed(results []TestResult) []string {
	var names []string
	for _, r := range results {
		if !r.Pass {
			names = append(names, r.Name)
		}
	}
	return names
}
