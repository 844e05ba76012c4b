package bench

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
)

// newTransport is the one transport setup both sides use, each with its own pool: enough idle
// connections that parallel benchmarks reuse them instead of dialling.
func newTransport(b *testing.B) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConns = 1024
	t.MaxIdleConnsPerHost = 1024
	b.Cleanup(t.CloseIdleConnections)
	return t
}

func newServer(b *testing.B) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, "ok\n")
	}))
	b.Cleanup(srv.Close)
	return srv
}

// newWeirGet is a Weir client as a service would run it: a limit (one that never refuses), the
// breaker on, the default retry policy.
func newWeirGet(b *testing.B) func(context.Context, string) (*http.Response, error) {
	c, err := client.New(client.Config{
		Name:      "bench",
		Limits:    []store.Limit{alwaysAdmits},
		Transport: newTransport(b),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c.Get
}

func newNetHTTPGet(b *testing.B) func(context.Context, string) (*http.Response, error) {
	hc := &http.Client{Transport: newTransport(b)}
	return func(ctx context.Context, url string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return nil, err
		}
		return hc.Do(req)
	}
}

var getters = []struct {
	name string
	make func(*testing.B) func(context.Context, string) (*http.Response, error)
}{
	{"weir-client", newWeirGet},
	{"net-http", newNetHTTPGet},
}

// fetch sends one GET and reads the body to the end, so the connection goes back to the pool.
func fetch(ctx context.Context, get func(context.Context, string) (*http.Response, error), url string) error {
	resp, err := get(ctx, url)
	if err != nil {
		return err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return err
}

// BenchmarkHTTP is one caller sending GETs to a loopback server one after another.
func BenchmarkHTTP(b *testing.B) {
	srv := newServer(b)
	for _, g := range getters {
		b.Run(g.name, func(b *testing.B) {
			get := g.make(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if err := fetch(ctx, get, srv.URL); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkHTTPParallel is every P sending GETs at once through one shared client.
func BenchmarkHTTPParallel(b *testing.B) {
	srv := newServer(b)
	for _, g := range getters {
		b.Run(g.name, func(b *testing.B) {
			get := g.make(b)
			ctx := context.Background()
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := fetch(ctx, get, srv.URL); err != nil {
						b.Error(err)
						return
					}
				}
			})
		})
	}
}
