package redis

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
)

// Takes wait in lines (line.go): up to takeInFlight calls of a line on their way at once, and the
// takes that arrive meanwhile go together in the next script call, the takes of each key decided
// in arrival order as successive calls would decide them. On one Redis server every key shares
// one line, and one call decides many keys; on a Cluster (or a Ring) each key has a line of its
// own, since one script may touch only keys of one slot. docs/combining.md tells why the buckets
// stay exact.

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
	key    string
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
	if len(limits) == 0 || n < 0 {
		return store.Decision{}, contract.ValidateTake(key, limits, n)
	}
	if err := contract.ValidateTake(key, limits, n); err != nil {
		return store.Decision{RetryAfter: store.Never}, err
	}
	req := takeReqs.Get().(*takeReq)
	req.ctx, req.key, req.limits, req.n = ctx, key, limits, n
	lane := s.laneOf(key)
	ln, alone, err := s.takes.enter(lane, takeInFlight, req)
	if err != nil || alone {
		release(req)
		if err != nil {
			return store.Decision{}, err
		}
		d, err := s.takeAlone(ctx, key, limits, n)
		s.takes.leave(lane, ln)
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

// laneOf names the line of key's takes: one for every key on one server, where a script may
// touch any key; the key itself where keys live in different slots.
func (s *Store) laneOf(key string) string {
	if s.oneServer {
		return ""
	}
	return key
}

// decide answers a batch of takes in one script call: the takes of one key under one set of limits
// decided together, each other such group (another key, or a key whose limits differ between
// callers) as a further key of the same call.
func (s *Store) decide(_ string, batch []*takeReq) {
	if len(batch) > 1 {
		// Group by key, keeping each key's takes in arrival order.
		slices.SortStableFunc(batch, func(a, b *takeReq) int { return strings.Compare(a.key, b.key) })
	}
	first := batch[0]
	if first.key == batch[len(batch)-1].key && !slices.ContainsFunc(batch, func(r *takeReq) bool { return !sameLimits(r.limits, first.limits) }) {
		s.call(batch) // one key, one set of limits
		return
	}
	var groups [][]*takeReq
	for rest := batch; len(rest) > 0; {
		end := 1
		for end < len(rest) && rest[end].key == rest[0].key {
			end++
		}
		groups = appendByLimits(groups, rest[:end])
		rest = rest[end:]
	}
	s.callKeys(batch, groups)
}

// appendByLimits appends the takes of one key to groups, one group per set of limits, each in
// arrival order.
func appendByLimits(groups [][]*takeReq, takes []*takeReq) [][]*takeReq {
	from := len(groups)
	for _, r := range takes {
		i := slices.IndexFunc(groups[from:], func(g []*takeReq) bool { return sameLimits(g[0].limits, r.limits) })
		if i < 0 {
			groups = append(groups, []*takeReq{r})
		} else {
			groups[from+i] = append(groups[from+i], r)
		}
	}
	return groups
}

// sameLimits reports whether two takes' limits are the same, so that one script call decides both.
func sameLimits(a, b []store.Limit) bool { return slices.EqualFunc(a, b, store.Limit.Same) }

// call runs take.lua once for takes of one key that share limits, and answers each caller. Its
// context lasts as long as the most patient caller, bounded by the store's timeout.
func (s *Store) call(batch []*takeReq) {
	ctx, cancel := batchContext(s, batch)
	defer cancel()
	out, err := s.takeScript(ctx, batch[0].key, batch[0].limits, false, len(batch), func(i int) int64 { return batch[i].n })
	s.answerTakes(batch, out, err)
}

// callKeys decides every group of batch in one script call, a key's block of arguments for each
// group (take.lua decides them in turn, each as a call of its own would), and answers every
// caller.
func (s *Store) callKeys(batch []*takeReq, groups [][]*takeReq) {
	ctx, cancel := batchContext(s, batch)
	defer cancel()
	keys := make([]string, len(groups))
	n := 1
	for i, g := range groups {
		keys[i] = s.limiterKey(g[0].key)
		n += s.blockLen(g[0].limits, len(g))
	}
	args := make([]any, 1, n)
	args[0] = s.nowArg()
	for _, g := range groups {
		args = s.appendBlock(args, g[0].limits, false, len(g), func(i int) int64 { return g[i].n })
	}
	out, err := lua.Take.RunInts(ctx, s.rdb, keys, args...).Result()
	if err == nil {
		err = shortReply(out, len(batch))
	}
	for _, g := range groups {
		s.answerTakes(g, out, err)
		if err == nil {
			out = out[5*len(g):]
		}
	}
}

// answerTakes gives each take of a script call its decision from the reply out, or the call's
// error judged against the caller's own context: a caller whose deadline ran out with the call's
// gets its own deadline, never the store's failure.
func (s *Store) answerTakes(batch []*takeReq, out []int64, err error) {
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
