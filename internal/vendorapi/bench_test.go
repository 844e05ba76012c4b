package vendorapi

import (
	"io"
	"testing"
	"time"
)

// BenchmarkLoopback measures a request's round trip through a real loopback server, the server's
// lock and its header formatting included, for the kinds with the most to format.
func BenchmarkLoopback(b *testing.B) {
	for _, kind := range []Kind{GitHub, Discord, OpenAI} {
		b.Run(string(kind), func(b *testing.B) {
			f := serve(b, kind, Config{Quota: 1 << 30, Window: time.Hour, TokenQuota: 1 << 40, GlobalQuota: 1 << 30, GlobalWindow: time.Second}, epoch)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					resp, err := f.client.Get(f.url + "/v1/items")
					if err != nil {
						b.Error(err)
						return
					}
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
			})
		})
	}
}
