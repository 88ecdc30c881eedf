package identity

import "testing"

// BenchmarkMatchKeys measures one realistic identity; the target is at
// least 100,000 identities per second on one core (10 µs/op).
func BenchmarkMatchKeys(b *testing.B) {
	id := Identity{
		First:     "Жылдыз",
		Last:      "Токтогул кызы",
		Birthdate: "12.05.1990",
		Document:  "AN 1234567",
		Phone:     "+996 (555) 12-34-56",
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MatchKeys(id); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkNormalizeNameLatin measures a romanised name, the other common
// input.
func BenchmarkNormalizeNameLatin(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := NormalizeName("ASANBEKOVA ZHYLDYZ"); err != nil {
			b.Fatal(err)
		}
	}
}
