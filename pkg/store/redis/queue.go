package redis

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
)

var _ store.Queues = (*Store)(nil)

const (
	// promoteBatch bounds the delayed jobs one script call of Dequeue promotes, earliest due
	// first, so that a backlog of due jobs cannot make one call long: Dequeue calls again after
	// a full batch, and hands out a job only once every due job is ready.
	promoteBatch = 100
	// reapBatch bounds the expired leases one script call returns; Reap calls again while a
	// call returns a full batch.
	reapBatch = 100
	// wakeMarkers bounds the wake list: markers pile up only while no worker waits, and each
	// one left over costs one early return of WaitReady.
	wakeMarkers = 16
	// waitSlice is how long one BLPOP of WaitReady blocks: the shortest timeout go-redis sends
	// (whole seconds), and how long a wait abandoned by its caller may linger.
	waitSlice = time.Second
	// maxMicros is the largest time in µs the scripts hold exactly (Lua numbers are doubles).
	maxMicros = 1<<53 - 1
	// maxDelay bounds a delay in µs, so that now + delay stays exact: about 142 years.
	maxDelay = 1 << 52
)

// Enqueue implements store.Queues.
func (s *Store) Enqueue(ctx context.Context, name string, p store.QueuePolicy, nj store.NewJob) (string, bool, error) {
	p = p.WithDefaults()
	if err := store.ValidateJob(p, nj); err != nil {
		return "", false, err
	}
	if err := s.check(ctx, name); err != nil {
		return "", false, err
	}
	keys, args := s.enqueueCall(name, p, nj)
	v, err := s.runQueue(ctx, lua.QueueEnqueue, keys, args...)
	return s.enqueueReply(ctx, name, nj, v, err)
}

// enqueueCall is queue_enqueue.lua's keys and arguments for one job.
func (s *Store) enqueueCall(name string, p store.QueuePolicy, nj store.NewJob) ([]string, []any) {
	idem := 0
	if nj.IdempotencyKey != "" {
		idem = 1
	}
	keys := append(s.queueKeys(name, qReady, qMeta, qPayload, qDelayed, qInflight, qDepth, qCounters, qWake),
		s.idemKey(name, nj.IdempotencyKey))
	return keys, []any{s.nowArg(), nj.ID, idSuffix(), nj.Priority,
		min(ceilMicros(nj.Delay), maxDelay), idem, p.IdempotencyTTL.Microseconds(), p.MaxLen, nj.Payload, wakeMarkers}
}

// enqueueReply reads queue_enqueue.lua's answer.
func (s *Store) enqueueReply(ctx context.Context, name string, nj store.NewJob, v any, err error) (string, bool, error) {
	if err != nil {
		switch code, rest := replyCode(err); code {
		case "QUEUEFULL":
			return "", false, fmt.Errorf("%w: queue %q holds %s jobs", store.ErrQueueFull, name, rest)
		case "DUPID":
			return "", false, fmt.Errorf("%w: queue %q: job id %q already in use", store.ErrInvalid, name, nj.ID)
		}
		return "", false, s.wrap(ctx, err)
	}
	f, err := fields(v, 2)
	if err != nil {
		return "", false, err
	}
	return f[0], f[1] == "1", nil
}

// idSuffix makes assigned ids unique beyond the queue's sequence, which starts again if the
// queue's keys are deleted while old ids live on in callers' hands.
func idSuffix() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	var b [8]byte
	for i := range b {
		b[i] = digits[rand.IntN(len(digits))]
	}
	return string(b[:])
}

// ceilMicros rounds d up to whole µs: a lease or a delay never ends early.
func ceilMicros(d time.Duration) int64 { return int64((d + time.Microsecond - 1) / time.Microsecond) }

