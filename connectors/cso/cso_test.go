package cso

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/charmap"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/connectors/connectortest"
	"github.com/tumarproject/tumar/connectors/mapping"
)

func loadMapping(t testing.TB) *mapping.Mapping {
	t.Helper()
	m, err := mapping.Load("testdata/mapping.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return m
}

const header = "Номер дела;Имя;Фамилия;Дата рождения;Пол;Гражданство;Телефон;Вид эксплуатации;Согласие;Дата обращения;Куратор\n"

// sheet is a small NGO export: rows 2, 4 and 6 are good; line 3 has an
// impossible date, line 5 a bare quote, line 7 a missing cell.
const sheet = header +
	"SZ-1;Айгүл;Токтосунова;14.03.1996;ж;KG;0555 410 732;принудительный труд;да;02.10.2026;Гүлнара\n" +
	"SZ-2;Нурбек;Асаналиев;31.02.1989;м;KG;;принудительный труд;да;03.10.2026;Гүлнара\n" +
	"SZ-3;Бермет;Жумабек кызы;21.07.2004;жен;KG;;сексуальная эксплуатация;да;04.10.2026;Айбек\n" +
	"SZ-4;Ай\"да;Осмонова;01.01.1990;ж;KG;;;да;05.10.2026;Айбек\n" +
	"SZ-5;Эрлан;Токтогул уулу;1991-05-06;м;KG;;;нет;06.10.2026;Айбек\n" +
	"SZ-6;Асель;Бекова;01.01.1990;ж;KG;;;да;07.10.2026\n"

func readAll(t *testing.T, c connectors.Connector) ([]connectors.Item, []connectors.Rejected) {
	t.Helper()
	var items []connectors.Item
	var rejected []connectors.Rejected
	for {
		b, err := c.Read(context.Background(), 2)
		items = append(items, b.Items...)
		rejected = append(rejected, b.Rejected...)
		if errors.Is(err, io.EOF) {
			return items, rejected
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

func TestCSVKeepsGoingPastBadRows(t *testing.T) {
	c, err := newCSV("ngo", strings.NewReader(sheet), loadMapping(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.sep != ';' || c.Encoding != "utf-8" {
		t.Fatalf("detected %q %s", c.sep, c.Encoding)
	}
	items, rejected := readAll(t, c)
	if len(items) != 3 || len(rejected) != 3 {
		t.Fatalf("%d items and %d rejected, want 3 and 3: %+v", len(items), len(rejected), rejected)
	}
	if items[0].SourceID != "SZ-1" || items[0].Position != "line 2" || items[2].Position != "line 6" {
		t.Fatalf("items %+v", items)
	}
	want := map[string]string{
		"line 3": `column "Дата рождения" (prs_Birthdate): not a date`,
		"line 5": "malformed CSV",
		"line 7": "has 10 cells, the header has 11",
	}
	for _, r := range rejected {
		if !strings.Contains(r.Reason, want[r.Position]) || want[r.Position] == "" {
			t.Errorf("%s: reason %q, want %q", r.Position, r.Reason, want[r.Position])
		}
		if strings.Contains(r.Reason, "Нурбек") || strings.Contains(r.Reason, "31.02.1989") {
			t.Errorf("%s: the reason quotes a value: %q", r.Position, r.Reason)
		}
		if !strings.HasPrefix(r.Raw.Line, "SZ-") {
			t.Errorf("%s: the raw line was not kept: %q", r.Position, r.Raw.Line)
		}
	}
	v, _ := items[0].Record.Get(fieldID("prs_Gender"))
	b, _ := items[0].Record.Get(fieldID("prs_Birthdate"))
	if v.Str != "Feminine" || b.Str != "1996-03-14" {
		t.Fatalf("converted %q %q", v.Str, b.Str)
	}
}

func TestCSVWindows1251AndComma(t *testing.T) {
	body := strings.ReplaceAll(sheet, ";", ",")
	enc, err := charmap.Windows1251.NewEncoder().String(strings.ReplaceAll(body, "ү", "у"))
	if err != nil {
		t.Fatal(err)
	}
	c, err := newCSV("ngo", strings.NewReader(enc), loadMapping(t))
	if err != nil {
		t.Fatal(err)
	}
	if c.Encoding != "windows-1251" || c.sep != ',' {
		t.Fatalf("detected %q %s", c.sep, c.Encoding)
	}
	items, _ := readAll(t, c)
	if len(items) != 3 {
		t.Fatalf("%d items", len(items))
	}
	fn, _ := items[1].Record.Get(fieldID("prs_FirstName"))
	if fn.Str != "Бермет" {
		t.Fatalf("decoded %q", fn.Str)
	}
}

func TestHeaderMustFitTheMapping(t *testing.T) {
	_, err := newCSV("ngo", strings.NewReader("Номер дела;Имя;Рост\n1;a;b\n"), loadMapping(t))
	if err == nil || !strings.Contains(err.Error(), `columns neither mapped nor ignored: "Рост"`) || !strings.Contains(err.Error(), `"Фамилия"`) {
		t.Fatalf("got %v", err)
	}
}

func TestReparse(t *testing.T) {
	c, _ := newCSV("ngo", strings.NewReader(sheet), loadMapping(t))
	_, rejected := readAll(t, c)
	for _, r := range rejected {
		_, rej := c.Reparse(r.Raw, r.Position)
		if rej == nil || rej.Code != r.Code {
			t.Fatalf("%s reparsed differently: %+v", r.Position, rej)
		}
	}
	fixed := rejected[0].Raw
	fixed.Line = strings.Replace(fixed.Line, "31.02.1989", "28.02.1989", 1)
	item, rej := c.Reparse(fixed, rejected[0].Position)
	if rej != nil || item.SourceID != "SZ-2" {
		t.Fatalf("a fixed row: %+v", rej)
	}
}

func TestXLSX(t *testing.T) {
	dir := t.TempDir()
	write := func(name string, merge bool) string {
		f := excelize.NewFile()
		rows := strings.Split(strings.TrimSpace(sheet), "\n")
		for i, line := range rows {
			for j, cell := range strings.Split(line, ";") {
				axis, _ := excelize.CoordinatesToCellName(j+1, i+1)
				f.SetCellValue("Sheet1", axis, cell)
			}
		}
		if merge {
			f.MergeCell("Sheet1", "B1", "C1")
		}
		path := filepath.Join(dir, name)
		if err := f.SaveAs(path); err != nil {
			t.Fatal(err)
		}
		return path
	}
	x, err := OpenXLSX("ngo", write("cases.xlsx", false), "", loadMapping(t))
	if err != nil {
		t.Fatal(err)
	}
	defer x.Close()
	items, rejected := readAll(t, x)
	// The bare quote is no problem in a spreadsheet; line 7's missing cell is
	// a trailing empty cell there.
	if len(items) != 5 || len(rejected) != 1 || rejected[0].Position != `sheet "Sheet1" row 3` {
		t.Fatalf("%d items, rejected %+v", len(items), rejected)
	}
	if _, err := OpenXLSX("ngo", write("merged.xlsx", true), "", loadMapping(t)); err == nil || !strings.Contains(err.Error(), "merged cells (B1:C1)") {
		t.Fatalf("merged header: %v", err)
	}
	os.WriteFile(filepath.Join(dir, "broken.xlsx"), []byte("not a zip"), 0o600)
	if _, err := OpenXLSX("ngo", filepath.Join(dir, "broken.xlsx"), "", loadMapping(t)); err == nil {
		t.Fatal("a broken workbook opened")
	}
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte(sheet))
	f.Add([]byte(header + "\"unterminated\n"))
	f.Add([]byte{0xff, 0xfe, 0x00})
	m := loadMapping(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		c, err := newCSV("fuzz", bytes.NewReader(data), m)
		if err != nil {
			return
		}
		for range 1000 {
			b, err := c.Read(context.Background(), 50)
			for _, it := range b.Items {
				if it.Record == nil || it.Record.Validate() != nil {
					t.Fatal("an item without a valid record")
				}
			}
			for _, r := range b.Rejected {
				if r.Reason == "" || r.Position == "" {
					t.Fatal("a rejection without position or reason")
				}
			}
			if err != nil {
				return
			}
		}
	})
}

func TestCSVContract(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Source {
		path := filepath.Join(t.TempDir(), "cases.csv")
		os.WriteFile(path, []byte(sheet), 0o600)
		c, err := OpenCSV("ngo", path, loadMapping(t))
		if err != nil {
			t.Fatal(err)
		}
		return connectortest.Source{Connector: c, Good: 3, Bad: 3}
	})
}

func TestXLSXContract(t *testing.T) {
	connectortest.Run(t, func(t *testing.T) connectortest.Source {
		f := excelize.NewFile()
		for i, line := range strings.Split(strings.TrimSpace(sheet), "\n") {
			for j, cell := range strings.Split(line, ";") {
				axis, _ := excelize.CoordinatesToCellName(j+1, i+1)
				f.SetCellValue("Sheet1", axis, cell)
			}
		}
		path := filepath.Join(t.TempDir(), "cases.xlsx")
		f.SaveAs(path)
		x, err := OpenXLSX("ngo", path, "", loadMapping(t))
		if err != nil {
			t.Fatal(err)
		}
		return connectortest.Source{Connector: x, Good: 5, Bad: 1}
	})
}

// A UTF-8 file with one row saved in another encoding: that row is refused
// with its line, the others come in.
func TestMixedEncodingRow(t *testing.T) {
	bad, _ := charmap.Windows1251.NewEncoder().String("SZ-9;Нурбек;Асаналиев;02.11.1989;м;KG;;;да;03.10.2026;Айбек\n")
	body := sheet[:strings.Index(sheet, "SZ-2")] + bad
	c, err := newCSV("ngo", strings.NewReader(body), loadMapping(t))
	if err != nil {
		t.Fatal(err)
	}
	items, rejected := readAll(t, c)
	if len(items) != 1 || len(rejected) != 1 || rejected[0].Code != "encoding" || rejected[0].Position != "line 3" {
		t.Fatalf("items %d, rejected %+v", len(items), rejected)
	}
}
