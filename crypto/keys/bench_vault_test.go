package keys_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/tumarproject/tumar/crypto/keys"
	"github.com/tumarproject/tumar/crypto/keys/vaulttest"
)

func inputs(n int) [][]byte {
	in := make([][]byte, n)
	for i := range in {
		in[i] = []byte(fmt.Sprintf("nb\x00asanbekova zhildiz %06d|1990-05-12", i))
	}
	return in
}

// BenchmarkPseudonymsPerSecond compares the local HMAC with Vault transit
// (the Vault-compatible test server on loopback) at several call sizes. The
// figure to read is pseudonyms/s.
func BenchmarkPseudonymsPerSecond(b *testing.B) {
	ctx := context.Background()
	mem, _ := keys.NewMemory("errp")
	srv := vaulttest.New(b)
	opt := keys.VaultOptions{Address: srv.URL, Auth: keys.VaultAuth{Method: "token", Token: srv.RootToken}, Timeout: 30 * time.Second}
	if _, err := keys.SetupVault(ctx, opt, srv.RootToken, []string{"errp"}); err != nil {
		b.Fatal(err)
	}
	backends := map[string]func(batch int) keys.Pseudonymizer{
		"local": func(int) keys.Pseudonymizer { return mem },
		"vault": func(batch int) keys.Pseudonymizer {
			o := opt
			o.BatchSize = batch
			v, err := keys.OpenVault(ctx, o, []string{"errp"})
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(v.Close)
			return v
		},
	}
	for _, name := range []string{"local", "vault"} {
		for _, n := range []int{1, 100, 1000, 10000} {
			b.Run(fmt.Sprintf("%s/batch=%d", name, n), func(b *testing.B) {
				p := backends[name](min(n, 1000))
				in := inputs(n)
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					if _, err := p.Pseudonymize(ctx, "errp", in); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "pseudonyms/s")
			})
		}
	}
}
