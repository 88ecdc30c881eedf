package perf

import (
	"bufio"
	"fmt"
	"os"
)

// Invented names: no real person is described.
var (
	firstNames = []string{"Айгүл", "Бермет", "Жылдыз", "Нургүл", "Асель", "Гүлзат", "Айпери", "Чолпон", "Мээрим", "Динара", "Aizada", "Kanykei"}
	lastNames  = []string{"Токтосунова", "Жумабекова", "Асанбекова", "Садыкова", "Осмонова", "Мамытова", "Абдыкадырова", "Sultanova", "Ismailova"}
	cities     = []string{"Бишкек", "Ош", "Каракол", "Нарын", "Талас", "Жалал-Абад"}
)

// referral is the i-th synthetic referral: about 1 KB of JSON shaped like the
// bundled sample, with an identity of its own.
func referral(i int) []byte {
	return fmt.Appendf(nil, `{"prs_FirstName":%q,"prs_SecondName":%q,"prs_Birthdate":"%04d-%02d-%02d","prs_Gender":"Feminine",`+
		`"prs_Citizenship":["KG"],"prs_PrimaryLanguage":"ky","prs_IdentityNumber":"ID %07d","prs_MobilePhone":"0555 %06d",`+
		`"prs_MailingStreet":"ул. Жибек Жолу %d, кв. %d","prs_MailingCity":%q,"prs_MailingState":"Chuy","prs_MailingCountry":"KG",`+
		`"vic_TraffickingStatus":"PossibleVictimOfTrafficking","vic_TraffickingStatusDecisionMakingOrg":"NGO","vic_AgeWhenTrafficked":%d,`+
		`"vic_MethodOfRecruitment":"ThroughOnlineSocialNetworks","vic_RecruitmentWebsitesAndApps":["Telegram"],`+
		`"vic_MethodsOfControl":["DebtBondage","WithholdsDocuments","Threats"],"vic_TypeOfExploitation":["ForcedLabour"],`+
		`"vic_ForcedLabourIndustry":"C_Manufacturing","vic_LocationOfExploitation":"Moscow Oblast, RU","cas_Status":"Active",`+
		`"cas_IncomingReferralDate":"2026-10-02","con_Consent":true,"cco_CaseComment":"Case %d: her employer in Podolsk still holds her passport."}`,
		firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)],
		1960+i%45, 1+i%12, 1+i%28, i%10_000_000, i%1_000_000, 1+i%200, 1+i%90, cities[i%len(cities)], 16+i%30, i)
}

// mappingYAML maps the bulk CSV's columns onto the canonical record.
const mappingYAML = `source_id: "Номер дела"
columns:
  "Имя": prs_FirstName
  "Фамилия": prs_SecondName
  "Дата рождения": prs_Birthdate
  "Документ": prs_IdentityNumber
  "Телефон": prs_MobilePhone
  "Город": prs_MailingCity
  "Статус дела": cas_Status
`

// writeCSV writes n synthetic case rows, as an NGO's spreadsheet export would
// hold them, streaming to disk.
func writeCSV(path string, n int) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprintln(w, "Номер дела;Имя;Фамилия;Дата рождения;Документ;Телефон;Город;Статус дела")
	for i := range n {
		fmt.Fprintf(w, "B-%d;%s;%s;%02d.%02d.%04d;ID %07d;0555 %06d;%s;Active\n", i,
			firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)],
			1+i%28, 1+i%12, 1960+i%45, i%10_000_000, i%1_000_000, cities[i%len(cities)])
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func writeFile(path, body string) error { return os.WriteFile(path, []byte(body), 0o600) }
