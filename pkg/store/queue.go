package store

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"
)

var (
	// ErrQueueFull means the queue already holds MaxLen jobs.
	ErrQueueFull = errors.New("weir/store: queue full")
	// ErrLeaseLost means the caller no longer holds the job: its lease expired and the job went
	// back to the queue (or to another worker), or the job was finished already. The caller must
	// not record an outcome; the job's current owner will.
	ErrLeaseLost = errors.New("weir/store: lease lost")
	// ErrNotFound means no such job (or no such result: unknown, or expired).
	ErrNotFound = errors.New("weir/store: not found")
)

// Defaults of QueuePolicy's zero fields.
const (
	DefaultMaxLen         = 100_000
	DefaultMaxPayload     = 1 << 20
	DefaultResultTTL      = 24 * time.Hour
	DefaultIdempotencyTTL = 24 * time.Hour
	DefaultMaxDead        = 10_000
	// MaxPriority bounds priorities (0 to MaxPriority), so that a score holds priority and order
	// exactly.
	MaxPriority = 1_000_000
)

// QueuePolicy is a queue's bounds. Like a breaker's policy it travels with every call; zero
// fields mean the defaults. It is a value and safe to copy.
type QueuePolicy struct {
	// MaxLen bounds the jobs a queue holds (ready, delayed and in flight); one more enqueue fails
	// with ErrQueueFull. Default 100,000.
	MaxLen int
	// MaxPayload bounds a job's payload in bytes. Default 1 MiB.
	MaxPayload int
	// ResultTTL is how long a finished job's result is kept. Default 24 h, at most MaxTTL.
	ResultTTL time.Duration
	// IdempotencyTTL is how long an idempotency key keeps returning its job's id. Default 24 h,
	// at most MaxTTL.
	IdempotencyTTL time.Duration
	// MaxDead bounds the dead-letter set: the oldest dead jobs are dropped beyond it.
	// Default 10,000.
	MaxDead int
}

// WithDefaults returns p with its zero fields replaced by the defaults.
func (p QueuePolicy) WithDefaults() QueuePolicy {
	if p.MaxLen == 0 {
		p.MaxLen = DefaultMaxLen
	}
	if p.MaxPayload == 0 {
		p.MaxPayload = DefaultMaxPayload
	}
	if p.ResultTTL == 0 {
		p.ResultTTL = DefaultResultTTL
	}
	if p.IdempotencyTTL == 0 {
		p.IdempotencyTTL = DefaultIdempotencyTTL
	}
	if p.MaxDead == 0 {
		p.MaxDead = DefaultMaxDead
	}
	return p
}

// Validate checks a policy after WithDefaults. The error wraps ErrInvalid and names the field.
func (p QueuePolicy) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: queue policy: %s must be %s, got %v", ErrInvalid, field, want, v)
	}
	switch {
	case p.MaxLen < 1:
		return bad("MaxLen", p.MaxLen, "≥ 1")
	case p.MaxPayload < 1:
		return bad("MaxPayload", p.MaxPayload, "≥ 1")
	case p.ResultTTL < time.Millisecond || p.ResultTTL > MaxTTL:
		return bad("ResultTTL", p.ResultTTL, fmt.Sprintf("in [1ms, %v]", MaxTTL))
	case p.IdempotencyTTL < time.Millisecond || p.IdempotencyTTL > MaxTTL:
		return bad("IdempotencyTTL", p.IdempotencyTTL, fmt.Sprintf("in [1ms, %v]", MaxTTL))
	case p.MaxDead < 1:
		return bad("MaxDead", p.MaxDead, "≥ 1")
	}
	return nil
}

// NewJob is what a producer enqueues.
type NewJob struct {
	// ID names the job; empty means the store assigns one. A chosen one is a name (see
	// ValidateName).
	ID string
	// Priority orders the queue: higher first, FIFO within a priority. 0 to MaxPriority.
	Priority int
	// Payload is opaque to the store.
	Payload []byte
	// Delay keeps the job out of reach until it has passed. 0 to MaxDelay.
	Delay time.Duration
	// IdempotencyKey, when set, makes a repeated enqueue return the first job's id. It is a name
	// (see ValidateName).
	IdempotencyKey string
}

// Job is a job as the store keeps it.
type Job struct {
	ID         string
	Priority   int
	Payload    []byte
	Attempt    int       // deliveries so far, this one included once dequeued
	EnqueuedAt time.Time // on the store's clock
	LastError  string    // what the previous attempt reported, if it was retried
}

// Lease is a dequeued job and the proof of holding it: the fencing token that every later
// call about the job must present.
type Lease struct {
	Job
	Token    int64
	Deadline time.Time // the lease runs out then, on the store's clock, unless extended
}

