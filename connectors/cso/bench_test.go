package cso

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
)

// syntheticCSV is an NGO export of n invented people.
func syntheticCSV(n int) []byte {
	var b bytes.Buffer
	b.WriteString(header)
	first := []string{"Айгүл", "Нурбек", "Бермет", "Эрлан", "Жылдыз", "Азамат"}
	last := []string{"Токтосунова", "Асаналиев", "Жумабек кызы", "Токтогул уулу", "Асанбекова", "Осмонов"}
	for i := range n {
		fmt.Fprintf(&b, "SZ-%07d;%s;%s;%02d.%02d.%d;ж;KG;0555 %06d;принудительный труд;да;02.10.2026;Гүлнара\n",
			i, first[i%6], last[(i/6)%6], 1+i%28, 1+i%12, 1970+i%35, i%1000000)
	}
	return b.Bytes()
}

// BenchmarkCSVRead is reading, decoding and mapping 100,000 rows to
// canonical records (no gateway): rows/s is the figure to read.
func BenchmarkCSVRead(b *testing.B) {
	data := syntheticCSV(100000)
	m := loadMapping(b)
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		c, err := newCSV("bench", bytes.NewReader(data), m)
		if err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			batch, err := c.Read(context.Background(), 1000)
			n += len(batch.Items)
			if len(batch.Rejected) > 0 {
				b.Fatalf("rejected: %s", batch.Rejected[0].Reason)
			}
			if errors.Is(err, io.EOF) {
				break
			}
		}
		if n != 100000 {
			b.Fatalf("read %d rows", n)
		}
	}
	b.ReportMetric(float64(100000*b.N)/b.Elapsed().Seconds(), "rows/s")
}
