package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/weir-go/weir/internal/demoapi"
)

// runDemoAPI serves the demo's rate-limited, now-and-then failing API on its own, for trying the
// worker fleet (docker-compose.yml) against something that pushes back.
func runDemoAPI(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("demoapi", flag.ContinueOnError)
	fs.SetOutput(stderr)
	listen := fs.String("listen", "127.0.0.1:8080", "address to serve on")
	limit := fs.Int("limit", 60, "requests admitted per one-second window; beyond it 429 with Retry-After")
	fail := fs.Float64("fail", 0.05, "share of admitted requests answered 503")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	api, err := demoapi.New(demoapi.Config{Limit: *limit, FailureRate: *fail, SlowRate: demoSlowRate, SlowDelay: demoSlowDelay, Seed: 1})
	if err != nil {
		fmt.Fprintf(stderr, "worker demoapi: %v\n", err)
		return 2
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		fmt.Fprintf(stderr, "worker demoapi: %v\n", err)
		return 1
	}
	srv := &http.Server{Handler: api, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()
	fmt.Fprintf(stdout, "demo API on %s: %d per second, %.0f%% failures\n", ln.Addr(), *limit, *fail*100)
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		fmt.Fprintf(stderr, "worker demoapi: %v\n", err)
		return 1
	}
	return 0
}
