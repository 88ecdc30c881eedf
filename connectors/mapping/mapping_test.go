package mapping

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestLoadRefusesABadMapping(t *testing.T) {
	p := filepath.Join(t.TempDir(), "m.yaml")
	os.WriteFile(p, []byte(`columns:
  "Имя": prs_FirstName
  "Аты": prs_FirstName
  "Пол": {field: prs_Gender, values: {ж: Female}}
  "Рост": prs_Height
`), 0o600)
	_, err := Load(p)
	for _, want := range []string{`both fill prs_FirstName`, `"Female", which is not in the prs_Gender picklist`, `"prs_Height" is not an HTCDS field`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("missing %q in %v", want, err)
		}
	}
}

func TestSuggest(t *testing.T) {
	got := Suggest([]string{"\ufeffФамилия", "Аты", "Туулган күнү", "Дата рожденя", "Паспорт", "Любимый цвет"})
	want := []string{"prs_SecondName", "prs_FirstName", "prs_Birthdate", "", "prs_IdentityNumber", ""}
	for i, s := range got {
		if s.Field != want[i] {
			t.Errorf("%q: suggested %q, want %q", s.Column, s.Field, want[i])
		}
	}
	near := Suggest([]string{"Дата рожденя"})
	if near[0].Field != "prs_Birthdate" || near[0].Exact {
		t.Errorf("a misspelt column: %+v", near[0])
	}
	y := SuggestYAML([]string{"Фамилия", "Любимый цвет"})
	if !strings.Contains(y, `"Фамилия": prs_SecondName`) || !strings.Contains(y, `- "Любимый цвет"`) {
		t.Fatalf("yaml:\n%s", y)
	}
}

func TestConvert(t *testing.T) {
	m := &Mapping{Columns: map[string]Column{
		"Д.Р.":     {Field: "prs_Birthdate"},
		"Согласие": {Field: "con_Consent"},
		"Контроль": {Field: "vic_MethodsOfControl", Separator: ",", Values: map[string]string{"долги": "DebtBondage"}},
		"Возраст":  {Field: "vic_AgeWhenTrafficked"},
	}}
	p, err := m.Bind([]string{"Д.Р.", "Согласие", "Контроль", "Возраст"})
	if err != nil {
		t.Fatal(err)
	}
	_, rec, err := p.Row([]string{"14/03/1996", "ооба", "долги, Threats", "23"})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := rec.MarshalJSON()
	want := `{"prs_Birthdate":"1996-03-14","vic_AgeWhenTrafficked":23,"vic_MethodsOfControl":["DebtBondage","Threats"],"con_Consent":true}`
	if string(out) != want {
		t.Fatalf("got  %s\nwant %s", out, want)
	}
	_, _, err = p.Row([]string{"14/13/1996", "может быть", "долги", "двадцать"})
	for _, w := range []string{`column "Д.Р." (prs_Birthdate)`, `column "Согласие" (con_Consent)`, `column "Возраст" (vic_AgeWhenTrafficked)`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("missing %q in %v", w, err)
		}
	}
	if strings.Contains(err.Error(), "может быть") || strings.Contains(err.Error(), "двадцать") {
		t.Fatal("an error quotes a value")
	}
}

func FuzzRow(f *testing.F) {
	m := &Mapping{Columns: map[string]Column{"a": {Field: "prs_Birthdate"}, "b": {Field: "vic_MethodsOfControl"}, "c": {Field: "prs_FirstName"}}}
	p, _ := m.Bind([]string{"a", "b", "c"})
	f.Add("14.03.1996", "Threats;DebtBondage", "Айгүл")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		_, rec, err := p.Row([]string{a, b, c})
		if err == nil && rec.Validate() != nil {
			t.Fatal("Row accepted an invalid record")
		}
	})
}
