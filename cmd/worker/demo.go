package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-go/weir/internal/demoapi"
	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// demoOptions is the demo's command line.
type demoOptions struct {
	Requests    int
	Jobs        int // the queue phase's jobs; 0 skips it
	Workers     int
	Rate        int64 // the client's limit, requests per second
	Burst       int64
	APILimit    int     // the demo API's own limit, requests per one-second window
	FailureRate float64 // share of admitted requests the demo API answers 503
	Seed        uint64
	Timeout     time.Duration
	Terminal    bool // redraw a progress bar in place instead of printing lines
}

// The demo API also answers a few requests slowly, as real ones do.
const (
	demoSlowRate  = 0.02
	demoSlowDelay = 250 * time.Millisecond
)

// priority is one of the demo's three classes of request.
type priority struct {
	Name  string
	Value int
}

var demoPriorities = []priority{{"high", 10}, {"normal", 5}, {"low", 0}}

func (o demoOptions) limit() store.Limit { return store.PerSecond(o.Rate).WithBurst(o.Burst) }

func newDemoFlags(out io.Writer, o *demoOptions) *flag.FlagSet {
	fs := flag.NewFlagSet("demo", flag.ContinueOnError)
	fs.SetOutput(out)
	fs.IntVar(&o.Requests, "n", 300, "number of requests to send, all at once")
	fs.IntVar(&o.Jobs, "jobs", 150, "then, jobs to enqueue for the workers to drain (0 skips the queue phase)")
	fs.IntVar(&o.Workers, "workers", 3, "workers draining the queue, each with its own client")
	fs.Int64Var(&o.Rate, "rate", 50, "the client's rate limit, in requests per second")
	fs.Int64Var(&o.Burst, "burst", 10, "the client's burst (0 means the rate)")
	fs.IntVar(&o.APILimit, "api-limit", 60, "the demo API's own limit, in requests per one-second window")
	fs.Float64Var(&o.FailureRate, "fail", 0.05, "share of requests the demo API answers 503")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the demo API's failures and of the order of priorities")
	fs.DurationVar(&o.Timeout, "timeout", time.Minute, "give up after this long")
	fs.Usage = func() {
		fmt.Fprint(out, `Usage: worker demo [flags]

Starts a local API that enforces its own rate limit (429 with Retry-After beyond it), fails now and
then and answers slowly now and then; sends requests of three priorities through one Weir client
with an in-memory store, all at once; and reports what the client and the API saw. Exits 1 if any
request failed or the API saw more than the client's limit allows.

Flags:
`)
		fs.PrintDefaults()
	}
	return fs
}

// runDemo parses the demo's flags, runs it and prints its summary.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	var o demoOptions
	fs := newDemoFlags(stderr, &o)
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if err := o.check(fs.Args()); err != nil {
		fmt.Fprintf(stderr, "worker demo: %v\n", err)
		fs.Usage()
		return 2
	}
	o.Terminal = isTerminal(stdout)

	s, err := demo(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "worker demo: %v\n", err)
		return 1
	}
	s.print(stdout)
	if p := s.problem(); p != "" {
		fmt.Fprintf(stderr, "worker demo: FAILED: %s\n", p)
		return 1
	}
	if o.Jobs == 0 {
		return 0
	}
	fsum, err := demoFleet(ctx, o, stdout, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "worker demo: the queue: %v\n", err)
		return 1
	}
	fsum.print(stdout)
	if p := fsum.problem(); p != "" {
		fmt.Fprintf(stderr, "worker demo: FAILED: the queue: %s\n", p)
		return 1
	}
	return 0
}

