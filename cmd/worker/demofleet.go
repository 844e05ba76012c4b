package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"sync"
	"time"

	"github.com/weir-go/weir/internal/demoapi"
	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/queue"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// fleetSummary is what the demo's queue phase reports: several workers, each with its own client,
// draining one queue through one shared limit.
type fleetSummary struct {
	Jobs, Workers       int
	Done, Dead, Retried int64
	PerWorker           []int64
	Elapsed             time.Duration
	Arrivals            int
	BusiestSecond       int
	Bound, Allowed      int64
	Order               []float64 // mean finishing rank per priority, in demoPriorities' order
}

// demoFleet enqueues jobs of mixed priority into one queue and lets workers (goroutines here;
// separate processes sharing Redis in production) drain it against a fresh demo API.
func demoFleet(ctx context.Context, o demoOptions, out, logs io.Writer) (fleetSummary, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	api, err := demoapi.New(demoapi.Config{Limit: o.APILimit, FailureRate: o.FailureRate, SlowRate: demoSlowRate, SlowDelay: demoSlowDelay, Seed: o.Seed + 1})
	if err != nil {
		return fleetSummary{}, err
	}
	srv, err := demoapi.Serve(api)
	if err != nil {
		return fleetSummary{}, err
	}
	defer srv.Close()
	base, _ := url.Parse(srv.URL)

	st := memory.New()
	defer st.Close()
	const upstream = "demo-api"
	rules := map[string]queue.Rules{upstream: {}}
	prod, err := queue.NewProducer(st, queue.ProducerConfig{Upstreams: rules, MaxPoll: 20 * time.Millisecond})
	if err != nil {
		return fleetSummary{}, err
	}
	plan := shuffledPriorities(o.Jobs, o.Seed)
	items := make([]queue.Item, len(plan))
	for i, p := range plan {
		items[i] = queue.Item{Request: queue.Request{Upstream: upstream, Method: http.MethodGet, Path: "/items/" + strconv.Itoa(i)},
			Options: queue.Options{Priority: p.Value}}
	}
	tickets, errs, err := prod.EnqueueBatch(ctx, items)
	if err != nil {
		return fleetSummary{}, err
	}
	for _, e := range errs {
		if e != nil {
			return fleetSummary{}, e
		}
	}
	fmt.Fprintf(out, "\nweir demo, the queue: %d jobs in one queue, drained by %d workers, each with its own client,\nall sharing one limit of %s through one store.\n\n", o.Jobs, o.Workers, o.limit())

	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))
	var workers []*queue.Worker
	for range o.Workers {
		c, err := client.New(client.Config{Name: upstream, Store: st, Limits: []store.Limit{o.limit()},
			Breaker: breaker.Config{BreakerPolicy: store.BreakerPolicy{OpenTimeout: 2 * time.Second}}, AttemptTimeout: 5 * time.Second, Logger: logger})
		if err != nil {
			return fleetSummary{}, err
		}
		defer c.Close()
		w, err := queue.NewWorker(st, queue.WorkerConfig{Queue: upstream, Concurrency: 4, Lease: 10 * time.Second,
			RetryBase: 50 * time.Millisecond, RetryMax: time.Second, Logger: logger},
			queue.HTTPHandler(&queue.Upstream{Name: upstream, BaseURL: base, Client: c, Rules: rules[upstream]}))
		if err != nil {
			return fleetSummary{}, err
		}
		workers = append(workers, w)
	}
	began := time.Now()
	wctx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Go(func() { _ = w.Run(wctx) })
	}
	prog := newProgress(out, o.Jobs, o.Terminal, "queued", func() int {
		s, _ := st.QueueStats(ctx, upstream)
		n := 0
		for _, k := range s.Ready {
			n += k
		}
		return n + s.Delayed
	})
	ranks := make([]int, len(tickets))
	var mu sync.Mutex
	next := 0
	var waits sync.WaitGroup
	for i, t := range tickets {
		waits.Go(func() {
			if _, err := t.Wait(ctx); err == nil {
				mu.Lock()
				next++
				ranks[i] = next
				mu.Unlock()
			}
			prog.finished()
		})
	}
	waits.Wait()
	elapsed := time.Since(began)
	stop()
	wg.Wait()
	prog.close()

	s := fleetSummary{Jobs: o.Jobs, Workers: o.Workers, Elapsed: elapsed,
		Bound: maxAdmitted(o.limit(), time.Second), Allowed: maxAdmitted(o.limit(), time.Second+transitAllowance)}
	for _, w := range workers {
		ws := w.Stats()
		s.Done += ws.Done.Load()
		s.Dead += ws.Buried.Load()
		s.Retried += ws.Retried.Load()
		s.PerWorker = append(s.PerWorker, ws.Done.Load())
	}
	arrivals := api.Arrivals()
	times := make([]time.Time, len(arrivals))
	for i, a := range arrivals {
		times[i] = a.At
	}
	s.Arrivals, s.BusiestSecond = len(arrivals), busiestWindow(times, time.Second)
	for _, p := range demoPriorities {
		sum, n := 0, 0
		for i, pl := range plan {
			if pl == p && ranks[i] > 0 {
				sum += ranks[i]
				n++
			}
		}
		if n > 0 {
			s.Order = append(s.Order, float64(sum)/float64(n))
		} else {
			s.Order = append(s.Order, 0)
		}
	}
	return s, ctx.Err()
}

func (s fleetSummary) print(w io.Writer) {
	fmt.Fprintf(w, "\n  jobs            %d: %d done, %d dead, %d retried as jobs, in %.1fs\n", s.Jobs, s.Done, s.Dead, s.Retried, s.Elapsed.Seconds())
	fmt.Fprintf(w, "  per worker      %v jobs done\n", s.PerWorker)
	fmt.Fprintf(w, "  busiest second  %d arrivals at the API; the shared limit allows at most %d (%d allowing %v for transit)\n",
		s.BusiestSecond, s.Bound, s.Allowed, transitAllowance)
	fmt.Fprintf(w, "  finishing order mean rank by priority:")
	for i, p := range demoPriorities {
		fmt.Fprintf(w, " %s %.0f", p.Name, s.Order[i])
	}
	fmt.Fprintln(w)
}

func (s fleetSummary) problem() string {
	switch {
	case s.Done+s.Dead != int64(s.Jobs):
		return fmt.Sprintf("%d of %d jobs finished", s.Done+s.Dead, s.Jobs)
	case int64(s.BusiestSecond) > s.Allowed:
		return fmt.Sprintf("the API saw %d in one second, over the shared limit's %d (%d with transit)", s.BusiestSecond, s.Bound, s.Allowed)
	}
	return ""
}
