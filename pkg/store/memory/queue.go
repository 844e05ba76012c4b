package memory

import (
	"container/heap"
	"context"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/store"
)

// queue is one named queue. Ready jobs sit in a heap ordered like the Redis store's sorted set:
// priority first, then jobs returned by the reaper, then enqueue order.
type queue struct {
	ready    readyHeap
	jobs     map[string]*qjob
	inflight map[string]*qjob
	delayed  map[string]*qjob
	dead     []string // ids, oldest first
	results  map[string]qresult
	idem     map[string]idemEntry
	wake     chan struct{} // closed and replaced when a job may have become ready
	watched  bool          // someone holds wake: only then is it worth closing
	seq      int64
	token    int64
	finished int // since the last sweep of expired results and idempotency keys
}

// sweepAfter is how many finished jobs pass between sweeps of expired results and keys.
const sweepAfter = 1024

type qjob struct {
	store.Job
	seq      int64
	front    bool  // returned by the reaper: ahead of its priority
	token    int64 // the current lease's
	deadline int64 // µs: lease deadline, or due time while delayed
	index    int   // in the ready heap, -1 elsewhere
	deadAt   int64
}

type qresult struct {
	store.Result
	token   int64
	expires int64 // µs
}

type idemEntry struct {
	id      string
	expires int64 // µs
}

// queues holds the queues of a store, behind one lock: queue operations are short.
type queues struct {
	mu     sync.Mutex
	byName map[string]*queue
	ids    atomic.Int64
}

func (s *Store) queue(name string) *queue {
	q := s.queues.byName[name]
	if q == nil {
		q = &queue{jobs: map[string]*qjob{}, inflight: map[string]*qjob{}, delayed: map[string]*qjob{},
			results: map[string]qresult{}, idem: map[string]idemEntry{}, wake: make(chan struct{})}
		s.queues.byName[name] = q
	}
	return q
}

func (s *Store) lockQueue(ctx context.Context, name string) (*queue, int64, error) {
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return nil, 0, err
	}
	s.queues.mu.Lock()
	return s.queue(name), s.now(), nil
}

func (q *queue) signal() {
	if !q.watched {
		return
	}
	close(q.wake)
	q.wake, q.watched = make(chan struct{}), false
}

// Enqueue implements store.Queues.
func (s *Store) Enqueue(ctx context.Context, name string, p store.QueuePolicy, nj store.NewJob) (string, bool, error) {
	p = p.WithDefaults()
	if err := contract.ValidateJob(p, nj); err != nil {
		return "", false, err
	}
	q, now, err := s.lockQueue(ctx, name)
	if err != nil {
		return "", false, err
	}
	defer s.queues.mu.Unlock()
	return s.add(q, name, p, nj, now)
}

// EnqueueBatch implements store.BatchEnqueuer: every job is enqueued on its own, as Enqueue would,
// in one step under the queues' lock.
func (s *Store) EnqueueBatch(ctx context.Context, name string, p store.QueuePolicy, jobs []store.NewJob) ([]store.EnqueueResult, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	q, now, err := s.lockQueue(ctx, name)
	if err != nil {
		return nil, err
	}
	defer s.queues.mu.Unlock()
	out := make([]store.EnqueueResult, len(jobs))
	for i, nj := range jobs {
		r := &out[i]
		if r.Err = contract.ValidateJob(p, nj); r.Err == nil {
			r.ID, r.Existed, r.Err = s.add(q, name, p, nj, now)
		}
	}
	return out, nil
}

