package queue

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"github.com/weir-go/weir/internal/backoff"
	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

// Handler runs one job and returns the result to store. An error schedules a retry (or, after
// the last attempt, buries the job); wrap it with Permanent to bury at once, or return an error
// with a RetryDelay method (a *RetryAfterError, or the client's and breaker's errors that carry
// a wait) to say when to try again. ctx ends when the lease is lost or the worker stops for good.
type Handler func(ctx context.Context, l store.Lease) (result []byte, err error)

// Permanent marks an error that no retry will mend: the job is buried at once.
func Permanent(err error) error { return &permanentError{err} }

type permanentError struct{ err error }

func (e *permanentError) Error() string { return e.err.Error() }
func (e *permanentError) Unwrap() error { return e.err }

// RetryAfterError asks for the next attempt no sooner than After.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

// RetryDelay returns After.
func (e *RetryAfterError) RetryDelay() time.Duration { return e.After }

func (e *RetryAfterError) Error() string { return e.Err.Error() }
func (e *RetryAfterError) Unwrap() error { return e.Err }

// Defaults of WorkerConfig's zero fields.
const (
	DefaultConcurrency  = 8
	DefaultLease        = 30 * time.Second
	DefaultMaxAttempts  = 5
	DefaultRetryBase    = time.Second
	DefaultRetryMax     = 5 * time.Minute
	DefaultGrace        = 30 * time.Second
	DefaultReapInterval = time.Second
)

// WorkerConfig configures a Worker. Zero fields mean the defaults.
type WorkerConfig struct {
	Queue        string            // the queue to drain; required
	Policy       store.QueuePolicy // the queue's bounds (result TTL, dead-letter cap)
	Concurrency  int               // jobs run at once; default 8
	Lease        time.Duration     // lease per job, extended every third of it; default 30 s, at most store.MaxLease
	MaxAttempts  int               // deliveries before a failing job is buried; default 5
	RetryBase    time.Duration     // first retry delay, doubled per attempt with jitter; default 1 s
	RetryMax     time.Duration     // cap on a retry delay; default 5 min
	Grace        time.Duration     // how long Run waits for jobs in flight after ctx ends; default 30 s
	ReapInterval time.Duration     // how often expired leases are returned; default 1 s
	Logger       *slog.Logger      // nil: slog.Default()
	Clock        clock.Clock       // nil: the system clock
}

// Worker drains one queue. Run it once.
type Worker struct {
	st      store.Queues
	cfg     WorkerConfig
	handler Handler
	stats   WorkerStats
}

// WorkerStats counts a worker's job outcomes.
type WorkerStats struct {
	Done, Retried, Buried, LeasesLost, StaleAcks, HandedBack, Reaped atomic.Int64
}

// NewWorker validates cfg.
func NewWorker(st store.Queues, cfg WorkerConfig, h Handler) (*Worker, error) {
	if cfg.Queue == "" {
		return nil, errors.New("weir/queue: WorkerConfig.Queue is required")
	}
	set := func(d *time.Duration, def time.Duration) {
		if *d == 0 {
			*d = def
		}
	}
	if cfg.Concurrency == 0 {
		cfg.Concurrency = DefaultConcurrency
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	set(&cfg.Lease, DefaultLease)
	set(&cfg.RetryBase, DefaultRetryBase)
	set(&cfg.RetryMax, DefaultRetryMax)
	set(&cfg.Grace, DefaultGrace)
	set(&cfg.ReapInterval, DefaultReapInterval)
	switch {
	case cfg.Concurrency < 1:
		return nil, fmt.Errorf("weir/queue: WorkerConfig.Concurrency must be ≥ 1, got %d", cfg.Concurrency)
	case cfg.MaxAttempts < 1:
		return nil, fmt.Errorf("weir/queue: WorkerConfig.MaxAttempts must be ≥ 1, got %d", cfg.MaxAttempts)
	case cfg.Lease < 3*time.Millisecond || cfg.Lease > store.MaxLease:
		return nil, fmt.Errorf("weir/queue: WorkerConfig.Lease must be in [3ms, %v], got %v", store.MaxLease, cfg.Lease)
	case cfg.RetryBase < 0 || cfg.RetryMax < cfg.RetryBase:
		return nil, fmt.Errorf("weir/queue: WorkerConfig.RetryMax (%v) must be ≥ RetryBase (%v) ≥ 0", cfg.RetryMax, cfg.RetryBase)
	case cfg.Grace < 0 || cfg.ReapInterval < 0:
		return nil, errors.New("weir/queue: WorkerConfig.Grace and ReapInterval must be ≥ 0")
	}
	p := cfg.Policy.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, fmt.Errorf("weir/queue: WorkerConfig.Policy: %w", err)
	}
	cfg.Policy = p
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if h == nil {
		return nil, errors.New("weir/queue: nil handler")
	}
	return &Worker{st: st, cfg: cfg, handler: h}, nil
}

