package mapping

import (
	"fmt"
	"strings"

	"github.com/agnivade/levenshtein"
)

// synonyms are column names NGOs use, in Russian, Kyrgyz and English, for
// HTCDS fields. Names are compared after Clean.
var synonyms = map[string][]string{
	"prs_FirstName":          {"имя", "аты", "first name", "given name", "name"},
	"prs_SecondName":         {"фамилия", "фамилиясы", "тегі", "last name", "surname", "family name"},
	"prs_MiddleName":         {"отчество", "атасынын аты", "middle name", "patronymic"},
	"prs_Birthdate":          {"дата рождения", "туулган күнү", "туулган датасы", "date of birth", "birth date", "birthdate", "dob", "д.р."},
	"prs_Gender":             {"пол", "жынысы", "gender", "sex"},
	"prs_Citizenship":        {"гражданство", "жарандыгы", "citizenship", "nationality"},
	"prs_IdentityNumber":     {"паспорт", "номер паспорта", "паспорт номери", "документ", "номер документа", "пин", "инн", "passport", "passport number", "document number", "id number"},
	"prs_MobilePhone":        {"телефон", "мобильный телефон", "моб. телефон", "телефон номери", "phone", "mobile", "mobile phone"},
	"prs_MailingStreet":      {"адрес", "дарек", "улица", "address", "street"},
	"prs_MailingCity":        {"город", "шаар", "населенный пункт", "city", "town"},
	"prs_MailingState":       {"область", "облусу", "регион", "region", "oblast", "province"},
	"prs_MailingCountry":     {"страна", "өлкө", "country"},
	"prs_MaritalStatus":      {"семейное положение", "үй-бүлөлүк абалы", "marital status"},
	"prs_NumberOfChildren":   {"количество детей", "балдардын саны", "children", "number of children"},
	"prs_PrimaryLanguage":    {"язык", "тил", "language"},
	"vic_TraffickingStatus":  {"статус", "статус жертвы", "абалы", "status", "victim status"},
	"vic_AgeWhenTrafficked":  {"возраст на момент", "возраст", "жашы", "age", "age when trafficked"},
	"vic_TypeOfExploitation": {"вид эксплуатации", "эксплуатациянын түрү", "form of exploitation", "type of exploitation", "exploitation"},
	"vic_MethodsOfControl":   {"методы контроля", "формы контроля", "контролдоо ыкмалары", "means of control", "methods of control"},
	"vic_LocationOfExploitation": {"место эксплуатации", "страна эксплуатации", "эксплуатациянын орду", "place of exploitation",
		"location of exploitation", "country of exploitation"},
	"vic_MethodOfRecruitment":     {"способ вербовки", "вербовка", "method of recruitment", "recruitment"},
	"cas_Status":                  {"статус дела", "иштин абалы", "case status"},
	"cas_IncomingReferralDate":    {"дата обращения", "дата поступления", "кайрылган күнү", "date of referral", "referral date", "intake date"},
	"cas_ReferringOrganisation":   {"направившая организация", "кто направил", "referred by", "referring organisation"},
	"cco_CaseComment":             {"комментарий", "примечание", "эскертүү", "comment", "notes", "note"},
	"con_Consent":                 {"согласие", "макулдук", "consent"},
	"cas_OutgoingReferralDetails": {"детали направления", "куда направлен", "referral details"},
}

// Suggestion is a proposed mapping for one column.
type Suggestion struct {
	Column string
	Field  string // "" when nothing fits
	Exact  bool   // a known synonym, not a near miss
}

// Suggest proposes a field for each column of a header row: a known synonym,
// else the closest within two edits, else nothing. Each field is proposed at
// most once.
func Suggest(header []string) []Suggestion {
	out := make([]Suggestion, len(header))
	taken := map[string]bool{}
	for i, h := range header {
		out[i].Column = h
		name := Clean(h)
		if f := exactField(name); f != "" && !taken[f] {
			out[i].Field, out[i].Exact = f, true
			taken[f] = true
		}
	}
	for i := range out {
		if out[i].Field != "" {
			continue
		}
		if f := nearField(Clean(out[i].Column)); f != "" && !taken[f] {
			out[i].Field = f
			taken[f] = true
		}
	}
	return out
}

func exactField(name string) string {
	for field, names := range synonyms {
		for _, n := range names {
			if n == name || strings.EqualFold(field, name) {
				return field
			}
		}
	}
	return ""
}

func nearField(name string) string {
	best, bestDist := "", 3
	if len([]rune(name)) < 4 {
		return ""
	}
	for field, names := range synonyms {
		for _, n := range names {
			if d := levenshtein.ComputeDistance(name, n); d < bestDist {
				best, bestDist = field, d
			}
		}
	}
	return best
}

// SuggestYAML renders suggestions as a mapping file to review: matched
// columns mapped, the rest listed under ignore with a note to decide.
func SuggestYAML(header []string) string {
	var b strings.Builder
	b.WriteString("# Proposed by 'tumar connector map --suggest'. Review every line before use.\n")
	b.WriteString("# source_id: the column with your own case number, if any.\nsource_id: \"\"\ncolumns:\n")
	var unmatched []string
	for _, s := range Suggest(header) {
		switch {
		case s.Field == "":
			unmatched = append(unmatched, s.Column)
		case s.Exact:
			fmt.Fprintf(&b, "  %q: %s\n", s.Column, s.Field)
		default:
			fmt.Fprintf(&b, "  %q: %s   # a near match: check it\n", s.Column, s.Field)
		}
	}
	b.WriteString("# Columns with no proposal: map them to an HTCDS field under columns, or keep them here to leave them out.\nignore:\n")
	for _, c := range unmatched {
		fmt.Fprintf(&b, "  - %q\n", c)
	}
	return b.String()
}