// Dequeue implements store.Queues.
func (s *Store) Dequeue(ctx context.Context, name string, lease time.Duration) (store.Lease, bool, error) {
	if lease <= 0 {
		return store.Lease{}, false, fmt.Errorf("%w: lease must be > 0, got %v", store.ErrInvalid, lease)
	}
	if err := s.check(ctx, name); err != nil {
		return store.Lease{}, false, err
	}
	keys := s.queueKeys(name, qReady, qMeta, qPayload, qLastErr, qDelayed, qInflight, qTokens, qDepth, qCounters, qWake)
	var (
		v        any
		err      error
		promoted = 0
	)
	for {
		v, err = s.runQueue(ctx, lua.QueueDequeue, keys, s.nowArg(), ceilMicros(lease), promoteBatch, wakeMarkers, promoted)
		if err != nil {
			return store.Lease{}, false, s.wrap(ctx, err)
		}
		if more, ok := v.(int64); !ok || more != 1 {
			break
		}
		promoted = 1 // a full batch of due jobs: promote the rest before choosing
	}
	f, err := fields(v, 0)
	if err != nil || len(f) == 0 {
		return store.Lease{}, false, err
	}
	if len(f) != 8 {
		return store.Lease{}, false, unexpected(v)
	}
	job, err := parseJob(f[:6])
	if err != nil {
		return store.Lease{}, false, err
	}
	n, err := parseInts(f[6], f[7])
	if err != nil {
		return store.Lease{}, false, err
	}
	return store.Lease{Job: job, Token: n[0], Deadline: time.UnixMicro(n[1])}, true, nil
}

// Extend implements store.Queues.
func (s *Store) Extend(ctx context.Context, name, id string, token int64, lease time.Duration) (time.Time, error) {
	if lease <= 0 {
		return time.Time{}, fmt.Errorf("%w: lease must be > 0, got %v", store.ErrInvalid, lease)
	}
	if err := s.check(ctx, name); err != nil {
		return time.Time{}, err
	}
	v, err := s.runQueue(ctx, lua.QueueExtend, s.queueKeys(name, qInflight, qTokens), s.nowArg(), id, token, ceilMicros(lease))
	if err != nil {
		return time.Time{}, s.leaseErr(ctx, err, id, token)
	}
	f, err := fields([]any{v}, 1)
	if err != nil {
		return time.Time{}, err
	}
	n, err := parseInts(f[0])
	if err != nil {
		return time.Time{}, err
	}
	return time.UnixMicro(n[0]), nil
}

// Ack implements store.Queues.
func (s *Store) Ack(ctx context.Context, name string, p store.QueuePolicy, id string, token int64, result []byte) error {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return err
	}
	return s.finish(ctx, name, "ack", id, token, result, 0, p)
}

// Retry implements store.Queues.
func (s *Store) Retry(ctx context.Context, name, id string, token int64, at time.Time, lastErr string) error {
	due := min(max(at.UnixMicro(), -maxMicros), maxMicros)
	return s.finish(ctx, name, "retry", id, token, lastErr, due, store.QueuePolicy{})
}

// Bury implements store.Queues.
func (s *Store) Bury(ctx context.Context, name string, p store.QueuePolicy, id string, token int64, reason string) error {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return err
	}
	return s.finish(ctx, name, "bury", id, token, reason, 0, p)
}

// finish runs queue_finish.lua for op; msg is the result body, the last error or the reason.
func (s *Store) finish(ctx context.Context, name, op, id string, token int64, msg any, due int64, p store.QueuePolicy) error {
	if err := s.check(ctx, name); err != nil {
		return err
	}
	keys := append(s.queueKeys(name, qReady, qMeta, qPayload, qLastErr, qDelayed, qInflight, qTokens, qDepth, qDead, qCounters, qWake),
		s.resultKey(name, id))
	_, err := s.runQueue(ctx, lua.QueueFinish, keys, s.nowArg(), op, id, token, msg, due,
		p.ResultTTL.Microseconds(), p.MaxDead, wakeMarkers)
	return s.leaseErr(ctx, err, id, token)
}

// leaseErr translates a script's LEASELOST reply into store.ErrLeaseLost.
func (s *Store) leaseErr(ctx context.Context, err error, id string, token int64) error {
	if code, _ := replyCode(err); code == "LEASELOST" {
		return fmt.Errorf("%w: job %q, token %d", store.ErrLeaseLost, id, token)
	}
	return s.wrap(ctx, err)
}

// Reap implements store.Queues.
func (s *Store) Reap(ctx context.Context, name string) (int, error) {
	if err := s.check(ctx, name); err != nil {
		return 0, err
	}
	keys := s.queueKeys(name, qReady, qMeta, qInflight, qTokens, qDepth, qWake)
	total := 0
	for {
		v, err := s.runQueue(ctx, lua.QueueReap, keys, s.nowArg(), reapBatch, wakeMarkers)
		if err != nil {
			return total, s.wrap(ctx, err)
		}
		n, ok := v.(int64)
		if !ok {
			return total, unexpected(v)
		}
		total += int(n)
		if n < reapBatch {
			return total, nil
		}
	}
}

