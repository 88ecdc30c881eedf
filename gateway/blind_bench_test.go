package gateway

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tumarproject/tumar/crypto/oprf"
	"github.com/tumarproject/tumar/gateway/config"
)

// BenchmarkBlindEvaluate is one answered POST /v1/oprf/evaluate behind the
// HTTP layer: checks, the status policy, the durable count and audit entry in
// SQLite, and the evaluation with its proof. Each op blinds afresh outside
// the timer, since a replayed batch is refused.
func BenchmarkBlindEvaluate(b *testing.B) {
	for _, n := range []int{1, 3, 16} {
		b.Run(fmt.Sprintf("batch=%d", n), func(b *testing.B) {
			svc, cfg := statusFixtureTB(b)
			svc.cfg.Blind = config.Blind{Limit: 1 << 30, Window: config.Duration(time.Hour)}
			ngo, _ := cfg.Agency("ngo-sezim")
			ctx := context.Background()
			key, err := svc.blind.Key(ctx, config.LookupDomain, 0)
			if err != nil {
				b.Fatal(err)
			}
			c, err := oprf.NewClient(key.Domain, key.Epoch, key.PublicKey())
			if err != nil {
				b.Fatal(err)
			}
			in := make([][]byte, n)
			for i := range in {
				in[i] = fmt.Appendf(nil, "doc\x00ID%07d", i)
			}
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				bl, err := c.Blind(in)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				if _, err := svc.Evaluate(ctx, ngo, &EvaluateRequest{Suite: oprf.SuiteID, Domain: config.LookupDomain, Elements: bl.Elements}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "elements/s")
		})
	}
}
