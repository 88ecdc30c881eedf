package htcds

import (
	"bytes"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestCatalogueIsConsistent(t *testing.T) {
	seen := map[string]bool{}
	for i, f := range Fields() {
		if seen[f.Name] {
			t.Errorf("%s listed twice", f.Name)
		}
		seen[f.Name] = true
		if f.ID != FieldID(i) {
			t.Errorf("%s has ID %d at index %d", f.Name, f.ID, i)
		}
		if !safeName.MatchString(f.Name) {
			t.Errorf("%s does not look like an HTCDS system name", f.Name)
		}
		if (f.Kind == Picklist || f.Kind == MultiPicklist) != (len(f.Values) > 0) {
			t.Errorf("%s: picklist kinds and values disagree", f.Name)
		}
		if f.Gen == ToRegion && f.Address == "" {
			t.Errorf("%s generalises to a region but names no address group", f.Name)
		}
		if f.Kind == FreeText && f.Class != DirectIdentifier {
			t.Errorf("%s: free text often holds names and must be classed as a direct identifier", f.Name)
		}
	}
	for _, r := range []Role{RoleFirstName, RoleLastName, RoleBirthdate, RoleDocument, RoleMobilePhone} {
		if len(FieldsWithRole(r)) != 1 {
			t.Errorf("role %d: want exactly one field", r)
		}
	}
}

const sample = `{
 "prs_FirstName": "Жылдыз", "prs_SecondName": "Асанбекова", "prs_Birthdate": "1990-05-12",
 "prs_Gender": "Feminine", "prs_Citizenship": ["KG"], "vic_AgeWhenTrafficked": 23,
 "vic_MethodsOfControl": ["DebtBondage", "WithholdsDocuments"], "prs_Deceased": false,
 "prs_MailingStreet": "ул. Киевская 12", "prs_MailingState": "Chuy", "prs_MailingLatitude": 42.87461,
 "cco_CaseComment": "", "cas_Status": "Active"}`

func TestRecordRoundTrip(t *testing.T) {
	var r Record
	if err := json.Unmarshal([]byte(sample), &r); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 13 {
		t.Fatalf("Len = %d", r.Len())
	}
	out, err := json.Marshal(r)
	if err != nil {
		t.Fatal(err)
	}
	var back Record
	if err := json.Unmarshal(out, &back); err != nil {
		t.Fatalf("re-decoding %s: %v", out, err)
	}
	out2, _ := json.Marshal(back)
	if string(out) != string(out2) {
		t.Fatalf("round trip changed the record:\n%s\n%s", out, out2)
	}
	if !strings.HasPrefix(string(out), `{"prs_FirstName":"Жылдыз","prs_SecondName"`) {
		t.Fatalf("not in catalogue order: %s", out)
	}
}

func TestValidationNamesTheField(t *testing.T) {
	const canary = "CANARY-Бакыт-7731"
	for _, tc := range []struct {
		name, body, want string
	}{
		{"unknown field", `{"prs_FirstName": "x", "prs_ShoeSize": "42"}`, `field #2: is not an HTCDS field`},
		{"misspelt field", `{"prs_Firstname": "x"}`, `field #1: is not an HTCDS field (did you mean prs_FirstName?)`},
		{"unknown field carrying a document number", `{"doc_AN1234567": "x"}`, `field #1: is not an HTCDS field`},
		{"unknown field with unsafe name", `{"` + canary + `": "x"}`, `field #1: is not an HTCDS field`},
		{"null", `{"vic_AgeWhenTrafficked": null}`, "field vic_AgeWhenTrafficked: must not be null"},
		{"future birth date", `{"prs_Birthdate": "2999-01-01"}`, "field prs_Birthdate: is not a possible birth date"},
		{"latitude out of range", `{"prs_MailingLatitude": 120.5}`, "field prs_MailingLatitude: must be a coordinate from -90 to 90"},
		{"too many values", `{"prs_Citizenship": [` + strings.TrimSuffix(strings.Repeat(`"KG",`, MaxListItems+1), ",") + `]}`, "field prs_Citizenship: has more than"},
		{"picklist", `{"prs_Gender": "` + canary + `"}`, "field prs_Gender: value is not in the HTCDS picklist"},
		{"multi picklist", `{"vic_MethodsOfControl": ["Threats", "` + canary + `"]}`, "field vic_MethodsOfControl: a value is not in the HTCDS picklist"},
		{"impossible date", `{"prs_Birthdate": "1990-02-30"}`, "field prs_Birthdate: is not a possible date"},
		{"date format", `{"prs_Birthdate": "12.05.1990"}`, "field prs_Birthdate: is not a possible date"},
		{"wrong type", `{"prs_FirstName": 12}`, "field prs_FirstName: must be a string"},
		{"duplicate", `{"prs_FirstName": "a", "prs_FirstName": "b"}`, "field prs_FirstName: appears more than once"},
		{"country", `{"prs_Citizenship": ["kyrgyzstan"]}`, "field prs_Citizenship: a value is not an ISO 3166"},
		{"negative age", `{"vic_AgeWhenTrafficked": -3}`, "field vic_AgeWhenTrafficked: must be a whole number"},
		{"too long", `{"prs_FirstName": "` + strings.Repeat("я", MaxValueBytes) + `"}`, "field prs_FirstName: is longer than"},
		{"empty name", `{"prs_FirstName": ""}`, "field prs_FirstName: must not be empty"},
		{"malformed", `{"prs_FirstName": "` + canary + `"`, "field (record): is malformed JSON"},
		{"not an object", `["` + canary + `"]`, "field (record): must be a JSON object"},
		{"invalid utf-8", "{\"prs_FirstName\": \"\xff\xfe\"}", "field (record): is not valid UTF-8"},
		{"trailing data", `{} {}`, "has data after the object"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var r Record
			err := r.UnmarshalJSON([]byte(tc.body))
			if err == nil {
				t.Fatal("accepted")
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
			if strings.Contains(err.Error(), canary) || strings.Contains(err.Error(), "Бакыт") || strings.Contains(err.Error(), "AN1234567") {
				t.Fatalf("error echoes the input: %q", err)
			}
		})
	}
}

func TestValidationReportsEveryProblem(t *testing.T) {
	var r Record
	err := r.UnmarshalJSON([]byte(`{"prs_Gender": "x", "prs_Birthdate": "1990-13-01", "prs_Nope": 1}`))
	var ve *ValidationError
	if !errors.As(err, &ve) || len(ve.Problems) != 3 || !errors.Is(err, ErrInvalid) {
		t.Fatalf("want three problems, got %v", err)
	}
}

func TestGeneralize(t *testing.T) {
	var r Record
	if err := json.Unmarshal([]byte(sample), &r); err != nil {
		t.Fatal(err)
	}
	id := func(name string) FieldID { f, _ := Lookup(name); return f.ID }
	all := func(FieldID) bool { return true }
	for _, tc := range []struct{ field, want string }{
		{"prs_Birthdate", "1990"},
		{"vic_AgeWhenTrafficked", "18-24"},
		{"prs_MailingStreet", "Chuy"},
		{"prs_MailingLatitude", "42.9"},
	} {
		got, ok := r.Generalize(id(tc.field), all)
		if !ok || got != tc.want {
			t.Errorf("%s: got %q %v, want %q", tc.field, got, ok, tc.want)
		}
	}
	var bare Record
	bare.SetString("prs_MailingStreet", "ул. Киевская 12")
	if v, ok := bare.Generalize(id("prs_MailingStreet"), all); ok {
		t.Errorf("a street with no region generalised to %q", v)
	}
	// A region the policy withholds is never released through another field.
	notState := func(f FieldID) bool { return f != id("prs_MailingState") }
	if v, ok := r.Generalize(id("prs_MailingStreet"), notState); ok {
		t.Errorf("a street generalised to %q although the State is withheld and there is no Country", v)
	}
	r.SetString("prs_MailingCountry", "KG")
	if v, _ := r.Generalize(id("prs_MailingStreet"), notState); v != "KG" {
		t.Errorf("with the State withheld the street should fall back to the kept Country, got %q", v)
	}
}

func TestAgeBand(t *testing.T) {
	for age, want := range map[int]string{0: "0-11", 11: "0-11", 12: "12-17", 17: "12-17", 18: "18-24", 25: "25-34", 34: "25-34", 35: "35-44", 64: "55-64", 65: "65+", 90: "65+"} {
		if got := AgeBand(age); got != want {
			t.Errorf("AgeBand(%d) = %s, want %s", age, got, want)
		}
	}
}

func FuzzRecordJSON(f *testing.F) {
	f.Add([]byte(sample))
	f.Add([]byte(`{"prs_FirstName": 1}`))
	f.Add([]byte(`{`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var r Record
		if err := r.UnmarshalJSON(data); err != nil {
			return
		}
		out, err := json.Marshal(r)
		if err != nil {
			t.Fatalf("an accepted record does not encode: %v", err)
		}
		// The gateway hashes MarshalJSON's bytes directly: they must be
		// what encoding/json writes, unchanged by its check and compaction.
		if direct, err := r.MarshalJSON(); err != nil || !bytes.Equal(direct, out) {
			t.Fatalf("MarshalJSON gives %s, %v; encoding/json writes %s", direct, err, out)
		}
		var back Record
		if err := back.UnmarshalJSON(out); err != nil {
			t.Fatalf("an accepted record does not decode after encoding: %v\n%s", err, out)
		}
	})
}

// A record built with Set validates like a decoded one: false is a value.
func TestValidateBuiltRecord(t *testing.T) {
	var r Record
	f, _ := Lookup("con_Consent")
	r.Set(f.ID, Value{Bool: false})
	age, _ := Lookup("vic_AgeWhenTrafficked")
	r.Set(age.ID, Value{Num: 0})
	if err := r.Validate(); err != nil {
		t.Fatalf("a built record with false and 0: %v", err)
	}
	r.SetString("prs_FirstName", "")
	if err := r.Validate(); err == nil {
		t.Fatal("an empty name validated")
	}
}

// A field set holds exactly the record's fields, and the catalogue fits in
// one.
func TestFieldSetHoldsTheRecordsFields(t *testing.T) {
	var set FieldSet
	if n := len(Fields()); n > 64*len(set) {
		t.Fatalf("the catalogue has %d fields; a FieldSet holds %d", n, 64*len(set))
	}
	var r Record
	want := map[FieldID]bool{}
	for i := range Fields() {
		if i%3 == 0 || i == len(Fields())-1 {
			id := FieldID(i)
			r.Set(id, Value{Str: "x"})
			want[id] = true
		}
	}
	set = r.FieldSet()
	for i := range Fields() {
		id := FieldID(i)
		if got := set[id/64]&(1<<(id%64)) != 0; got != want[id] {
			t.Errorf("field %s: in the set %v, in the record %v", Fields()[i].Name, got, want[id])
		}
	}
	var other Record
	other.Set(0, Value{Str: "x"})
	if other.FieldSet() == set {
		t.Error("records of other fields have the same set")
	}
}

// The role table is the catalogue scanned, and a caller's append cannot
// reach it.
func TestFieldsWithRoleIsTheCatalogues(t *testing.T) {
	for r := RoleFirstName; r <= RoleMobilePhone; r++ {
		var want []FieldID
		for _, f := range Fields() {
			if f.Role == r {
				want = append(want, f.ID)
			}
		}
		got := FieldsWithRole(r)
		if !slices.Equal(got, want) {
			t.Errorf("role %d: got %v, want %v", r, got, want)
		}
		_ = append(got, FieldID(0))
		if again := FieldsWithRole(r); !slices.Equal(again, want) {
			t.Errorf("role %d: an append changed the table: %v", r, again)
		}
	}
	if got := FieldsWithRole(NoRole); got != nil {
		t.Errorf("NoRole: got %v, want none", got)
	}
}

func TestAppendNameIsTheNameInJSON(t *testing.T) {
	for _, f := range Fields() {
		want, _ := json.Marshal(f.Name)
		if got := (Entry{ID: f.ID}).AppendName([]byte("x")); string(got) != "x"+string(want) {
			t.Errorf("%s: got %s, want x%s", f.Name, got, want)
		}
	}
}
