package identity

// cyrillicTable transliterates lower-case Cyrillic letters (U+0400..U+04FF,
// indexed from U+0400) to a Latin spelling close to ICAO 9303. The skeleton
// rules then fold this spelling and the other romanisations together, so
// the table only has to be consistent, not pretty. The soft and hard signs
// are dropped, as ICAO drops ь and BGN/PCGN writes both as an apostrophe.
var cyrillicTable = [256]string{
	'а' - 0x400: "a", 'б' - 0x400: "b", 'в' - 0x400: "v", 'г' - 0x400: "g",
	'д' - 0x400: "d", 'е' - 0x400: "e", 'ё' - 0x400: "e", 'ж' - 0x400: "zh",
	'з' - 0x400: "z", 'и' - 0x400: "i", 'й' - 0x400: "i", 'к' - 0x400: "k",
	'л' - 0x400: "l", 'м' - 0x400: "m", 'н' - 0x400: "n", 'о' - 0x400: "o",
	'п' - 0x400: "p", 'р' - 0x400: "r", 'с' - 0x400: "s", 'т' - 0x400: "t",
	'у' - 0x400: "u", 'ф' - 0x400: "f", 'х' - 0x400: "kh", 'ц' - 0x400: "ts",
	'ч' - 0x400: "ch", 'ш' - 0x400: "sh", 'щ' - 0x400: "shch", 'ы' - 0x400: "y",
	'э' - 0x400: "e", 'ю' - 0x400: "iu", 'я' - 0x400: "ia",
	// Kyrgyz.
	'ң' - 0x400: "n", 'ө' - 0x400: "o", 'ү' - 0x400: "u",
	// Neighbouring languages whose names occur in Kyrgyz registers
	// (Kazakh, Uzbek, Tajik, Ukrainian).
	'ғ' - 0x400: "g", 'қ' - 0x400: "k", 'ҳ' - 0x400: "kh", 'һ' - 0x400: "kh",
	'ў' - 0x400: "u", 'ұ' - 0x400: "u", 'ә' - 0x400: "a", 'і' - 0x400: "i",
	'ї' - 0x400: "i", 'є' - 0x400: "e", 'ґ' - 0x400: "g", 'ҷ' - 0x400: "zh",
	'ӣ' - 0x400: "i", 'ӯ' - 0x400: "u", 'ј' - 0x400: "i", 'ѕ' - 0x400: "dz",
}

// latinSpecial spells out Latin letters whose diacritic cannot be stripped
// by decomposition.
var latinSpecial = map[rune]string{
	'ß': "ss", 'æ': "ae", 'œ': "oe", 'ø': "o", 'ł': "l", 'đ': "d",
	'ð': "d", 'þ': "th", 'ı': "i", 'ħ': "h", 'ŋ': "ng",
}

// latinToCyrillic maps Latin letters to the Cyrillic letter they look like,
// for words typed mostly in Cyrillic with a few Latin keys ("Aсанбеков" with
// a Latin A).
var latinToCyrillic = map[rune]rune{
	'A': 'А', 'a': 'а', 'B': 'В', 'C': 'С', 'c': 'с', 'E': 'Е', 'e': 'е',
	'H': 'Н', 'K': 'К', 'M': 'М', 'O': 'О', 'o': 'о', 'P': 'Р', 'p': 'р',
	'T': 'Т', 'X': 'Х', 'x': 'х', 'Y': 'У', 'y': 'у',
}

// cyrillicToLatin maps Cyrillic letters to the Latin letter they look like,
// for words typed mostly in Latin with a few Cyrillic keys.
var cyrillicToLatin = map[rune]rune{
	'А': 'A', 'а': 'a', 'В': 'B', 'С': 'C', 'с': 'c', 'Е': 'E', 'е': 'e',
	'Н': 'H', 'К': 'K', 'к': 'k', 'М': 'M', 'О': 'O', 'о': 'o', 'Р': 'P',
	'р': 'p', 'Т': 'T', 'Х': 'X', 'х': 'x', 'У': 'Y', 'у': 'y', 'І': 'I',
	'і': 'i', 'Ј': 'J', 'ј': 'j', 'Ѕ': 'S', 'ѕ': 's',
}
