package gateway

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v4"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/gateway/audit"
	"github.com/tumarproject/tumar/gateway/store"
)

func benchEntry(i int) *audit.Entry {
	return &audit.Entry{DecisionID: fmt.Sprintf("d%09d", i), Time: time.Now(), Event: "exchange", Source: "ngo-sezim", Destination: "errp",
		Purpose: "criminal-referral", LegalBasis: "victim-consent", PolicyRevision: "sha256:5c7f5041a0ce7128", Rule: "criminal-referral",
		Outcome: audit.Released, Subject: "tumar.internal:v1:YuDT_qDUigi0ORNrNdno_FSwRjMO5M3Q8Iq46W2kBLQ", Fields: []audit.FieldAction{
			{Field: "prs_FirstName", Action: "pseudonymise", Rule: "criminal-referral/class/direct_identifier"},
			{Field: "prs_SecondName", Action: "pseudonymise", Rule: "criminal-referral/class/direct_identifier"},
			{Field: "prs_Birthdate", Action: "generalise", Rule: "criminal-referral/class/quasi_identifier"},
			{Field: "vic_TypeOfExploitation", Action: "keep", Rule: "criminal-referral/class/sensitive"},
			{Field: "cas_Status", Action: "keep", Rule: "criminal-referral/class/operational"},
		}}
}

// BenchmarkAuditAppend is one entry appended in its own durable transaction,
// with a signed checkpoint every 1,000 entries: entries/s is the figure.
func BenchmarkAuditAppend(b *testing.B) {
	ctx := context.Background()
	st, err := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "a.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	mem, _ := keys.NewMemory("errp")
	cp := &Checkpointer{Store: st, Signer: mem}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		if err := st.Audit(ctx, benchEntry(i)); err != nil {
			b.Fatal(err)
		}
		if i%1000 == 0 {
			if _, err := cp.Checkpoint(ctx); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAuditAppendBatch is the same with 100 entries per transaction.
func BenchmarkAuditAppendBatch(b *testing.B) {
	ctx := context.Background()
	st, _ := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "a.db"))
	defer st.Close()
	mem, _ := keys.NewMemory("errp")
	cp := &Checkpointer{Store: st, Signer: mem}
	batch := make([]*audit.Entry, 100)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		for j := range batch {
			n++
			batch[j] = benchEntry(n)
		}
		if err := st.AuditBatch(ctx, batch); err != nil {
			b.Fatal(err)
		}
		if n%1000 == 0 {
			cp.Checkpoint(ctx)
		}
	}
	b.ReportMetric(float64(100*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// benchLogSize is TUMAR_BENCH_AUDIT_ENTRIES, or 100,000.
func benchLogSize() int {
	if v, err := strconv.Atoi(os.Getenv("TUMAR_BENCH_AUDIT_ENTRIES")); err == nil && v > 0 {
		return v
	}
	return 100000
}

// BenchmarkAuditSubjectSearch finds one person's entries (the person
// report) in a log of TUMAR_BENCH_AUDIT_ENTRIES entries (default 100,000),
// every hundredth of them about that person: on SQLite a scan of the log.
func BenchmarkAuditSubjectSearch(b *testing.B) {
	n := benchLogSize()
	ctx := context.Background()
	st, _ := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "a.db"))
	defer st.Close()
	batch := make([]*audit.Entry, 0, 1000)
	for i := 1; i <= n; i++ {
		e := benchEntry(i)
		if i%100 != 0 {
			e.Subject = fmt.Sprintf("tumar.internal:v1:%043d", i)
		}
		batch = append(batch, e)
		if len(batch) == cap(batch) || i == n {
			if err := st.AuditBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
		}
	}
	b.ResetTimer()
	for b.Loop() {
		found, err := st.SearchAudit(ctx, store.AuditQuery{Subject: benchEntry(0).Subject, Limit: 1000000})
		if err != nil || len(found) != n/100 {
			b.Fatalf("found %d entries (%v), want %d", len(found), err, n/100)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}

// BenchmarkAuditVerify verifies a whole log of TUMAR_BENCH_AUDIT_ENTRIES
// entries (default 100,000; the figure in docs/benchmarks.md is for
// 1,000,000), with a checkpoint every 1,000: entries/s is the figure.
func BenchmarkAuditVerify(b *testing.B) {
	n := benchLogSize()
	ctx := context.Background()
	st, _ := store.OpenSQLite(ctx, filepath.Join(b.TempDir(), "a.db"))
	defer st.Close()
	mem, _ := keys.NewMemory("errp")
	cp := &Checkpointer{Store: st, Signer: mem}
	batch := make([]*audit.Entry, 0, 1000)
	for i := 1; i <= n; i++ {
		batch = append(batch, benchEntry(i))
		if len(batch) == cap(batch) || i == n {
			if err := st.AuditBatch(ctx, batch); err != nil {
				b.Fatal(err)
			}
			batch = batch[:0]
			cp.Checkpoint(ctx)
		}
	}
	pubs, _ := mem.PublicKeys(ctx, keys.SigningKeyAudit)
	set := jose.JSONWebKeySet{Keys: pubs}
	b.ResetTimer()
	for b.Loop() {
		rep, err := audit.VerifyLog(ctx, st, set)
		if err != nil || !rep.OK || rep.Entries != int64(n) {
			b.Fatalf("%+v %v", rep, err)
		}
	}
	b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "entries/s")
}
