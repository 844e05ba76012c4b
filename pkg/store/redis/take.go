package redis

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
)

// The takes of one key are combined. A caller that finds fewer than takeInFlight script calls
// of its key on their way to Redis sends its own at once, on its own goroutine and under its own
// context, exactly as if nothing were combined. Callers that arrive while the line is full wait
// in it, and the next call of the key that returns takes the whole line (up to maxBatch) into one
// script call: one round trip serves every caller waiting, each take decided on its own, in
// arrival order, as successive calls would decide them.
//
// Two calls of one key may be on their way at once, so that Redis runs one while the store
// answers the other's callers and sends the next. They go on different connections and Redis may
// run them in either order; every take in both was waiting at the same moment, so either order is
// one that those callers' calls could have had. A take that returned before another began was
// decided first, and each call is atomic, all limits of a take charged or none: the buckets stay
// exact.

const (
	// takeInFlight bounds the script calls of one key on their way from one store at once.
	takeInFlight = 2
	// maxBatch bounds the takes decided by one script call.
	maxBatch = 256
	// maxSpares bounds the retired lines a store keeps for reuse.
	maxSpares = 64
)

// takeReq is one caller's Take waiting in line. Requests are reused (takeReqs): done is buffered
// so that answering never waits for the caller, and a request goes back to the pool only once
// its caller has received from done (never when the caller gave up, since an answer may still
// come).
type takeReq struct {
	ctx    context.Context
	limits []store.Limit
	n      int64
	d      store.Decision
	err    error
	done   chan struct{}
}

var takeReqs = sync.Pool{New: func() any { return &takeReq{done: make(chan struct{}, 1)} }}

// combiner is one key's line: busy counts the script calls of the key on their way, pending the
// takes waiting for one of them to return.
type combiner struct {
	busy    int
	pending []*takeReq
}

// Take implements store.Limiter.
func (s *Store) Take(ctx context.Context, key string, limits []store.Limit, n int64) (store.Decision, error) {
	if err := s.check(ctx, key); err != nil {
		return store.Decision{}, err
	}
	// As in the memory store: missing limits or a negative cost leave nothing to decide; a limit
	// that is invalid or too small for the cost is a refusal that no wait can change.
	if len(limits) == 0 {
		return store.Decision{}, fmt.Errorf("%w: key %q: no limits given", store.ErrInvalid, key)
	}
	if n < 0 {
		return store.Decision{}, fmt.Errorf("%w: key %q: cost must be ≥ 0, got %d", store.ErrInvalid, key, n)
	}
	if err := store.ValidateCost(key, limits, n); err != nil {
		return store.Decision{RetryAfter: store.Never}, err
	}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return store.Decision{}, store.ErrClosed
	}
	cb := s.combiners[key]
	if cb == nil {
		if k := len(s.spares); k > 0 {
			cb = s.spares[k-1]
			s.spares = s.spares[:k-1]
		} else {
			cb = &combiner{}
		}
		s.combiners[key] = cb
	}
	if cb.busy < takeInFlight {
		// Few enough calls of this key are on their way: ask on our own goroutine, under our own
		// context. If callers queued meanwhile, takeHandOn starts a goroutine that serves them.
		cb.busy++
		s.mu.Unlock()
		d, err := s.takeAlone(ctx, key, limits, n)
		s.mu.Lock()
		s.takeHandOn(key, cb, nil)
		s.mu.Unlock()
		return d, err
	}
	req := takeReqs.Get().(*takeReq)
	req.ctx, req.limits, req.n = ctx, limits, n
	cb.pending = append(cb.pending, req)
	s.mu.Unlock()

	if !awaitTurn(ctx, req.done, &s.mu, &cb.pending, req) {
		return store.Decision{}, callerDone(ctx) // req is left to the collector, answered or not
	}
	d, err := req.d, req.err
	*req = takeReq{done: req.done}
	takeReqs.Put(req)
	return d, err
}

