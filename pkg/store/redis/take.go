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

// The takes of one key wait in one line (line.go): up to takeInFlight script calls of the key
// on their way at once, and the takes that arrive meanwhile decided together, in arrival order,
// in the next script call, each as successive calls would decide it. docs/combining.md tells why
// the buckets stay exact.

const (
	// takeInFlight bounds the script calls of one key on their way from one store at once.
	takeInFlight = 2
	// maxBatch bounds the takes decided by one script call.
	maxBatch = 256
)

// takeReq is one caller's Take waiting in line. Requests are reused (takeReqs): one goes back to
// the pool only once its caller has received its answer (never when the caller gave up, since an
// answer may still come).
type takeReq struct {
	turn
	limits []store.Limit
	n      int64
	d      store.Decision
}

var takeReqs = sync.Pool{New: func() any { return &takeReq{turn: turn{done: make(chan struct{}, 1)}} }}

// Take implements store.Limiter.
func (s *Store) Take(ctx context.Context, key string, limits []store.Limit, n int64) (store.Decision, error) {
	if err := s.check(ctx, key); err != nil {
		return store.Decision{}, err
	}
	if len(limits) == 0 {
		return store.Decision{}, fmt.Errorf("%w: key %q: no limits given", store.ErrInvalid, key)
	}
	if n < 0 {
		return store.Decision{}, fmt.Errorf("%w: key %q: cost must be ≥ 0, got %d", store.ErrInvalid, key, n)
	}
	if err := store.ValidateCost(key, limits, n); err != nil {
		return store.Decision{RetryAfter: store.Never}, err
	}
	req := takeReqs.Get().(*takeReq)
	req.ctx, req.limits, req.n = ctx, limits, n
	ln, alone, err := s.takes.enter(key, takeInFlight, req)
	if err != nil || alone {
		release(req)
		if err != nil {
			return store.Decision{}, err
		}
		d, err := s.takeAlone(ctx, key, limits, n)
		s.takes.leave(key, ln)
		return d, err
	}
	if err := s.takes.awaitTurn(ctx, ln, req); err != nil {
		return store.Decision{}, err // req is left to the collector, answered or not
	}
	d, err := req.d, req.err
	release(req)
	return d, err
}

// release puts an answered (or never queued) request back in the pool.
func release(req *takeReq) {
	*req = takeReq{turn: turn{done: req.done}}
	takeReqs.Put(req)
}

// decide answers a batch of takes of key: the takes that share the first one's limits in one
// script call, any others (a key whose limits differ between callers) in calls of their own.
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
	ctx, cancel := batchContext(s, batch)
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
		r.answered()
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