// add enqueues a valid job into q, under the queues' lock.
func (s *Store) add(q *queue, name string, p store.QueuePolicy, nj store.NewJob, now int64) (string, bool, error) {
	if nj.IdempotencyKey != "" {
		if e, ok := q.idem[nj.IdempotencyKey]; ok && e.expires > now {
			return e.id, true, nil
		}
	}
	if held := q.live(); held >= p.MaxLen {
		return "", false, fmt.Errorf("%w: queue %q holds %d jobs", store.ErrQueueFull, name, held)
	}
	id := nj.ID
	if id == "" {
		id = strconv.FormatInt(s.queues.ids.Add(1), 36) + "-" + strconv.FormatInt(now, 36)
	}
	if _, dup := q.jobs[id]; dup {
		return "", false, fmt.Errorf("%w: queue %q: job id %q already in use", store.ErrInvalid, name, id)
	}
	q.seq++
	j := &qjob{Job: store.Job{ID: id, Priority: nj.Priority, Payload: append([]byte(nil), nj.Payload...),
		EnqueuedAt: time.UnixMicro(now)}, seq: q.seq, index: -1}
	q.jobs[id] = j
	if nj.IdempotencyKey != "" {
		q.idem[nj.IdempotencyKey] = idemEntry{id: id, expires: now + p.IdempotencyTTL.Microseconds()}
	}
	if nj.Delay > 0 {
		j.deadline = now + ceilMicrosOf(nj.Delay)
		q.delayed[id] = j
	} else {
		heap.Push(&q.ready, j)
	}
	q.signal()
	return id, false, nil
}

func ceilMicrosOf(d time.Duration) int64 { return int64((d + time.Microsecond - 1) / time.Microsecond) }

// live counts the jobs the queue holds against MaxLen: ready, delayed and in flight (every job
// known but the dead).
func (q *queue) live() int { return len(q.jobs) - len(q.dead) }

// promote moves due delayed jobs to ready.
func (q *queue) promote(now int64) {
	for id, j := range q.delayed {
		if j.deadline <= now {
			delete(q.delayed, id)
			heap.Push(&q.ready, j)
		}
	}
}

// Dequeue implements store.Queues.
func (s *Store) Dequeue(ctx context.Context, name string, lease time.Duration) (store.Lease, bool, error) {
	if err := contract.ValidateLease(lease); err != nil {
		return store.Lease{}, false, err
	}
	q, now, err := s.lockQueue(ctx, name)
	if err != nil {
		return store.Lease{}, false, err
	}
	defer s.queues.mu.Unlock()
	l, ok := q.lease(now, lease)
	return l, ok, nil
}

// lease promotes due jobs and hands out the best ready one, under the queues' lock.
func (q *queue) lease(now int64, lease time.Duration) (store.Lease, bool) {
	q.promote(now)
	if len(q.ready) == 0 {
		return store.Lease{}, false
	}
	j := heap.Pop(&q.ready).(*qjob)
	j.front = false
	j.Attempt++
	q.token++
	j.token = q.token
	j.deadline = now + ceilMicrosOf(lease)
	q.inflight[j.ID] = j
	return store.Lease{Job: copyJob(j.Job), Token: j.token, Deadline: time.UnixMicro(j.deadline)}, true
}

func copyJob(j store.Job) store.Job {
	j.Payload = append([]byte(nil), j.Payload...)
	return j
}

// held returns the in-flight job id if token still holds it.
func (q *queue) held(id string, token int64) (*qjob, error) {
	j := q.inflight[id]
	if j == nil || j.token != token {
		return nil, fmt.Errorf("%w: job %q, token %d", store.ErrLeaseLost, id, token)
	}
	return j, nil
}

// Extend implements store.Queues.
func (s *Store) Extend(ctx context.Context, name, id string, token int64, lease time.Duration) (time.Time, error) {
	if err := contract.ValidateLease(lease); err != nil {
		return time.Time{}, err
	}
	var deadline time.Time
	err := s.withHeld(ctx, name, id, token, func(q *queue, j *qjob, now int64) {
		j.deadline = now + ceilMicrosOf(lease)
		deadline = time.UnixMicro(j.deadline)
	})
	return deadline, err
}

// withHeld runs fn on the in-flight job that token still holds, under the queues' lock; a stale
// token is store.ErrLeaseLost.
func (s *Store) withHeld(ctx context.Context, name, id string, token int64, fn func(q *queue, j *qjob, now int64)) error {
	q, now, err := s.lockQueue(ctx, name)
	if err != nil {
		return err
	}
	defer s.queues.mu.Unlock()
	j, err := q.held(id, token)
	if err != nil {
		return err
	}
	fn(q, j, now)
	return nil
}