// takeHandOn is called, under s.mu, when a call of key has returned. If callers wait, it takes the
// next batch into buf (reused, or a new slice when buf is nil) and returns it: the caller, still
// counted in cb.busy, is to send it. Otherwise it frees the call's place, retires the line once
// nothing of it is on its way, and returns nil. A caller that must return (the uncontended
// caller) passes nil, and takeHandOn starts a goroutine for the batch instead.
func (s *Store) takeHandOn(key string, cb *combiner, buf []*takeReq) []*takeReq {
	if len(cb.pending) > 0 && s.closed.Load() {
		// Close is waiting for the store's goroutines: start no more; these callers learn that
		// the store closed.
		for _, r := range cb.pending {
			r.err = store.ErrClosed
			r.done <- struct{}{}
		}
		clear(cb.pending)
		cb.pending = cb.pending[:0]
	}
	if len(cb.pending) == 0 {
		cb.busy--
		if cb.busy == 0 {
			delete(s.combiners, key)
			if len(s.spares) < maxSpares && cap(cb.pending) <= maxBatch {
				s.spares = append(s.spares, cb) // a line for the next key, without an allocation
			}
		}
		return nil
	}
	k := min(len(cb.pending), maxBatch)
	batch := append(buf[:0], cb.pending[:k]...)
	m := copy(cb.pending, cb.pending[k:])
	clear(cb.pending[m:])
	cb.pending = cb.pending[:m]
	if buf == nil {
		s.wg.Add(1)
		go s.serve(key, cb, batch)
		return nil
	}
	return batch
}

// serve decides batches for key until no caller waits, then leaves the line.
func (s *Store) serve(key string, cb *combiner, batch []*takeReq) {
	defer s.wg.Done()
	for batch != nil {
		s.decide(key, batch)
		clear(batch) // answered: the requests may be reused by now
		// The callers just answered are ready to run, most of them queued behind this goroutine.
		// Let them run before the next batch is taken: those that come straight back for another
		// decision (a loop, a worker pool) join the next call instead of waiting a whole round
		// trip for the one after it. Without them the next batch is half as large.
		runtime.Gosched()
		s.mu.Lock()
		batch = s.takeHandOn(key, cb, batch)
		s.mu.Unlock()
	}
}

// decide answers a batch: the takes that share the first one's limits go in one script call,
// any others (a key whose limits differ between callers) in calls of their own.
func (s *Store) decide(key string, batch []*takeReq) {
	for len(batch) > 0 {
		i := slices.IndexFunc(batch, func(r *takeReq) bool { return !sameLimits(r.limits, batch[0].limits) })
		if i < 0 {
			s.call(key, batch)
			return
		}
		same, rest := batch[:i:i], []*takeReq(nil)
		for _, r := range batch[i:] {
			if sameLimits(r.limits, batch[0].limits) {
				same = append(same, r)
			} else {
				rest = append(rest, r)
			}
		}
		s.call(key, same)
		batch = rest
	}
}

func sameLimits(a, b []store.Limit) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i].Requests != b[i].Requests || a[i].Per != b[i].Per || a[i].EffectiveBurst() != b[i].EffectiveBurst() {
			return false
		}
	}
	return true
}

// call runs take.lua once for the batch and answers each caller. Its context lasts as long as
// the most patient caller (each caller still returns at its own deadline), bounded by the store's
// timeout. A failed call is judged against each caller's own context: one whose deadline ran out
// with the call's gets its own deadline, never the store's failure; only a caller whose deadline
// is still ahead (or who has none) learns that the store did not answer within its timeout.
func (s *Store) call(key string, batch []*takeReq) {
	ctx, cancel := batchContext(s, batch, func(r *takeReq) context.Context { return r.ctx })
	defer cancel()
	out, err := s.takeScript(ctx, key, batch[0].limits, false, len(batch), func(i int) int64 { return batch[i].n })
	var short error
	if err == nil {
		short = shortReply(out, len(batch))
	}
	for i, r := range batch {
		switch {
		case err != nil:
			r.err = s.wrap(r.ctx, err)
		case short != nil:
			r.err = short
		default:
			r.d = decision(out, i)
		}
		r.done <- struct{}{} // the last touch: r may be reused from here on
	}
}

