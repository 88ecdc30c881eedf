package devenv

import (
	_ "embed"
	"encoding/json"
)

//go:embed samples.json
var samplesJSON []byte

// Sample is one bundled referral of an invented person.
type Sample struct {
	SourceRecordID string          `json:"source_record_id"`
	Record         json.RawMessage `json:"record"`
}

// Samples returns the bundled referrals: synthetic Kyrgyz people, names in
// Cyrillic and in passport Latin. The first two are the same person written
// two ways.
func Samples() []Sample {
	var s []Sample
	if err := json.Unmarshal(samplesJSON, &s); err != nil {
		panic("devenv: bundled samples are malformed: " + err.Error()) // the build is broken
	}
	return s
}
