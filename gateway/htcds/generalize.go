package htcds

import (
	"math"
	"strconv"
)

// Generalize returns a coarser form of a field's value, as released text, and
// false when no coarser value exists: then nothing is released for the field.
//
//	ToYear              "1990-05-12" -> "1990"
//	ToAgeBand           23 -> "18-24", 15 -> "12-17"
//	ToRegion            "ул. Киевская 12" -> the record's State ("Chuy"), else its Country ("KG")
//	ToCoarseCoordinate  42.87461 -> "42.9"
//
// An address part becomes its region only when that region field is itself
// released as it is (kept reports which fields are): generalising a street
// must never release a State or Country that the policy withheld.
func (r *Record) Generalize(id FieldID, kept func(FieldID) bool) (string, bool) {
	f := ByID(id)
	v, ok := r.Get(id)
	if !ok {
		return "", false
	}
	switch f.Gen {
	case ToYear:
		if len(v.Str) < 4 {
			return "", false
		}
		return v.Str[:4], true
	case ToAgeBand:
		return AgeBand(int(v.Num)), true
	case ToRegion:
		group := idx.regionOf[f.Address]
		for _, rid := range group {
			if rid == id || !kept(rid) {
				continue
			}
			if rv, ok := r.Get(rid); ok && rv.Str != "" {
				return rv.Str, true
			}
		}
		return "", false
	case ToCoarseCoordinate:
		return strconv.FormatFloat(math.Round(v.Num*10)/10, 'f', 1, 64), true
	}
	return "", false
}

// AgeBand puts an age in a band: children in 0-11 and 12-17, adults in
// 18-24, then ten-year bands up to 65+.
func AgeBand(age int) string {
	switch {
	case age < 12:
		return "0-11"
	case age < 18:
		return "12-17"
	case age < 25:
		return "18-24"
	case age >= 65:
		return "65+"
	}
	lo := (age-25)/10*10 + 25
	return strconv.Itoa(lo) + "-" + strconv.Itoa(lo+9)
}