// Result is a finished job's outcome, kept for the policy's ResultTTL.
type Result struct {
	ID       string
	Dead     bool   // buried rather than acked
	Body     []byte // what Ack stored; empty for a dead job
	Reason   string // why a dead job was buried
	Attempts int
}

// QueueStats is a queue's shape at one instant.
type QueueStats struct {
	Ready    map[int]int // ready jobs by priority
	InFlight int
	Delayed  int
	Dead     int
}

// Queues is the durable priority queue: strict priority, FIFO within a priority, at-least-once
// delivery under leases. Each method is one atomic step. A queue's name is a name (see
// ValidateName).
type Queues interface {
	// Enqueue adds a job and returns its id; with an idempotency key already seen it returns the
	// existing job's id and existed true, adding nothing.
	Enqueue(ctx context.Context, queue string, p QueuePolicy, job NewJob) (id string, existed bool, err error)
	// Dequeue moves due delayed jobs to ready, then hands out the best ready job under a lease
	// of the given length (at most MaxLease): highest priority first, then the oldest. ok is
	// false when nothing is ready.
	Dequeue(ctx context.Context, queue string, lease time.Duration) (l Lease, ok bool, err error)
	// Extend pushes the lease's deadline to now + lease; ErrLeaseLost if the token is stale.
	Extend(ctx context.Context, queue, id string, token int64, lease time.Duration) (time.Time, error)
	// Ack finishes the job with a result; ErrLeaseLost if the token is stale. Acking again with
	// the same token after success is harmless (nil).
	Ack(ctx context.Context, queue string, p QueuePolicy, id string, token int64, result []byte) error
	// Retry puts the job back to be delivered again at the given time, noting why; a time more
	// than MaxDelay away counts as MaxDelay from now.
	Retry(ctx context.Context, queue, id string, token int64, at time.Time, lastErr string) error
	// Bury moves the job to the capped dead-letter set with a reason, and keeps a dead result.
	Bury(ctx context.Context, queue string, p QueuePolicy, id string, token int64, reason string) error
	// Reap returns every job whose lease has run out to the front of its priority, and reports
	// how many.
	Reap(ctx context.Context, queue string) (int, error)
	// Result returns a finished job's result, ErrNotFound when there is none (yet, or any more).
	Result(ctx context.Context, queue, id string) (Result, error)
	// QueueStats reports the queue's depth by priority, in flight, delayed and dead.
	QueueStats(ctx context.Context, queue string) (QueueStats, error)
	// Dead lists up to n dead jobs, oldest first.
	Dead(ctx context.Context, queue string, n int) ([]Job, error)
	// Requeue moves a dead job back to ready, with its attempts reset. It counts against MaxLen
	// again: into a full queue the job stays dead, with ErrQueueFull.
	Requeue(ctx context.Context, queue string, p QueuePolicy, id string) error
	// WaitReady blocks until a job may be ready in queue (an enqueue or a retry happened) or
	// the timeout passes, so that idle workers do not poll. It may return early.
	WaitReady(ctx context.Context, queue string, timeout time.Duration) error
}

// EnqueueResult is one job's answer in a batch enqueue.
type EnqueueResult struct {
	ID      string
	Existed bool
	Err     error
}

// BatchEnqueuer is implemented by stores that can enqueue many jobs in one round trip; a
// producer uses it when the store offers it.
type BatchEnqueuer interface {
	// EnqueueBatch enqueues jobs in order, each one succeeding or failing on its own as Enqueue
	// would (a bad job, a full queue), with its answer in the result of the same index. The error
	// is the batch's as a whole: a bad policy or queue name, the store closed or unreachable.
	EnqueueBatch(ctx context.Context, queue string, p QueuePolicy, jobs []NewJob) ([]EnqueueResult, error)
}

// AckDequeuer is implemented by stores that can ack a job and lease the next in one step. A
// worker does both in turn, so with such a store it makes one round trip a job instead of two.
type AckDequeuer interface {
	// AckDequeue is Ack, then Dequeue. An *AckError means the ack was not recorded; the lease
	// may still have been handed out (a stale token fails the ack alone), and then l and ok
	// report it and the job is the caller's to run. Any other error is the dequeue's, after the
	// ack was recorded.
	AckDequeue(ctx context.Context, queue string, p QueuePolicy, id string, token int64, result []byte, lease time.Duration) (l Lease, ok bool, err error)
}

// AckError is AckDequeue's error when the ack was not recorded: the lease was lost (ErrLeaseLost),
// or the whole call failed (bad input, the store closed or unreachable). Err is the ack's failure.
type AckError struct{ Err error }

func (e *AckError) Error() string {
	// Err mostly comes from this package already: its prefix is not repeated.
	return "weir/store: ack: " + strings.TrimPrefix(e.Err.Error(), "weir/store: ")
}

func (e *AckError) Unwrap() error { return e.Err }