// Result implements store.Queues.
func (s *Store) Result(ctx context.Context, name, id string) (store.Result, error) {
	if err := s.check(ctx, name); err != nil {
		return store.Result{}, err
	}
	v, err := s.runQueue(ctx, lua.QueueResult, []string{s.resultKey(name, id)}, s.nowArg())
	if err != nil {
		return store.Result{}, s.wrap(ctx, err)
	}
	f, err := fields(v, 0)
	if err != nil {
		return store.Result{}, err
	}
	if len(f) == 0 {
		return store.Result{}, fmt.Errorf("%w: no result for job %q", store.ErrNotFound, id)
	}
	if len(f) != 4 {
		return store.Result{}, unexpected(v)
	}
	n, err := parseInts(f[3])
	if err != nil {
		return store.Result{}, err
	}
	return store.Result{ID: id, Dead: f[0] == "1", Body: bytesOf(f[1]), Reason: f[2], Attempts: int(n[0])}, nil
}

// QueueStats implements store.Queues.
func (s *Store) QueueStats(ctx context.Context, name string) (store.QueueStats, error) {
	if err := s.check(ctx, name); err != nil {
		return store.QueueStats{}, err
	}
	v, err := s.runQueue(ctx, lua.QueueStats, s.queueKeys(name, qDepth, qInflight, qDelayed, qDead))
	if err != nil {
		return store.QueueStats{}, s.wrap(ctx, err)
	}
	f, err := fields(v, 3)
	if err != nil {
		return store.QueueStats{}, err
	}
	if len(f)%2 != 1 {
		return store.QueueStats{}, unexpected(v)
	}
	n, err := parseInts(f...)
	if err != nil {
		return store.QueueStats{}, err
	}
	st := store.QueueStats{Ready: map[int]int{}, InFlight: int(n[0]), Delayed: int(n[1]), Dead: int(n[2])}
	for i := 3; i < len(n); i += 2 {
		if n[i+1] > 0 {
			st.Ready[int(n[i])] = int(n[i+1])
		}
	}
	return st, nil
}

// Dead implements store.Queues.
func (s *Store) Dead(ctx context.Context, name string, n int) ([]store.Job, error) {
	if err := s.check(ctx, name); err != nil {
		return nil, err
	}
	out := []store.Job{}
	if n <= 0 {
		return out, nil
	}
	v, err := s.runQueue(ctx, lua.QueueDead, s.deadKeys(name, ""), "list", n, wakeMarkers)
	if err != nil {
		return nil, s.wrap(ctx, err)
	}
	f, err := fields(v, 0)
	if err != nil {
		return nil, err
	}
	if len(f)%6 != 0 {
		return nil, unexpected(v)
	}
	for i := 0; i < len(f); i += 6 {
		j, err := parseJob(f[i : i+6])
		if err != nil {
			return nil, err
		}
		out = append(out, j)
	}
	return out, nil
}

// Requeue implements store.Queues. Like the memory store it does not count the job against
// MaxLen: it was held all along, in the dead-letter set.
func (s *Store) Requeue(ctx context.Context, name string, _ store.QueuePolicy, id string) error {
	if err := s.check(ctx, name); err != nil {
		return err
	}
	_, err := s.runQueue(ctx, lua.QueueDead, s.deadKeys(name, id), "requeue", id, wakeMarkers)
	if code, _ := replyCode(err); code == "NOTFOUND" {
		return fmt.Errorf("%w: no dead job %q", store.ErrNotFound, id)
	}
	return s.wrap(ctx, err)
}

func (s *Store) deadKeys(name, id string) []string {
	return append(s.queueKeys(name, qDead, qMeta, qPayload, qLastErr, qReady, qDepth, qWake), s.resultKey(name, id))
}

