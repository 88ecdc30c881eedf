package connectors_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/tumarproject/tumar/connectors"
	"github.com/tumarproject/tumar/connectors/cso"
	"github.com/tumarproject/tumar/connectors/mapping"
	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/gatewaytest"
)

// BenchmarkImport is rows from a CSV file through the NGO connector into the
// gateway: mapping, pseudonyms, policy, durable outbox and audit commit per
// row. rows/s is the figure to read.
func BenchmarkImport(b *testing.B) {
	const rows = 2000
	g := gatewaytest.Start(b)
	dir := b.TempDir()
	os.WriteFile(filepath.Join(dir, "m.yaml"), []byte(mappingYAML), 0o600)
	m, _ := mapping.Load(filepath.Join(dir, "m.yaml"))
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		var csv bytes.Buffer
		csv.WriteString("Номер дела;Имя;Фамилия;Дата рождения;Статус дела\n")
		for j := range rows {
			fmt.Fprintf(&csv, "R%d-%d;Айгүл;Токтосунова;%02d.%02d.%d;Active\n", i, j, 1+j%28, 1+j%12, 1960+j%45)
		}
		path := filepath.Join(dir, fmt.Sprintf("cases-%d.csv", i))
		os.WriteFile(path, csv.Bytes(), 0o600)
		c, err := cso.OpenCSV("bench", path, m)
		if err != nil {
			b.Fatal(err)
		}
		r := &connectors.Runner{Connector: c, Source: "ngo-sezim", Sink: g.App.Exchange,
			Target:     connectors.Target{Destination: "errp", Purpose: "criminal-referral", LegalBasis: "victim-consent"},
			Quarantine: &connectors.Quarantine{Store: g.App.Store, Sealer: g.App.Keys.(keys.Sealer)}}
		st, err := r.Run(ctx)
		c.Close()
		if err != nil || st.Accepted != rows {
			b.Fatalf("%+v %v", st, err)
		}
	}
	b.ReportMetric(float64(rows*b.N)/b.Elapsed().Seconds(), "rows/s")
}