// Stats returns the worker's counters.
func (w *Worker) Stats() *WorkerStats { return &w.stats }

// Run drains the queue until ctx ends. Then it takes no more jobs, lets the jobs in flight finish
// within the grace period, hands back the ones that do not (to be delivered again at once), and
// returns.
func (w *Worker) Run(ctx context.Context) error {
	// Jobs run under their own context: the stop signal must not cut a job short, the end of
	// the grace period must.
	work, stopWork := context.WithCancel(context.WithoutCancel(ctx))
	defer stopWork()
	var wg sync.WaitGroup
	for range w.cfg.Concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w.loop(ctx, work)
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		w.reap(ctx)
	}()

	<-ctx.Done()
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	t := w.cfg.Clock.NewTimer(w.cfg.Grace)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C():
		stopWork() // jobs still running are handed back by their loops
		<-finished
	}
	return nil
}

func (w *Worker) loop(ctx, work context.Context) {
	// next is a job leased along with the last one's ack (a store.AckDequeuer): it runs even when
	// ctx ended meanwhile, as a job dequeued just before the stop would.
	var next *store.Lease
	for next != nil || ctx.Err() == nil {
		if next != nil {
			l := *next
			next = w.run(ctx, work, l)
			continue
		}
		l, ok, err := w.st.Dequeue(work, w.cfg.Queue, w.cfg.Lease)
		if err != nil {
			w.cfg.Logger.Warn("weir: dequeue failed", "queue", w.cfg.Queue, "error", err)
			w.pause(ctx, time.Second)
			continue
		}
		if !ok {
			if err := w.st.WaitReady(ctx, w.cfg.Queue, time.Second); err != nil && ctx.Err() == nil {
				w.pause(ctx, time.Second)
			}
			continue
		}
		next = w.run(ctx, work, l)
	}
}

func (w *Worker) pause(ctx context.Context, d time.Duration) {
	t := w.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C():
	}
}

// run executes one job under heartbeats and records its outcome with the lease's token. When
// the job succeeded, the store is a store.AckDequeuer and ctx has not ended, the ack also leases
// the next job, which run returns (nil otherwise).
func (w *Worker) run(ctx, work context.Context, l store.Lease) (next *store.Lease) {
	jctx, cancel := context.WithCancel(work)
	defer cancel()
	var lost atomic.Bool
	hbDone := make(chan struct{})
	go func() {
		defer close(hbDone)
		w.heartbeat(jctx, l, &lost, cancel)
	}()
	result, err := w.handler(jctx, l)
	cancel()
	<-hbDone

	// Record the outcome even when the worker is stopping: a finished job must not run again.
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(work), 10*time.Second)
	defer rcancel()
	q, log := w.cfg.Queue, w.cfg.Logger
	switch {
	case lost.Load():
		w.stats.LeasesLost.Add(1)
		log.Warn("weir: lease lost; the job's new owner records its outcome", "queue", q, "job", l.ID)
		return
	case work.Err() != nil && err != nil:
		// The grace period ended mid-job: hand the job back for another worker, at once.
		if rerr := w.st.Retry(rctx, q, l.ID, l.Token, w.cfg.Clock.Now(), "handed back at shutdown"); rerr == nil {
			w.stats.HandedBack.Add(1)
		}
		return
	case err == nil:
		next, err = w.ack(ctx, rctx, l, result)
		if errors.Is(err, store.ErrLeaseLost) {
			w.stats.StaleAcks.Add(1)
			log.Warn("weir: stale ack ignored", "queue", q, "job", l.ID)
			return next
		}
		if err == nil {
			w.stats.Done.Add(1)
		}
	default:
		var perm *permanentError
		if errors.As(err, &perm) || l.Attempt >= w.cfg.MaxAttempts {
			reason := errorText(err)
			err = w.st.Bury(rctx, q, w.cfg.Policy, l.ID, l.Token, reason)
			if err == nil {
				w.stats.Buried.Add(1)
				log.Warn("weir: job buried", "queue", q, "job", l.ID, "attempts", l.Attempt, "error", reason)
			}
			break
		}
		delay := w.backoff(l.Attempt)
		if wait, ok := retryDelay(err); ok {
			delay = max(delay, wait)
		}
		msg := errorText(err)
		err = w.st.Retry(rctx, q, l.ID, l.Token, w.cfg.Clock.Now().Add(delay), msg)
		if err == nil {
			w.stats.Retried.Add(1)
		}
	}
	if err != nil {
		log.Warn("weir: recording a job's outcome failed", "queue", q, "job", l.ID, "error", err)
	}
	return next
}

