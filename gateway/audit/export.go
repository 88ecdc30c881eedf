package audit

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"time"
)

// Formats entries can be exported in.
var Formats = []string{"jsonl", "csv", "opa"}

// Export writes entries as JSON lines, CSV (one row per field decision), or
// OPA decision-log events, so that OPA tooling can read Tumar's decisions.
func Export(w io.Writer, format string, entries []Entry) error {
	switch format {
	case "jsonl":
		enc := json.NewEncoder(w)
		for i := range entries {
			if err := enc.Encode(&entries[i]); err != nil {
				return err
			}
		}
		return nil
	case "opa":
		enc := json.NewEncoder(w)
		for i := range entries {
			if err := enc.Encode(entries[i].OPADecision()); err != nil {
				return err
			}
		}
		return nil
	case "csv":
		return exportCSV(w, entries)
	}
	return fmt.Errorf("audit: %q is not an export format (jsonl, csv, opa)", format)
}

// CSVHeader is the header row of the CSV export.
var CSVHeader = []string{"seq", "time", "event", "decision_id", "source", "destination", "purpose", "legal_basis", "outcome", "policy_revision", "rule", "subject", "field", "action", "field_rule"}

func exportCSV(w io.Writer, entries []Entry) error {
	cw := csv.NewWriter(w)
	cw.Write(CSVHeader)
	for _, e := range entries {
		row := []string{strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(time.RFC3339), e.Event, e.DecisionID, e.Source, e.Destination,
			e.Purpose, e.LegalBasis, string(e.Outcome), e.PolicyRevision, e.Rule, e.Subject}
		if len(e.Fields) == 0 {
			cw.Write(append(row, "", "", ""))
		}
		for _, f := range e.Fields {
			cw.Write(append(row, f.Field, f.Action, f.Rule))
		}
	}
	cw.Flush()
	return cw.Error()
}

// OPADecision is the entry in the shape of an OPA decision-log event:
// decision_id, path, input (field names only: no value ever reaches the
// audit log, so nothing needs masking), result and bundle revision. Tumar's
// own facts (seq, hash, outcome, subject) ride under "tumar".
func (e *Entry) OPADecision() map[string]any {
	fields := make([]string, len(e.Fields))
	result := map[string]any{}
	for i, f := range e.Fields {
		fields[i] = f.Field
		result[f.Field] = map[string]string{"action": f.Action, "rule": f.Rule}
	}
	path := "tumar/exchange/decision"
	if e.Event != "exchange" {
		path = "tumar/status/decision"
	}
	return map[string]any{
		"decision_id": e.DecisionID,
		"path":        path,
		"timestamp":   e.Time.UTC().Format(time.RFC3339Nano),
		"labels":      map[string]string{"app": "tumar"},
		"bundles":     map[string]any{"tumar": map[string]string{"revision": e.PolicyRevision}},
		"input": map[string]any{"source": map[string]string{"id": e.Source}, "destination": map[string]string{"id": e.Destination},
			"purpose": e.Purpose, "legal_basis": e.LegalBasis, "fields": fields},
		"result": map[string]any{"allow": e.Outcome != Denied, "rule": e.Rule, "fields": result, "reasons": e.Reasons},
		"tumar":  map[string]any{"seq": e.Seq, "event": e.Event, "outcome": e.Outcome, "subject": e.Subject, "hash": fmt.Sprintf("%x", e.Hash)},
	}
}
