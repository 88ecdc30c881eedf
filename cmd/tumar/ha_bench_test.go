package main

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/tumarproject/tumar/gateway"
	"github.com/tumarproject/tumar/gateway/client"
)

// BenchmarkReplicas is exchanges per second through one and through two
// gateway processes sharing one PostgreSQL, with 16 clients over HTTPS and
// mutual TLS. Needs TUMAR_TEST_POSTGRES_URL.
func BenchmarkReplicas(b *testing.B) {
	for _, n := range []int{1, 2} {
		b.Run(fmt.Sprintf("replicas=%d", n), func(b *testing.B) {
			c := startCluster(b, n)
			ctx := context.Background()
			clients := make([]chanClient, 16)
			for i := range clients {
				clients[i] = chanClient{c.client(b, "ngo-sezim", i%n)}
			}
			var next atomic.Int64
			b.ResetTimer()
			var wg sync.WaitGroup
			for _, cl := range clients {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for next.Add(1) <= int64(b.N) {
						if _, err := cl.Submit(ctx, &gateway.ExchangeRequest{Destination: "errp", Purpose: "criminal-referral", LegalBasis: "victim-consent",
							Record: json.RawMessage(haReferral)}); err != nil {
							b.Error(err)
							return
						}
					}
				}()
			}
			wg.Wait()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "exchanges/s")
		})
	}
}

type chanClient struct{ *client.Client }

type clientAlias = client.Client

// BenchmarkRedeemUnderConcurrency is the latency of token redemptions, 16 at
// a time, spread over two replicas: p50 and p99 are the figures.
func BenchmarkRedeemUnderConcurrency(b *testing.B) {
	c := startCluster(b, 2)
	ctx := context.Background()
	ngo := c.client(b, "ngo-sezim", 0)
	decision := strings.Replace(haReferral, `"cas_Status": "Active"`, `"vic_TraffickingStatus": "ActualVictimOfTrafficking", "vic_TraffickingStatusDecisionMakingOrg": "NGO"`, 1)
	if _, err := ngo.RecordStatus(ctx, json.RawMessage(decision), "2026-11-01"); err != nil {
		b.Fatal(err)
	}
	tokens := make([]string, b.N)
	for i := range tokens {
		t, err := ngo.IssueToken(ctx, json.RawMessage(haReferral), gateway.IssueRequest{Audience: "health-bishkek", Purpose: "support-services"})
		if err != nil {
			b.Fatal(err)
		}
		tokens[i] = t.Token
	}
	clients := []*clientAlias{c.client(b, "health-bishkek", 0), c.client(b, "health-bishkek", 1)}
	lat := make([]time.Duration, b.N)
	var next atomic.Int64
	b.ResetTimer()
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= b.N {
					return
				}
				start := time.Now()
				if _, err := clients[w%2].Redeem(ctx, tokens[i], ""); err != nil {
					b.Error(err)
					return
				}
				lat[i] = time.Since(start)
			}
		}()
	}
	wg.Wait()
	b.StopTimer()
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "redemptions/s")
}
