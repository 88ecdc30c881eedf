package auditweb

import (
	"net/http"
	"strings"
)

// langs are the languages of the pages: English, Russian and Kyrgyz.
var langs = []string{"en", "ru", "ky"}

// text holds every label of the pages, by language and key.
var text = map[string]map[string]string{
	"en": {
		"title": "Audit log", "decisions": "Decisions", "decision": "Decision", "chain": "Chain of entries",
		"chain_ok": "Verified: no entry was modified, removed, inserted or reordered.", "chain_bad": "BROKEN",
		"verified_at": "checked at", "verify_now": "Verify now", "not_verified": "Not verified yet.",
		"entries": "entries", "checkpoints": "signed checkpoints", "unsigned": "newest entries not yet signed",
		"from": "From", "to": "To", "agency": "Agency", "purpose": "Purpose", "outcome": "Outcome", "field": "Field",
		"event": "Event", "filter": "Filter", "any": "any", "time": "Time", "source": "Source", "destination": "Destination",
		"legal_basis": "Legal basis", "rule": "Rule", "policy_revision": "Policy revision", "subject": "Person (internal pseudonym)",
		"action": "Action", "class": "Class", "meaning": "What it means", "no_entries": "No entry matches.", "next": "Next page",
		"reasons": "Reasons", "details": "Details", "hash": "Hash", "prev_hash": "Previous hash", "back": "Back to the list",
		"forbidden": "Only privacy officers (the auditor role) may open these pages.", "bad_filter": "The filter is not valid",
		"not_found": "No such decision.", "fields": "Fields",
		"keep": "released as it is", "pseudonymise": "replaced by a pseudonym in the recipient's own domain",
		"generalise": "made coarser: year, age band or region", "redact": "not released",
	},
	"ru": {
		"title": "Журнал аудита", "decisions": "Решения", "decision": "Решение", "chain": "Цепочка записей",
		"chain_ok": "Проверено: ни одна запись не изменена, не удалена, не вставлена и не переставлена.", "chain_bad": "НАРУШЕНА",
		"verified_at": "проверено", "verify_now": "Проверить сейчас", "not_verified": "Ещё не проверено.",
		"entries": "записей", "checkpoints": "подписанных контрольных точек", "unsigned": "новейших записей ещё не подписано",
		"from": "С", "to": "По", "agency": "Ведомство", "purpose": "Цель", "outcome": "Результат", "field": "Поле",
		"event": "Событие", "filter": "Отобрать", "any": "любое", "time": "Время", "source": "Отправитель", "destination": "Получатель",
		"legal_basis": "Правовое основание", "rule": "Правило", "policy_revision": "Версия политики", "subject": "Лицо (внутренний псевдоним)",
		"action": "Действие", "class": "Класс", "meaning": "Что это значит", "no_entries": "Записей не найдено.", "next": "Следующая страница",
		"reasons": "Причины", "details": "Подробности", "hash": "Хэш", "prev_hash": "Предыдущий хэш", "back": "К списку",
		"forbidden": "Эти страницы доступны только специалистам по защите данных (роль аудитора).", "bad_filter": "Неверный фильтр",
		"not_found": "Такого решения нет.", "fields": "Поля",
		"keep": "передано как есть", "pseudonymise": "заменено псевдонимом в собственном домене получателя",
		"generalise": "огрублено: год, возрастная группа или регион", "redact": "не передано",
	},
	"ky": {
		"title": "Аудит журналы", "decisions": "Чечимдер", "decision": "Чечим", "chain": "Жазуулар чынжыры",
		"chain_ok": "Текшерилди: бир да жазуу өзгөртүлгөн, өчүрүлгөн, кошулган же орду алмашкан эмес.", "chain_bad": "БУЗУЛГАН",
		"verified_at": "текшерилген", "verify_now": "Азыр текшерүү", "not_verified": "Азырынча текшерилген жок.",
		"entries": "жазуу", "checkpoints": "кол коюлган текшерүү чекити", "unsigned": "акыркы жазууга азырынча кол коюлган жок",
		"from": "Баштап", "to": "Чейин", "agency": "Мекеме", "purpose": "Максат", "outcome": "Жыйынтык", "field": "Талаа",
		"event": "Окуя", "filter": "Тандоо", "any": "баары", "time": "Убакыт", "source": "Жөнөтүүчү", "destination": "Алуучу",
		"legal_basis": "Укуктук негиз", "rule": "Эреже", "policy_revision": "Саясаттын версиясы", "subject": "Адам (ички псевдоним)",
		"action": "Аракет", "class": "Класс", "meaning": "Бул эмнени билдирет", "no_entries": "Жазуу табылган жок.", "next": "Кийинки бет",
		"reasons": "Себептер", "details": "Кошумча", "hash": "Хэш", "prev_hash": "Мурунку хэш", "back": "Тизмеге кайтуу",
		"forbidden": "Бул беттерди маалыматтарды коргоо адистери гана (аудитор ролу) ача алат.", "bad_filter": "Чыпка туура эмес",
		"not_found": "Мындай чечим жок.", "fields": "Талаалар",
		"keep": "ошол бойдон берилди", "pseudonymise": "алуучунун өз доменинде псевдоним менен алмаштырылды",
		"generalise": "жалпыланды: жыл, курак тобу же аймак", "redact": "берилген жок",
	},
}

// pickLang takes ?lang=, else the first supported language of
// Accept-Language, else English.
func pickLang(r *http.Request) string {
	if l := r.URL.Query().Get("lang"); text[l] != nil {
		return l
	}
	for _, part := range strings.Split(r.Header.Get("Accept-Language"), ",") {
		tag := strings.ToLower(strings.TrimSpace(strings.SplitN(part, ";", 2)[0]))
		if len(tag) >= 2 && text[tag[:2]] != nil {
			return tag[:2]
		}
	}
	return "en"
}