func (o demoOptions) check(rest []string) error {
	switch {
	case len(rest) > 0:
		return fmt.Errorf("unexpected arguments %q", rest)
	case o.Requests < 1:
		return fmt.Errorf("-n must be ≥ 1, got %d", o.Requests)
	case o.Jobs < 0:
		return fmt.Errorf("-jobs must be ≥ 0, got %d", o.Jobs)
	case o.Workers < 1:
		return fmt.Errorf("-workers must be ≥ 1, got %d", o.Workers)
	case o.APILimit < 1:
		return fmt.Errorf("-api-limit must be ≥ 1, got %d", o.APILimit)
	case !(o.FailureRate >= 0 && o.FailureRate < 1):
		return fmt.Errorf("-fail must be in [0, 1), got %v", o.FailureRate)
	case o.Timeout <= 0:
		return fmt.Errorf("-timeout must be positive, got %v", o.Timeout)
	}
	if err := o.limit().Validate(); err != nil {
		return fmt.Errorf("-rate, -burst: %w", err)
	}
	return nil
}

// isTerminal reports whether w is an interactive terminal, where a progress bar may be redrawn
// in place; anywhere else (a pipe, a file, CI's log) every byte is kept, so plain lines are kinder.
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok || os.Getenv("TERM") == "dumb" {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// demo runs the job: the demo API on loopback, one client in front of it, every request started
// at once, and a summary of what both sides saw. Progress goes to out, the client's warnings to
// logs.
func demo(ctx context.Context, o demoOptions, out, logs io.Writer) (summary, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	api, err := demoapi.New(demoapi.Config{
		Limit: o.APILimit, FailureRate: o.FailureRate, SlowRate: demoSlowRate, SlowDelay: demoSlowDelay, Seed: o.Seed,
	})
	if err != nil {
		return summary{}, err
	}
	srv, err := demoapi.Serve(api)
	if err != nil {
		return summary{}, err
	}
	defer srv.Close()

	st := memory.New(memory.Options{})
	defer st.Close()
	c, err := client.New(client.Config{
		Name:   "demo-api",
		Store:  st,
		Limits: []store.Limit{o.limit()},
		// A trip would otherwise stop the demo for the default minute.
		Breaker:        breaker.Config{BreakerPolicy: store.BreakerPolicy{OpenTimeout: 2 * time.Second}},
		AttemptTimeout: 5 * time.Second,
		Logger:         slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		return summary{}, err
	}
	defer c.Close()

	plan := shuffledPriorities(o.Requests, o.Seed)
	fmt.Fprintf(out, "weir demo: %d requests (high, normal and low priority, mixed) through one client limited to %s,\n", o.Requests, o.limit())
	fmt.Fprintf(out, "to a local API that admits %d per one-second window and answers %.0f%% of them 503, a few slowly.\n\n", o.APILimit, o.FailureRate*100)

	prog := newProgress(out, o.Requests, o.Terminal, "waiting for a token", func() int { return c.Stats().Waiting })
	results := make([]callResult, len(plan))
	var rank atomic.Int64
	var wg sync.WaitGroup
	gate := make(chan struct{})
	began := time.Now()
	for i, p := range plan {
		wg.Go(func() {
			<-gate // start together, so that the calls really queue
			t0 := time.Now()
			err := fetch(client.WithPriority(ctx, p.Value), c, srv.URL+"/items/"+strconv.Itoa(i))
			results[i] = callResult{Priority: p, Latency: time.Since(t0), Rank: int(rank.Add(1)), Err: err}
			prog.finished()
		})
	}
	close(gate)
	wg.Wait()
	elapsed := time.Since(began)
	prog.close()

	return summarize(results, c.Stats(), api.Arrivals(), o.limit(), elapsed), nil
}

// shuffledPriorities deals n requests round the priorities and shuffles them with the seed.
func shuffledPriorities(n int, seed uint64) []priority {
	plan := make([]priority, n)
	for i := range plan {
		plan[i] = demoPriorities[i%len(demoPriorities)]
	}
	r := rand.New(rand.NewPCG(seed, seed+1))
	r.Shuffle(n, func(i, j int) { plan[i], plan[j] = plan[j], plan[i] })
	return plan
}

// fetch GETs url and reads the answer; anything but a 200 is an error.
func fetch(ctx context.Context, c *client.Client, url string) error {
	resp, err := c.Get(ctx, url)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return fmt.Errorf("reading %s: %w", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return nil
}