// ack records a job's success under rctx and, when the store is a store.AckDequeuer and ctx has
// not ended, leases the next job in the same round trip. It returns the ack's error; a failed
// lease is logged, and the loop then dequeues as usual.
func (w *Worker) ack(ctx, rctx context.Context, l store.Lease, result []byte) (*store.Lease, error) {
	ad, ok := w.st.(store.AckDequeuer)
	if !ok || ctx.Err() != nil {
		return nil, w.st.Ack(rctx, w.cfg.Queue, w.cfg.Policy, l.ID, l.Token, result)
	}
	nl, got, err := ad.AckDequeue(rctx, w.cfg.Queue, w.cfg.Policy, l.ID, l.Token, result, w.cfg.Lease)
	var ackErr *store.AckError
	if err != nil && !errors.As(err, &ackErr) {
		w.cfg.Logger.Warn("weir: dequeue failed", "queue", w.cfg.Queue, "error", err)
		return nil, nil // the ack was recorded
	}
	if !got {
		return nil, err
	}
	return &nl, err
}

// heartbeat extends the lease every third of it; when the lease is lost it cancels the job.
func (w *Worker) heartbeat(ctx context.Context, l store.Lease, lost *atomic.Bool, cancel context.CancelFunc) {
	for {
		t := w.cfg.Clock.NewTimer(w.cfg.Lease / 3)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C():
		}
		_, err := w.st.Extend(ctx, w.cfg.Queue, l.ID, l.Token, w.cfg.Lease)
		if errors.Is(err, store.ErrLeaseLost) {
			lost.Store(true)
			cancel()
			return
		}
		if err != nil && ctx.Err() == nil {
			w.cfg.Logger.Warn("weir: heartbeat failed", "queue", w.cfg.Queue, "job", l.ID, "error", err)
		}
	}
}

// MaxErrorText bounds the text of a job's error kept in the store (its last error, a dead job's
// reason) and logged: part of it may come from the upstream.
const MaxErrorText = 1024

// errorText is err's text, cut to MaxErrorText bytes on a rune boundary.
func errorText(err error) string {
	s := err.Error()
	if len(s) <= MaxErrorText {
		return s
	}
	const more = " …(cut)"
	cut := MaxErrorText - len(more)
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + more
}

// backoff is the delay before the attempt after attempt: RetryBase doubled per attempt (30 times
// at most), capped at RetryMax, with full jitter over [0, delay].
func (w *Worker) backoff(attempt int) time.Duration {
	d := backoff.Exponential(w.cfg.RetryBase, w.cfg.RetryMax, 2, min(attempt, 31))
	return time.Duration(rand.Int64N(int64(d) + 1))
}

// reap returns expired leases now and then, from every worker: whoever comes first does it.
func (w *Worker) reap(ctx context.Context) {
	for ctx.Err() == nil {
		if n, err := w.st.Reap(ctx, w.cfg.Queue); err == nil && n > 0 {
			w.stats.Reaped.Add(int64(n))
			w.cfg.Logger.Info("weir: expired leases returned", "queue", w.cfg.Queue, "jobs", n)
		}
		w.pause(ctx, w.cfg.ReapInterval)
	}
}
