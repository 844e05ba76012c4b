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

// demoQueue is the demo fleet's one queue, named after its one upstream.
const demoQueue = "demo-api"

// demoFleet enqueues jobs of mixed priority into one queue and lets workers (goroutines here;
// separate processes sharing Redis in production) drain it against a fresh demo API.
func demoFleet(ctx context.Context, o demoOptions, out, logs io.Writer) (fleetSummary, error) {
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	api, srv, err := serveFleetAPI(o)
	if err != nil {
		return fleetSummary{}, err
	}
	defer srv.Close()
	base, _ := url.Parse(srv.URL)

	st := memory.New(memory.Options{})
	defer st.Close()
	plan := shuffledPriorities(o.Jobs, o.Seed)
	tickets, err := enqueueDemoJobs(ctx, st, plan)
	if err != nil {
		return fleetSummary{}, err
	}
	fmt.Fprintf(out, "\nweir demo, the queue: %d jobs in one queue, drained by %d workers, each with its own client,\nall sharing one limit of %s through one store.\n\n", o.Jobs, o.Workers, o.limit())

	workers, err := newDemoWorkers(st, o, base, logs)
	if err != nil {
		return fleetSummary{}, err
	}
	defer workers.close()
	began := time.Now()
	stop := workers.start(ctx)
	prog := newProgress(out, o.Jobs, o.Terminal, "queued", queuedJobs(ctx, st))
	ranks := finishingRanks(ctx, tickets, prog)
	elapsed := time.Since(began)
	stop()
	prog.close()
	return workers.summary(o, elapsed, api.Arrivals(), plan, ranks), ctx.Err()
}

// serveFleetAPI starts a fresh demo API on loopback, seeded apart from the first phase's; the
// caller closes the server.
func serveFleetAPI(o demoOptions) (*demoapi.API, *demoapi.Server, error) {
	api, err := demoapi.New(demoapi.Config{Limit: o.APILimit, FailureRate: o.FailureRate, SlowRate: demoSlowRate, SlowDelay: demoSlowDelay, Seed: o.Seed + 1})
	if err != nil {
		return nil, nil, err
	}
	srv, err := demoapi.Serve(api)
	if err != nil {
		return nil, nil, err
	}
	return api, srv, nil
}

// enqueueDemoJobs enqueues one GET per entry of plan, at its priority, and fails if any is
// rejected.
func enqueueDemoJobs(ctx context.Context, st fullStore, plan []priority) ([]*queue.Ticket, error) {
	prod, err := queue.NewProducer(st, queue.ProducerConfig{Upstreams: map[string]queue.Rules{demoQueue: {}}, MaxPoll: 20 * time.Millisecond})
	if err != nil {
		return nil, err
	}
	items := make([]queue.Item, len(plan))
	for i, p := range plan {
		items[i] = queue.Item{Request: queue.Request{Upstream: demoQueue, Method: http.MethodGet, Path: "/items/" + strconv.Itoa(i)},
			Options: queue.Options{Priority: p.Value}}
	}
	tickets, errs, err := prod.EnqueueBatch(ctx, items)
	if err != nil {
		return nil, err
	}
	for _, e := range errs {
		if e != nil {
			return nil, e
		}
	}
	return tickets, nil
}

// demoWorkers is the demo's workers on the one queue, each with its own client.
type demoWorkers struct {
	workers []*queue.Worker
	clients []*client.Client
}

// newDemoWorkers makes o.Workers workers, each calling base through its own client; the caller
// closes them.
func newDemoWorkers(st fullStore, o demoOptions, base *url.URL, logs io.Writer) (*demoWorkers, error) {
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelError}))
	dw := &demoWorkers{}
	for range o.Workers {
		if err := dw.add(st, o.limit(), base, logger); err != nil {
			dw.close()
			return nil, err
		}
	}
	return dw, nil
}

// add makes one more worker with a client of its own, sharing the limit through st.
func (dw *demoWorkers) add(st fullStore, limit store.Limit, base *url.URL, logger *slog.Logger) error {
	// The short OpenTimeout: a trip would otherwise stop the demo for the default minute.
	c, err := client.New(client.Config{Name: demoQueue, Store: st, Limits: []store.Limit{limit},
		Breaker: breaker.Config{BreakerPolicy: store.BreakerPolicy{OpenTimeout: 2 * time.Second}}, AttemptTimeout: 5 * time.Second, Logger: logger})
	if err != nil {
		return err
	}
	dw.clients = append(dw.clients, c)
	w, err := queue.NewWorker(st, queue.WorkerConfig{Queue: demoQueue, Concurrency: 4, Lease: 10 * time.Second,
		RetryBase: 50 * time.Millisecond, RetryMax: time.Second, Logger: logger},
		queue.HTTPHandler(&queue.Upstream{Name: demoQueue, BaseURL: base, Client: c, Rules: queue.Rules{}}))
	if err != nil {
		return err
	}
	dw.workers = append(dw.workers, w)
	return nil
}

// start runs every worker until the returned stop, which waits for them to return.
func (dw *demoWorkers) start(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	for _, w := range dw.workers {
		wg.Go(func() { _ = w.Run(ctx) })
	}
	return func() {
		cancel()
		wg.Wait()
	}
}

// close closes the workers' clients; stop the workers first.
func (dw *demoWorkers) close() {
	for _, c := range dw.clients {
		c.Close()
	}
}

// queuedJobs counts the jobs waiting in the fleet's queue, ready or delayed, for the progress line.
func queuedJobs(ctx context.Context, st fullStore) func() int {
	return func() int {
		s, _ := st.QueueStats(ctx, demoQueue)
		n := 0
		for _, k := range s.Ready {
			n += k
		}
		return n + s.Delayed
	}
}

// finishingRanks waits for every job and returns each one's place in the order they finished,
// from 1; 0 for a job whose wait failed.
func finishingRanks(ctx context.Context, tickets []*queue.Ticket, prog *progress) []int {
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
	return ranks
}

// summary is what the fleet did: the workers' counts, the API's busiest second against the
// shared limit, and how soon each priority finished.
func (dw *demoWorkers) summary(o demoOptions, elapsed time.Duration, arrivals []demoapi.Arrival, plan []priority, ranks []int) fleetSummary {
	s := fleetSummary{Jobs: o.Jobs, Workers: o.Workers, Elapsed: elapsed,
		Bound: maxAdmitted(o.limit(), time.Second), Allowed: maxAdmitted(o.limit(), time.Second+transitAllowance)}
	for _, w := range dw.workers {
		ws := w.Stats()
		s.Done += ws.Done.Load()
		s.Dead += ws.Buried.Load()
		s.Retried += ws.Retried.Load()
		s.PerWorker = append(s.PerWorker, ws.Done.Load())
	}
	times := make([]time.Time, len(arrivals))
	for i, a := range arrivals {
		times[i] = a.At
	}
	s.Arrivals, s.BusiestSecond = len(arrivals), busiestWindow(times, time.Second)
	s.Order = meanRanks(plan, ranks)
	return s
}

// meanRanks is the mean finishing rank of each of demoPriorities, over its jobs that finished;
// 0 if none did.
func meanRanks(plan []priority, ranks []int) []float64 {
	var order []float64
	for _, p := range demoPriorities {
		sum, n := 0, 0
		for i, pl := range plan {
			if pl == p && ranks[i] > 0 {
				sum += ranks[i]
				n++
			}
		}
		if n > 0 {
			order = append(order, float64(sum)/float64(n))
		} else {
			order = append(order, 0)
		}
	}
	return order
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