// takeAlone runs take.lua for one caller's take, bounded by its context and the store's timeout.
func (s *Store) takeAlone(ctx context.Context, key string, limits []store.Limit, n int64) (store.Decision, error) {
	octx, cancel := s.opContext(ctx)
	defer cancel()
	out, err := s.runTake(octx, ctx, key, limits, false, 1, func(int) int64 { return n })
	if err != nil {
		return store.Decision{}, err
	}
	return decision(out, 0), nil
}

// runTake runs take.lua once on ctx for takes of key that share limits, the i-th costing
// cost(i), and returns its reply: five numbers a take (see decision). Errors are judged against
// caller (its own cancellation stays what it is) and wrapped.
func (s *Store) runTake(ctx, caller context.Context, key string, limits []store.Limit, ordered bool, takes int, cost func(i int) int64) ([]int64, error) {
	out, err := s.takeScript(ctx, key, limits, ordered, takes, cost)
	if err != nil {
		return nil, s.wrap(caller, err)
	}
	if err := shortReply(out, takes); err != nil {
		return nil, err
	}
	return out, nil
}

// takeScript runs take.lua as runTake does and returns its reply and error as go-redis gives them.
func (s *Store) takeScript(ctx context.Context, key string, limits []store.Limit, ordered bool, takes int, cost func(i int) int64) ([]int64, error) {
	args := s.takeArgs(limits, ordered, takes, cost)
	return lua.Take.RunInts(ctx, s.rdb, []string{s.limiterKey(key)}, args...).Result()
}

// shortReply fails a reply of take.lua that holds fewer than five numbers for each of takes.
func shortReply(out []int64, takes int) error {
	if len(out) < 5*takes {
		return fmt.Errorf("weir/store/redis: take.lua answered %d numbers for %d takes", len(out), takes)
	}
	return nil
}

// decision reads the i-th take's decision from take.lua's reply.
func decision(out []int64, i int) store.Decision {
	return store.Decision{
		Allowed:    out[5*i] == 1,
		Remaining:  out[5*i+1],
		RetryAfter: time.Duration(out[5*i+2]) * time.Microsecond,
		ResetAfter: time.Duration(out[5*i+3]) * time.Microsecond,
		Paced:      time.Duration(out[5*i+4]) * time.Microsecond,
	}
}

// batchContext is the context of one call made for a batch of callers (Take's combiner, the
// queue's lines): bounded by the store's timeout and by the latest deadline among the callers, so
// that no caller's deadline cuts short the call of another, it carries the first caller's values
// but none of their cancellations (each caller still returns at its own deadline). A call that
// fails is judged against each caller's own context (wrap).
func batchContext[T any](s *Store, batch []T, ctxOf func(T) context.Context) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(s.timeout)
	latest := time.Time{}
	for _, c := range batch {
		dl, ok := ctxOf(c).Deadline()
		if !ok {
			latest = deadline
			break
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	if latest.Before(deadline) {
		deadline = latest
	}
	return context.WithDeadline(context.WithoutCancel(ctxOf(batch[0])), deadline)
}

// Block implements store.Limiter.
func (s *Store) Block(ctx context.Context, key string, until time.Time) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	u := unixMicroUp(until) // a pause never ends early
	octx, cancel := s.opContext(ctx)
	defer cancel()
	return s.wrap(ctx, lua.Block.Run(octx, s.rdb, []string{s.limiterKey(key)}, s.nowArg(), u).Err())
}

// awaitTurn waits until done is closed or sent on (the call was answered) or ctx ends. Then it
// takes item out of *pending, under mu, if it still waits there, and reports false: a call already
// on its way to Redis is lost to the caller. Take's combiner and the queue's lines both wait this
// way.
func awaitTurn[T comparable](ctx context.Context, done <-chan struct{}, mu sync.Locker, pending *[]T, item T) bool {
	select {
	case <-done:
		return true
	case <-ctx.Done():
		mu.Lock()
		withdraw(pending, item)
		mu.Unlock()
		return false
	}
}

// withdraw takes items out of *pending, those that still wait there.
func withdraw[T comparable](pending *[]T, items ...T) {
	for _, item := range items {
		if i := slices.Index(*pending, item); i >= 0 {
			*pending = slices.Delete(*pending, i, i+1)
		}
	}
}
