package redis

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
)

// takeReq is one caller's Take waiting to be decided.
type takeReq struct {
	ctx    context.Context
	limits []store.Limit
	n      int64
	d      store.Decision
	err    error
	done   chan struct{}
}

// combiner gathers the Takes of one key that arrive while a script call for that key is in flight,
// and decides them all in the next call: one round trip serves every concurrent caller, in
// arrival order, exactly as successive calls would.
type combiner struct {
	pending []*takeReq
}

// maxBatch bounds the takes decided by one script call.
const maxBatch = 256

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
	req := &takeReq{ctx: ctx, limits: limits, n: n}
	s.mu.Lock()
	if s.closed.Load() {
		s.mu.Unlock()
		return store.Decision{}, store.ErrClosed
	}
	cb, busy := s.combiners[key]
	if !busy {
		// Nobody else is asking about this key: ask on our own goroutine, under our own context.
		// Callers that arrive meanwhile queue, and a serving goroutine takes them in one call.
		cb = &combiner{}
		s.combiners[key] = cb
		s.mu.Unlock()
		s.callAs(ctx, key, []*takeReq{req})
		s.mu.Lock()
		if len(cb.pending) == 0 {
			delete(s.combiners, key)
		} else {
			batch := cb.pending[:min(len(cb.pending), maxBatch)]
			cb.pending = append(cb.pending[:0:0], cb.pending[len(batch):]...)
			s.wg.Add(1)
			go s.serve(key, cb, batch)
		}
		s.mu.Unlock()
		return req.d, req.err
	}
	req.done = make(chan struct{}) // only a caller that waits in line needs to be told
	cb.pending = append(cb.pending, req)
	s.mu.Unlock()

	if !awaitTurn(ctx, req.done, &s.mu, &cb.pending, req) {
		return store.Decision{}, callerDone(ctx)
	}
	return req.d, req.err
}

// serve decides batches for key until no caller waits, then retires the combiner.
func (s *Store) serve(key string, cb *combiner, batch []*takeReq) {
	defer s.wg.Done()
	for {
		s.decide(key, batch)
		s.mu.Lock()
		if len(cb.pending) == 0 {
			delete(s.combiners, key)
			s.mu.Unlock()
			return
		}
		k := min(len(cb.pending), maxBatch)
		batch = append(batch[:0:0], cb.pending[:k]...)
		cb.pending = append(cb.pending[:0:0], cb.pending[k:]...)
		s.mu.Unlock()
	}
}

// decide answers a batch: the takes that share the first one's limits go in one script call,
// any others (a key whose limits differ between callers) in calls of their own.
func (s *Store) decide(key string, batch []*takeReq) {
	for len(batch) > 0 {
		same, rest := batch[:0:0], batch[:0:0]
		for _, r := range batch {
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

// call runs take.lua once for the batch. Its context lasts as long as the most patient caller
// (each caller still returns at its own deadline), bounded by the store's timeout.
func (s *Store) call(key string, batch []*takeReq) {
	ctx, cancel := batchContext(s, batch, func(r *takeReq) context.Context { return r.ctx })
	defer cancel()
	s.run(ctx, context.Background(), key, batch) // each caller minds its own context
}

// callAs runs take.lua for a caller alone, bounded by its context and the store's timeout.
func (s *Store) callAs(ctx context.Context, key string, batch []*takeReq) {
	octx, cancel := s.opContext(ctx)
	defer cancel()
	s.run(octx, ctx, key, batch)
}

// run runs take.lua once on ctx and answers the batch; errors are judged against caller.
func (s *Store) run(ctx, caller context.Context, key string, batch []*takeReq) {
	args := s.takeArgs(batch[0].limits, false, len(batch), func(i int) int64 { return batch[i].n })
	out, err := lua.Take.RunInts(ctx, s.rdb, []string{s.limiterKey(key)}, args...).Result()
	if err == nil && len(out) < 5*len(batch) {
		err = fmt.Errorf("weir/store/redis: take.lua answered %d numbers for %d takes", len(out), len(batch))
	}
	err = s.wrap(caller, err)
	for i, r := range batch {
		if err != nil {
			r.err = err
		} else {
			r.d = store.Decision{
				Allowed:    out[5*i] == 1,
				Remaining:  out[5*i+1],
				RetryAfter: time.Duration(out[5*i+2]) * time.Microsecond,
				ResetAfter: time.Duration(out[5*i+3]) * time.Microsecond,
				Paced:      time.Duration(out[5*i+4]) * time.Microsecond,
			}
		}
		if r.done != nil {
			close(r.done)
		}
	}
}

// batchContext is the context of one call made for a batch of callers (Take's combiner, the
// queue's lines): bounded by the store's timeout and by the latest deadline among the callers, it
// carries the first caller's values but none of their cancellations (each caller still returns at
// its own deadline).
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

// awaitTurn waits until done is closed (the call was answered) or ctx ends. Then it takes item out
// of *pending, under mu, if it still waits there, and reports false: a call already on its way to
// Redis is lost to the caller. Take's combiner and the queue's lines both wait this way.
func awaitTurn[T comparable](ctx context.Context, done <-chan struct{}, mu sync.Locker, pending *[]T, item T) bool {
	select {
	case <-done:
		return true
	case <-ctx.Done():
		mu.Lock()
		if i := slices.Index(*pending, item); i >= 0 {
			*pending = slices.Delete(*pending, i, i+1)
		}
		mu.Unlock()
		return false
	}
}
