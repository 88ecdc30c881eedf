package pseudonym

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/tumarproject/tumar/crypto/keys"
)

func run(t *testing.T, p keys.Pseudonymizer, domain, in string) ([]Result, Stats) {
	t.Helper()
	var out bytes.Buffer
	st, err := Stream(context.Background(), p, domain, strings.NewReader(in), &out, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var res []Result
	for _, line := range strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n") {
		var r Result
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("output line %q: %v", line, err)
		}
		res = append(res, r)
	}
	return res, st
}

const canary = "Канарейкова"

func TestStream(t *testing.T) {
	p, _ := keys.NewMemory("errp", "consulate")
	in := strings.Join([]string{
		`{"first": "Жылдыз", "last": "Асанбекова", "birthdate": "12.05.1990", "phone": "0555 123 456"}`,
		`{"first": "` + canary + `", "birthdate": "1990-02-30"}`,
		`{"last": "` + canary + `", "colour": "` + canary + `"}`,
		`not json ` + canary,
		``,
		`{"first": "JYLDYZ", "last": "ASANBEKOVA", "birthdate": "1990-05-12"}`,
		`{"document": "ID 1234567"}`,
	}, "\n")
	res, st := run(t, p, "errp", in)
	if len(res) != 7 || st.Lines != 7 || st.Keyed != 3 || st.Failed != 4 {
		t.Fatalf("stats %+v, %d results", st, len(res))
	}
	if len(res[0].Keys) != 2 || len(res[5].Keys) != 1 || len(res[6].Keys) != 1 {
		t.Fatalf("keys per line: %+v", res)
	}
	if res[0].Keys[0] != res[5].Keys[0] {
		t.Fatal("the same person in Cyrillic and passport Latin got different name+birth-date pseudonyms")
	}
	for i, want := range map[int]string{1: "line 2: ", 2: "line 3: not a JSON object", 3: "line 4: not a JSON object", 4: "line 5: empty line"} {
		if !strings.HasPrefix(res[i].Error, want) {
			t.Errorf("line %d error %q, want prefix %q", i+1, res[i].Error, want)
		}
	}
	for _, r := range res {
		if strings.Contains(r.Error, canary) {
			t.Fatalf("an error echoes the input: %q", r.Error)
		}
	}
	other, _ := run(t, p, "consulate", in)
	if other[0].Keys[0] == res[0].Keys[0] {
		t.Fatal("two domains gave the same pseudonym")
	}
}

func TestStreamManyLinesKeepOrder(t *testing.T) {
	p, _ := keys.NewMemory("errp")
	var in strings.Builder
	for i := range 1300 {
		if i%7 == 0 {
			in.WriteString("{}\n")
			continue
		}
		in.WriteString(`{"document": "AN` + strings.Repeat("1", 3) + string(rune('0'+i%10)) + `00` + string(rune('0'+i/100%10)) + string(rune('0'+i/10%10)) + `"}` + "\n")
	}
	res, st := run(t, p, "errp", in.String())
	if len(res) != 1300 || st.Lines != 1300 {
		t.Fatalf("%d results for 1300 lines", len(res))
	}
	for i, r := range res {
		if (i%7 == 0) != (r.Error != "") {
			t.Fatalf("line %d out of order: %+v", i+1, r)
		}
	}
}

type downKeys struct{ *keys.Memory }

func (downKeys) Pseudonymize(context.Context, string, [][]byte) ([]keys.Pseudonym, error) {
	return nil, keys.ErrUnavailable
}

func TestStreamStopsWhenKeysFail(t *testing.T) {
	m, _ := keys.NewMemory("errp")
	var out bytes.Buffer
	_, err := Stream(context.Background(), downKeys{m}, "errp", strings.NewReader(`{"document": "ID 1234567"}`), &out, Options{})
	if !errors.Is(err, keys.ErrUnavailable) || out.Len() != 0 {
		t.Fatalf("err %v, output %q", err, out.String())
	}
}

func TestUnknownDomain(t *testing.T) {
	m, _ := keys.NewMemory("errp")
	_, err := Stream(context.Background(), m, "nobody", strings.NewReader(`{"document": "ID 1234567"}`), &bytes.Buffer{}, Options{})
	if !errors.Is(err, keys.ErrUnknownDomain) {
		t.Fatalf("got %v", err)
	}
}

func FuzzParseLine(f *testing.F) {
	f.Add([]byte(`{"first": "Жылдыз", "last": "Асанбекова", "birthdate": "12.05.1990"}`))
	f.Add([]byte(`{"first": 1}`))
	f.Add([]byte(`{} {}`))
	f.Fuzz(func(t *testing.T, raw []byte) {
		if _, err := parseLine(raw); err != nil && len(raw) >= 4 && strings.Contains(err.Error(), string(raw)) {
			t.Fatalf("error echoes the line: %v", err)
		}
	})
}

// After a rotation, relinking maps every stored epoch-1 pseudonym to the
// person's epoch-2 pseudonym, so stored links can be rewritten.
func TestRelinkAfterRotation(t *testing.T) {
	ctx := context.Background()
	p, _ := keys.NewMemory("errp")
	in := `{"first": "Жылдыз", "last": "Асанбекова", "birthdate": "1990-05-12", "document": "ID 1234567"}` + "\n"
	before, _ := run(t, p, "errp", in)
	if _, err := p.Rotate(ctx, "errp"); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if _, err := Stream(ctx, p, "errp", strings.NewReader(in), &out, Options{FromEpoch: 1}); err != nil {
		t.Fatal(err)
	}
	var r Result
	if err := json.Unmarshal(out.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if len(r.Old) != 2 || r.Old[0] != before[0].Keys[0] || r.Old[1] != before[0].Keys[1] {
		t.Fatalf("old keys %v, want the pre-rotation keys %v", r.Old, before[0].Keys)
	}
	if !strings.HasPrefix(r.Keys[0], "errp:v2:") || r.Keys[0] == r.Old[0] {
		t.Fatalf("new keys %v", r.Keys)
	}
}
