package htcds

import (
	"encoding/json"
	"testing"
)

const benchRecord = `{"prs_FirstName":"Айгүл","prs_SecondName":"Токтосунова","prs_Birthdate":"1996-03-14","prs_Gender":"Feminine","prs_Citizenship":["KG"],"prs_PrimaryLanguage":"ky","prs_IdentityNumber":"ID 0417732","prs_MobilePhone":"0555 410 732","prs_MailingStreet":"ул. Жибек Жолу 112, кв. 7","prs_MailingCity":"Бишкек","prs_MailingState":"Chuy","prs_MailingCountry":"KG","vic_TraffickingStatus":"PossibleVictimOfTrafficking","vic_TraffickingStatusDecisionMakingOrg":"NGO","vic_AgeWhenTrafficked":24,"vic_MethodOfRecruitment":"ThroughOnlineSocialNetworks","vic_RecruitmentWebsitesAndApps":["Telegram"],"vic_MethodsOfControl":["DebtBondage","WithholdsDocuments","Threats"],"vic_TypeOfExploitation":["ForcedLabour"],"vic_ForcedLabourIndustry":"C_Manufacturing","vic_LocationOfExploitation":"Moscow Oblast, RU","cas_Status":"Active","cas_IncomingReferralDate":"2026-10-02","con_Consent":true,"cco_CaseComment":"Айгүл says her employer in Podolsk, Азамат Т., still holds her passport."}`

// BenchmarkUnmarshalJSON decodes and validates a 1 KB referral.
func BenchmarkUnmarshalJSON(b *testing.B) {
	data := []byte(benchRecord)
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		var r Record
		if err := r.UnmarshalJSON(data); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMarshalJSON encodes a 1 KB referral.
func BenchmarkMarshalJSON(b *testing.B) {
	var r Record
	if err := r.UnmarshalJSON([]byte(benchRecord)); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.MarshalJSON(); err != nil {
			b.Fatal(err)
		}
	}
}

// The fast string encoder writes exactly what encoding/json writes, so
// content hashes of records do not change with it.
func FuzzAppendStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "Айгүл", "a<b>&c", "tab\there", "nl\n\r\b\f", "\x00\x1f\x7f", "\u2028\u2029", "q\"uo\\te", "bad \xff utf8", "emoji 🙂"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, err := appendString(nil, s)
		if err != nil {
			t.Fatal(err)
		}
		want, _ := json.Marshal(s)
		if string(got) != string(want) {
			t.Fatalf("appendString(%q) = %s, encoding/json writes %s", s, got, want)
		}
	})
}
