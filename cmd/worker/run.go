package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/queue"
)

type runOptions struct {
	Redis, Config, Listen, Prefix, LogLevel string
	Concurrency                             int
	Lease, Grace                            time.Duration
}

func newRunFlags(out io.Writer, o *runOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("run", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.StringVar(&o.Redis, "redis", "", "Redis URL (redis://user:pass@host:6379/0, rediss:// for TLS); default $WEIR_REDIS_URL; none: an in-memory store for this process alone")
	fs.StringVar(&o.Config, "config", "", "upstream profiles (JSON); required")
	fs.StringVar(&o.Listen, "listen", "", "address serving /metrics, /healthz and /readyz (e.g. :9090); none by default")
	fs.StringVar(&o.Prefix, "prefix", "weir", "key prefix in Redis")
	fs.StringVar(&o.LogLevel, "log-level", "info", "debug, info, warn or error (credentials are redacted at every level)")
	fs.IntVar(&o.Concurrency, "concurrency", 8, "jobs run at once, per upstream")
	fs.DurationVar(&o.Lease, "lease", 30*time.Second, "job lease, extended every third of it while the job runs")
	fs.DurationVar(&o.Grace, "grace", 30*time.Second, "on SIGTERM, how long jobs in flight may finish before they are handed back")
	fs.Usage = func() {
		fmt.Fprint(out, "Usage: worker run --config FILE [--redis URL] [flags]\n\nDrains the queue of every upstream in the configuration, each job under the upstream's shared\nlimits and breaker. SIGTERM or SIGINT: take no more jobs, let jobs in flight finish within the\ngrace period, hand the rest back.\n\nFlags:\n")
		fs.PrintDefaults()
	}
	return fs
}

func runWorker(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o runOptions
	fs := newRunFlags(stderr, &o)
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if o.Config == "" {
		fmt.Fprintln(stderr, "worker run: --config is required")
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(o.LogLevel)); err != nil {
		fmt.Fprintf(stderr, "worker run: --log-level: %q is not debug, info, warn or error\n", o.LogLevel)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	if err := serveWorker(ctx, o, log, stdout); err != nil {
		fmt.Fprintf(stderr, "worker run: %v\n", err)
		return 1
	}
	return 0
}

// serveWorker runs the workers until ctx ends, then shuts down gracefully.
func serveWorker(ctx context.Context, o runOptions, log *slog.Logger, stdout io.Writer) error {
	cfg, err := loadConfig(o.Config, os.Getenv)
	if err != nil {
		return err
	}
	st, err := openStore(ctx, redisURL(o.Redis), o.Prefix, true)
	if err != nil {
		return err
	}
	defer st.Close()

	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	rules := cfg.rules()
	var workers []*queue.Worker
	var upstreams []string
	for _, p := range cfg.Upstreams {
		ccfg := p.clientConfig(st)
		ccfg.Registerer, ccfg.Logger = reg, log
		c, err := client.New(ccfg)
		if err != nil {
			return fmt.Errorf("upstream %s: %w", p.Name, err)
		}
		defer c.Close()
		h := queue.HTTPHandler(p.upstream(c, rules[p.Name], cfg.Queue.MaxResult))
		w, err := queue.NewWorker(st, queue.WorkerConfig{Queue: p.Name, Policy: cfg.policy(), Concurrency: o.Concurrency,
			Lease: o.Lease, Grace: o.Grace, MaxAttempts: cfg.Queue.MaxAttempts, Logger: log}, h)
		if err != nil {
			return fmt.Errorf("upstream %s: %w", p.Name, err)
		}
		workers = append(workers, w)
		upstreams = append(upstreams, p.Name)
	}
	reg.MustRegister(queue.NewCollector(st, upstreams, workers))

	if o.Listen != "" {
		ln, err := net.Listen("tcp", o.Listen)
		if err != nil {
			return err
		}
		srv := &http.Server{Handler: healthMux(reg, st, upstreams), ReadHeaderTimeout: 5 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
		fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	}
	log.Info("weir: worker running", "upstreams", upstreams, "concurrency", o.Concurrency, "lease", o.Lease)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = w.Run(ctx)
		}()
	}
	wg.Wait()
	log.Info("weir: worker stopped")
	return nil
}

// healthMux serves /metrics, /healthz (the process is up) and /readyz (the store answers).
func healthMux(reg *prometheus.Registry, st fullStore, upstreams []string) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
		defer cancel()
		if _, err := st.QueueStats(ctx, upstreams[0]); err != nil {
			http.Error(w, "store: "+err.Error(), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	return mux
}