// finish removes a held job and keeps its result.
func (q *queue) finish(j *qjob, r store.Result, token, now, expires int64) {
	delete(q.inflight, j.ID)
	delete(q.jobs, j.ID)
	r.ID, r.Attempts = j.ID, j.Attempt
	q.results[j.ID] = qresult{Result: r, token: token, expires: expires}
	q.sweep(now)
}

// sweep forgets expired results and idempotency keys now and then, so that memory stays bounded
// by what the policy's TTLs keep; expired entries are also ignored where they are read.
func (q *queue) sweep(now int64) {
	if q.finished++; q.finished < sweepAfter {
		return
	}
	q.finished = 0
	for id, r := range q.results {
		if r.expires <= now {
			delete(q.results, id)
		}
	}
	for k, e := range q.idem {
		if e.expires <= now {
			delete(q.idem, k)
		}
	}
}

// Ack implements store.Queues.
func (s *Store) Ack(ctx context.Context, name string, p store.QueuePolicy, id string, token int64, result []byte) error {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return err
	}
	q, now, err := s.lockQueue(ctx, name)
	if err != nil {
		return err
	}
	defer s.queues.mu.Unlock()
	return q.ack(p, id, token, result, now)
}

// ack finishes a held job with its result, under the queues' lock.
func (q *queue) ack(p store.QueuePolicy, id string, token int64, result []byte, now int64) error {
	j, err := q.held(id, token)
	if err != nil {
		if r, ok := q.results[id]; ok && r.token == token && !r.Dead && r.expires > now {
			return nil // the same ack again
		}
		return err
	}
	q.finish(j, store.Result{Body: append([]byte(nil), result...)}, token, now, now+p.ResultTTL.Microseconds())
	return nil
}

// AckDequeue implements store.AckDequeuer: Ack, then Dequeue, in one step under the queues' lock.
func (s *Store) AckDequeue(ctx context.Context, name string, p store.QueuePolicy, id string, token int64, result []byte, lease time.Duration) (store.Lease, bool, error) {
	fail := func(err error) (store.Lease, bool, error) { return store.Lease{}, false, &store.AckError{Err: err} }
	p, err := contract.AckDequeuePolicy(p, lease)
	if err != nil {
		return fail(err)
	}
	q, now, err := s.lockQueue(ctx, name)
	if err != nil {
		return fail(err)
	}
	defer s.queues.mu.Unlock()
	ackErr := q.ack(p, id, token, result, now)
	l, ok := q.lease(now, lease)
	if ackErr != nil {
		return l, ok, &store.AckError{Err: ackErr}
	}
	return l, ok, nil
}

// Retry implements store.Queues.
func (s *Store) Retry(ctx context.Context, name, id string, token int64, at time.Time, lastErr string) error {
	return s.withHeld(ctx, name, id, token, func(q *queue, j *qjob, now int64) {
		delete(q.inflight, id)
		j.LastError = lastErr
		if due := min(contract.UnixMicroUp(at), now+store.MaxDelay.Microseconds()); due > now {
			j.deadline = due
			q.delayed[id] = j
		} else {
			heap.Push(&q.ready, j)
		}
		q.signal()
	})
}

// Bury implements store.Queues.
func (s *Store) Bury(ctx context.Context, name string, p store.QueuePolicy, id string, token int64, reason string) error {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return err
	}
	return s.withHeld(ctx, name, id, token, func(q *queue, j *qjob, now int64) {
		delete(q.inflight, id)
		j.LastError, j.deadAt = reason, now
		q.dead = append(q.dead, id)
		q.results[id] = qresult{Result: store.Result{ID: id, Dead: true, Reason: reason, Attempts: j.Attempt},
			token: token, expires: now + p.ResultTTL.Microseconds()}
		for len(q.dead) > p.MaxDead {
			delete(q.jobs, q.dead[0])
			q.dead = q.dead[1:]
		}
	})
}

// Reap implements store.Queues.
func (s *Store) Reap(ctx context.Context, name string) (int, error) {
	q, now, err := s.lockQueue(ctx, name)
	if err != nil {
		return 0, err
	}
	defer s.queues.mu.Unlock()
	n := 0
	for id, j := range q.inflight {
		if j.deadline <= now {
			delete(q.inflight, id)
			j.front = true
			heap.Push(&q.ready, j)
			n++
		}
	}
	if n > 0 {
		q.signal()
	}
	return n, nil
}