// WaitReady implements store.Queues. It returns at once when a job is ready; otherwise it blocks
// on the queue's wake list, where every enqueue, retry, reap and requeue leaves a marker, so that
// one new job wakes one idle worker and nobody polls.
//
// The BLPOP runs on a goroutine of its own, in slices of a second, so that WaitReady returns
// exactly when ctx ends or the timeout passes (go-redis cannot interrupt a blocked read, nor send
// a timeout shorter than a second); an abandoned wait ends within a slice and hands any marker it
// popped too late back to the list. go-redis gives the BLPOP its own pooled connection and
// extends its read timeout by the block time, so other callers are not held up and the client's
// ReadTimeout does not cut the wait short.
func (s *Store) WaitReady(ctx context.Context, name string, timeout time.Duration) error {
	if err := s.check(ctx, name); err != nil {
		return err
	}
	octx, cancel := s.opContext(ctx)
	n, err := s.rdb.ZCard(octx, s.queueKey(name, qReady)).Result()
	cancel()
	if err != nil {
		return s.wrap(ctx, err)
	}
	if n > 0 || timeout <= 0 {
		return nil
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return store.ErrClosed
	}
	s.wg.Add(1)
	s.mu.Unlock()
	woke, gone := make(chan error), make(chan struct{})
	go s.awaitWake(s.queueKey(name, qWake), woke, gone)
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-woke:
		return s.wrap(ctx, err)
	case <-t.C:
		close(gone)
		return nil
	case <-ctx.Done():
		close(gone)
		return ctx.Err()
	}
}

// awaitWake pops a marker from the wake list at key for a caller of WaitReady and hands it over
// on woke, or gives up once the caller has gone.
func (s *Store) awaitWake(key string, woke chan<- error, gone <-chan struct{}) {
	defer s.wg.Done()
	for {
		ctx, cancel := context.WithTimeout(context.Background(), waitSlice+s.timeout)
		err := s.rdb.BLPop(ctx, waitSlice, key).Err()
		cancel()
		if errors.Is(err, goredis.Nil) { // the slice passed without a marker
			if !s.closed.Load() {
				select {
				case <-gone:
					return
				default:
					continue
				}
			}
			err = nil // closed: let the caller go
		}
		select {
		case woke <- err:
		case <-gone:
			if err == nil { // popped after the caller left: the marker is someone else's
				ctx, cancel := context.WithTimeout(context.Background(), s.timeout)
				_ = s.rdb.LPush(ctx, key, "1").Err()
				cancel()
			}
		}
		return
	}
}

// runQueue runs one queue script, bounded by the store's timeout.
func (s *Store) runQueue(ctx context.Context, sc *lua.Script, keys []string, args ...any) (any, error) {
	octx, cancel := s.opContext(ctx)
	defer cancel()
	return sc.Run(octx, s.rdb, keys, args...).Result()
}

// replyCode returns the error code of a Redis error reply (its first word) and the rest of the
// message; "" for any other error.
func replyCode(err error) (code, rest string) {
	var rerr goredis.Error
	if !errors.As(err, &rerr) {
		return "", ""
	}
	code, rest, _ = strings.Cut(rerr.Error(), " ")
	return code, rest
}

// fields reads a script's array reply of strings (integers read as decimal strings).
func fields(v any, want int) ([]string, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < want {
		return nil, unexpected(v)
	}
	out := make([]string, len(arr))
	for i, x := range arr {
		switch x := x.(type) {
		case string:
			out[i] = x
		case int64:
			out[i] = strconv.FormatInt(x, 10)
		default:
			return nil, unexpected(v)
		}
	}
	return out, nil
}

func parseInts(f ...string) ([]int64, error) {
	out := make([]int64, len(f))
	for i, x := range f {
		n, err := strconv.ParseInt(x, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("weir/store/redis: unexpected number %q in a script reply", x)
		}
		out[i] = n
	}
	return out, nil
}

// parseJob reads id, priority, payload, attempt, enqueued_us, last_error.
func parseJob(f []string) (store.Job, error) {
	n, err := parseInts(f[1], f[3], f[4])
	if err != nil {
		return store.Job{}, err
	}
	return store.Job{ID: f[0], Priority: int(n[0]), Payload: bytesOf(f[2]), Attempt: int(n[1]),
		EnqueuedAt: time.UnixMicro(n[2]), LastError: f[5]}, nil
}

// bytesOf returns s as bytes; empty is nil, as the memory store keeps it.
func bytesOf(s string) []byte {
	if s == "" {
		return nil
	}
	return []byte(s)
}

func unexpected(v any) error {
	return fmt.Errorf("weir/store/redis: unexpected script reply %v", v)
}
