// Package identity turns what a source tells about a person into match
// keys: canonical values that another package pseudonymises (HMAC) so that
// records of the same person held by different sources can be linked
// without exchanging names. Two records are linked when they share a key.
//
// MatchKeys makes up to three keys, in this order:
//
//	nb   name skeleton + "|" + birth date   "asanbekova zhildiz|1990-05-12"
//	doc  identity document number           "AN1234567"
//	tel  mobile phone, E.164                "+996555123456"
//
// The nb key needs at least one name part and a valid birth date, and a name
// skeleton of at least two letters (a lone initial would link strangers).
// Missing or invalid parts are skipped; when no key can be made MatchKeys
// returns an error wrapping ErrNotEnough that lists, per part, what was
// missing or invalid.
//
// # Privacy
//
// The inputs are names of victims. No error returned by this package
// contains an input value or any part of it: errors name the field and the
// problem only ("identity: birthdate: impossible date: identity: invalid
// value"). No canonical value is ever empty, because an empty pseudonym
// input would be shared by everyone.
//
// # Names
//
// NormalizeName reduces a name to a Latin skeleton on which the Cyrillic
// original and its common romanisations (ICAO 9303 passports, BGN/PCGN,
// informal spellings) agree. The rules, in the order they apply:
//
//   - Values longer than 256 bytes or not valid UTF-8 are ErrInvalid. The
//     rest is brought to Unicode NFKC ("Ａｓａｎ" = "Asan").
//   - Case is folded; white space (including U+00A0), hyphens, punctuation
//     and symbols separate words ("  KOICHUMANOVA. " = "Koichumanova",
//     "Abdullaeva-Zhukova" = "Abdullaeva Zhukova"). Apostrophes and primes
//     are dropped inside a word: they stand for ь and ъ ("Natal’ya" =
//     "Natalya"). A name with no letter or digit ("...", "-") is ErrInvalid.
//   - A word mixing Latin and Cyrillic letters is folded to its majority
//     script through look-alike letters: "Aсанбеков" typed with a Latin A is
//     "Асанбеков", "Аsanbekov" typed with a Cyrillic А is "Asanbekov".
//   - Diacritics are removed ("Tülöberdiyeva" = "Tuloberdiyeva", ё/ë = e).
//   - Cyrillic is transliterated close to ICAO: ж zh, х kh, ц ts, ч ch,
//     ш sh, щ shch, ы y, й i, ю iu, я ia, э e, ё e, ң n, ө o, ү u; ь and ъ
//     are dropped ("Жаңыл" = "zhanyl").
//   - Romanisation variants are folded to one spelling: zh, j, dzh and dj
//     are zh ("Jyldyz" = "Dzhyldyz" = "Zhyldyz"), except that j after a
//     vowel is й ("Saginbaj" = "Сагынбай", "Ksenija" = "Ксения") unless that
//     vowel is itself a й after a vowel ("Aijan" = "Айжан"); h and kh are
//     kh ("Rahim" = "Rakhim"); sh, sch and shch are sh ("Sherbakova" =
//     "Щербакова"); y is i ("Zhyldyz" = "Zhildiz"); ng is n ("Zhangyl" =
//     "Жаңыл"); oe and ue are o and u ("TUELOEBERDIEVA" = "Түлөбердиева");
//     c alone and q are k, w is v, ph is f; x, ks and kh are one sound,
//     because x is кс to a Russian reader and х in Uzbek Latin ("Maxat" =
//     "Максат", "Raxim" = "Рахим").
//   - Doubled letters are kept once ("Abdullaev" = "Abdulaev", "Мээрим" =
//     "Merim"), which also folds the endings -iy, -ii, -y, -i of -ий
//     ("Dmitriy" = "Dmitrii" = "Dmitry" = "Дмитрий").
//   - Vowel clusters that romanisations write differently are folded: ie is
//     e (BGN "Yevgeniy" = "Евгений", "Abdullayev" = "Абдуллаев", ICAO ъ =
//     IE), io is e (ё written yo: "Alyona" = "Алёна"), eia and eiu are ia
//     and iu ("PODIEIACHEV" = "Подъячев").
//   - The patronymic markers уулу/uulu (son of) and кызы/kyzy (daughter of)
//     are kept, because they tell a son from a daughter, and glued to the
//     father's name before it: "Токтогул уулу" = "Токтогул-уулу" =
//     "ТОКТОГУЛ УУЛУ" = "Токтогулуулу" = "toktogululu". Gluing keeps
//     "Asan uulu Bakyt" apart from "Bakyt uulu Asan" once words are sorted.
//   - The words are sorted, so that the order of names does not matter:
//     "Жылдыз Асанбекова", "ASANBEKOVA ZHYLDYZ" and "Jyldyz Asanbekova" are
//     all "asanbekova zhildiz".
//
// What is deliberately kept apart: masculine and feminine surname forms
// ("Асанбеков" is "asanbekov", "Асанбекова" is "asanbekova"), uulu and kyzy,
// and every difference of birth date. Typing errors (a deleted or swapped
// letter) are not corrected: a single deterministic key cannot absorb them
// without linking different people.
//
// NormalizeName is idempotent: applied to its own output it returns that
// output.
//
// # Birth dates
//
// NormalizeDate accepts YYYY-MM-DD, YYYY/MM/DD, YYYY.MM.DD, DD.MM.YYYY,
// DD/MM/YYYY, DD-MM-YYYY (day and month may have one digit) and YYYYMMDD,
// with surrounding spaces, and returns YYYY-MM-DD: "12.05.1990" =
// "1990/05/12" = "1990-05-12". Impossible dates ("2001-02-30") and years
// outside 1900..2100 are ErrInvalid.
//
// # Documents
//
// NormalizeDocument upper-cases, drops spaces, dashes, dots and slashes and
// folds Cyrillic letters that look like Latin ones: "ан 12-34 567" typed on
// a Cyrillic keyboard is "AH1234567". It must have 5 to 20 letters and
// digits, at least one of them a digit.
//
// # Phones
//
// NormalizePhone returns E.164 with +996 (Kyrgyzstan) as the default
// country: "0555 123 456", "555123456", "996555123456", "00996555123456"
// and "+996 (555) 12-34-56" are all "+996555123456". A Kyrgyz number has 9
// national digits; numbers of other countries need their + or 00 prefix
// ("+7 916 123-45-67" = "+79161234567").
package identity