// Result implements store.Queues.
func (s *Store) Result(ctx context.Context, name, id string) (store.Result, error) {
	q, now, err := s.lockQueue(ctx, name)
	if err != nil {
		return store.Result{}, err
	}
	defer s.queues.mu.Unlock()
	r, ok := q.results[id]
	if !ok || r.expires <= now {
		delete(q.results, id)
		return store.Result{}, fmt.Errorf("%w: no result for job %q", store.ErrNotFound, id)
	}
	res := r.Result
	res.Body = append([]byte(nil), res.Body...)
	return res, nil
}

// QueueStats implements store.Queues.
func (s *Store) QueueStats(ctx context.Context, name string) (store.QueueStats, error) {
	q, _, err := s.lockQueue(ctx, name)
	if err != nil {
		return store.QueueStats{}, err
	}
	defer s.queues.mu.Unlock()
	st := store.QueueStats{Ready: map[int]int{}, InFlight: len(q.inflight), Delayed: len(q.delayed), Dead: len(q.dead)}
	for _, j := range q.ready {
		st.Ready[j.Priority]++
	}
	return st, nil
}

// Dead implements store.Queues.
func (s *Store) Dead(ctx context.Context, name string, n int) ([]store.Job, error) {
	q, _, err := s.lockQueue(ctx, name)
	if err != nil {
		return nil, err
	}
	defer s.queues.mu.Unlock()
	out := []store.Job{}
	for _, id := range q.dead {
		if len(out) >= n {
			break
		}
		out = append(out, copyJob(q.jobs[id].Job))
	}
	return out, nil
}

// Requeue implements store.Queues. The job counts against MaxLen again: into a full queue it
// stays dead, with ErrQueueFull.
func (s *Store) Requeue(ctx context.Context, name string, p store.QueuePolicy, id string) error {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return err
	}
	q, _, err := s.lockQueue(ctx, name)
	if err != nil {
		return err
	}
	defer s.queues.mu.Unlock()
	for i, d := range q.dead {
		if d == id {
			if held := q.live(); held >= p.MaxLen {
				return fmt.Errorf("%w: queue %q holds %d jobs: dead job %q stays dead", store.ErrQueueFull, name, held, id)
			}
			q.dead = append(q.dead[:i:i], q.dead[i+1:]...)
			j := q.jobs[id]
			j.Attempt, j.front = 0, false
			delete(q.results, id)
			heap.Push(&q.ready, j)
			q.signal()
			return nil
		}
	}
	return fmt.Errorf("%w: no dead job %q", store.ErrNotFound, id)
}

// WaitReady implements store.Queues.
func (s *Store) WaitReady(ctx context.Context, name string, timeout time.Duration) error {
	q, _, err := s.lockQueue(ctx, name)
	if err != nil {
		return err
	}
	wake := q.wake
	q.watched = true
	ready := len(q.ready) > 0
	s.queues.mu.Unlock()
	if ready {
		return nil
	}
	t := s.clock.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-wake:
	case <-t.C():
	case <-ctx.Done():
		return ctx.Err()
	}
	return nil
}

// readyHeap orders ready jobs: higher priority, then reaped jobs, then enqueue order.
type readyHeap []*qjob

func (h readyHeap) Len() int { return len(h) }
func (h readyHeap) Less(i, j int) bool {
	a, b := h[i], h[j]
	if a.Priority != b.Priority {
		return a.Priority > b.Priority
	}
	if a.front != b.front {
		return a.front
	}
	return a.seq < b.seq
}
func (h readyHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *readyHeap) Push(x any) {
	j := x.(*qjob)
	j.index = len(*h)
	*h = append(*h, j)
}
func (h *readyHeap) Pop() any {
	old := *h
	j := old[len(old)-1]
	old[len(old)-1] = nil
	j.index = -1
	*h = old[:len(old)-1]
	return j
}

var _ store.Queues = (*Store)(nil)
