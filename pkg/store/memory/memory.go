// Package memory is the in-process store: New returns a Store that keeps limits, learned paces,
// breakers and queues in the process's memory, with the same semantics as the Redis store
// (pkg/store/redis), for one process and for tests. A Store is safe for concurrent use; its clock
// can be injected, so that tests move time instead of sleeping. Nothing outlives the process.
package memory

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

const (
	shardCount = 64
	// sweepEvery is how often (on the store's clock) a shard forgets idle buckets.
	sweepEvery = time.Minute
)

// Store keeps buckets, learned paces, breakers and queues in memory. It is safe for concurrent use.
type Store struct {
	clock  clock.Clock
	now    func() int64 // the clock in µs
	closed atomic.Bool
	shards [shardCount]shard
	queues queues
}

type shard struct {
	mu       sync.Mutex
	keys     map[string]*entry
	breakers map[string]*breaker
	sweepAt  int64 // µs
	// last is the entry of the key last taken from: most processes talk to few upstreams, and
	// a hit spares hashing the key a second time.
	lastKey string
	last    *entry
}

// entry is one key: its buckets, one per distinct limit, and any pause the server asked for.
type entry struct {
	blockedUntil int64 // µs
	buckets      []bucket
	learned      *learned // nil until a server said something (see learn.go)
}

// Options configures a Store. Zero fields mean the defaults.
type Options struct {
	// Clock is what the store reads time from. Nil means the system clock; tests pass a
	// clock.Fake to move time instead of sleeping.
	Clock clock.Clock
}

// New returns an empty store.
func New(opts Options) *Store {
	s := &Store{clock: opts.Clock}
	if s.clock == nil {
		s.clock = clock.Real()
	}
	s.now = clock.Micros(s.clock)
	s.queues.byName = make(map[string]*queue)
	for i := range s.shards {
		s.shards[i].keys = make(map[string]*entry)
		s.shards[i].breakers = make(map[string]*breaker)
	}
	return s
}

var _ store.Store = (*Store)(nil)

// Close marks the store closed; later calls return store.ErrClosed.
func (s *Store) Close() error {
	s.closed.Store(true)
	return nil
}

func (s *Store) shard(key string) *shard {
	// FNV-1a: for the short keys of a limiter it costs a third of maphash. Keys that collide only
	// share a lock; each shard's map has Go's own randomized hash.
	h := uint32(2166136261)
	for i := 0; i < len(key); i++ {
		h = (h ^ uint32(key[i])) * 16777619
	}
	return &s.shards[h%shardCount]
}

// check is checkName for a limiter key.
func (s *Store) check(ctx context.Context, key string) error { return s.checkName(ctx, "key", key) }

// checkName refuses a call on a closed store, with a bad name (kind says what it names) or an
// ended context.
func (s *Store) checkName(ctx context.Context, kind, name string) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := contract.ValidateName(kind, name); err != nil {
		return err
	}
	return ctx.Err()
}

// Take implements store.Limiter.
func (s *Store) Take(ctx context.Context, key string, limits []store.Limit, n int64) (store.Decision, error) {
	if s.closed.Load() {
		return store.Decision{}, store.ErrClosed
	}
	if ctx.Err() != nil || len(limits) == 0 || n < 0 {
		return store.Decision{}, s.refuse(ctx, key, limits, n)
	}
	now := s.now()
	sh := s.shard(key)
	sh.mu.Lock()
	sh.maybeSweep(now)
	e := sh.last
	if sh.lastKey != key || e == nil {
		e = sh.keys[key]
	}
	if e != nil {
		if sh.last != e {
			sh.lastKey, sh.last = key, e
		}
		if b, v, ok := e.takeOne(limits, n, now); ok {
			sh.mu.Unlock()
			remaining, reset := b.after(v) // the bucket's figures are fixed: outside the lock
			return store.Decision{Allowed: true, Remaining: remaining, ResetAfter: reset}, nil
		}
	}
	defer sh.mu.Unlock()
	if e == nil {
		// A key the store holds was checked when it came in; only a new one is checked here,
		// before anything is created, so that bad input leaves no trace.
		if err := contract.ValidateName("key", key); err != nil {
			return store.Decision{}, err
		}
		if err := contract.ValidateTake(key, limits, n); err != nil {
			return store.Decision{Allowed: false, RetryAfter: store.Never}, err
		}
		e = &entry{buckets: make([]bucket, 0, len(limits))}
		sh.keys[key] = e
		sh.lastKey, sh.last = key, e
	}
	return e.take(key, limits, n, now, 0)
}

// refuse is the error of a take that an ended context or bad input refuses, checked in the order
// every store checks them: the key's name, the context, then the limits and cost.
func (s *Store) refuse(ctx context.Context, key string, limits []store.Limit, n int64) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	return contract.ValidateTake(key, limits, n)
}

// takeOne decides, under the shard's lock, the common take that is admitted: one known limit on
// a key without pause or learned pace. It commits the take and returns its bucket's figures and
// verdict, or reports false for take to decide anything else.
func (e *entry) takeOne(limits []store.Limit, n, now int64) (bucket, verdict, bool) {
	if len(limits) != 1 || e.learned != nil || e.blockedUntil > now || len(e.buckets) == 0 {
		return bucket{}, verdict{}, false
	}
	b := &e.buckets[0]
	if b.limit != limits[0] || n > b.limit.EffectiveBurst() {
		return bucket{}, verdict{}, false
	}
	v := b.decide(now, n)
	if !v.ok {
		return bucket{}, verdict{}, false
	}
	b.tat, b.rem = v.tat, v.rem
	return *b, v, true
}

// take decides against every limit and commits only when all agree. Buckets are found by their
// limit, so a key whose configured limits change starts the new ones full.
//
// A positive refusedBefore refuses the take whatever the buckets say, charging nothing, with at
// least that wait: TakeOrdered's takes behind one already refused.
func (e *entry) take(key string, limits []store.Limit, n, now int64, refusedBefore time.Duration) (store.Decision, error) {
	var idx [4]int
	pos := idx[:0]
	for _, l := range limits {
		i := e.find(l)
		switch {
		case i < 0:
			if err := contract.ValidateTake(key, []store.Limit{l}, n); err != nil {
				return store.Decision{RetryAfter: store.Never}, err
			}
			e.buckets = append(e.buckets, newBucket(l))
			i = len(e.buckets) - 1
		case n > l.EffectiveBurst():
			// A known limit is valid: the cost is at fault.
			return store.Decision{RetryAfter: store.Never}, contract.ValidateTake(key, []store.Limit{l}, n)
		}
		pos = append(pos, i)
	}

	var vs [4]verdict
	verdicts := vs[:0]
	allowed := true
	for _, i := range pos {
		v := e.buckets[i].decide(now, n)
		verdicts = append(verdicts, v)
		allowed = allowed && v.ok
	}
	var pv paceVerdict
	if e.learned != nil {
		pv = e.learned.decide(now, n)
		allowed = allowed && pv.ok
	}
	blocked := e.blockedUntil > now
	if allowed && !blocked && refusedBefore == 0 {
		d := store.Decision{Allowed: true, Remaining: -1}
		if e.learned != nil {
			e.learned.commit(pv, now, n, ceilingMicros(limits))
			d.Remaining, d.Paced = pv.remaining, e.learned.paced(now)
		}
		for k, i := range pos {
			b := &e.buckets[i]
			b.tat, b.rem = verdicts[k].tat, verdicts[k].rem
			remaining, reset := b.after(verdicts[k])
			if d.Remaining < 0 || remaining < d.Remaining {
				d.Remaining = remaining
			}
			d.ResetAfter = max(d.ResetAfter, reset)
		}
		return d, nil
	}
	// A refused take charges no bucket, so every bucket reports its state as it is, even one
	// that would have admitted the take on its own; the wait is the longest any of them needs.
	d := store.Decision{Remaining: -1}
	if e.learned != nil {
		d.Remaining, d.Paced = pv.remaining, e.learned.paced(now)
		d.RetryAfter = time.Duration(pv.wait) * time.Microsecond
	}
	for k, i := range pos {
		b := &e.buckets[i]
		if !verdicts[k].ok {
			d.RetryAfter = max(d.RetryAfter, b.wait(verdicts[k]))
		}
		remaining, reset := b.kept(verdicts[k], now)
		if d.Remaining < 0 || remaining < d.Remaining {
			d.Remaining = remaining
		}
		d.ResetAfter = max(d.ResetAfter, reset)
	}
	if blocked {
		d.Remaining = 0
		d.RetryAfter = max(d.RetryAfter, time.Duration(e.blockedUntil-now)*time.Microsecond)
	}
	d.RetryAfter = max(d.RetryAfter, refusedBefore)
	if d.RetryAfter == 0 { // refused by a pause that ends within the microsecond
		d.RetryAfter = time.Microsecond
	}
	return d, nil
}

// find returns the index of l's bucket, or -1. Burst 0 and Burst == Requests are the same limit.
func (e *entry) find(l store.Limit) int {
	for i := range e.buckets {
		if e.buckets[i].limit.Same(l) {
			return i
		}
	}
	return -1
}

// Block implements store.Limiter.
func (s *Store) Block(ctx context.Context, key string, until time.Time) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	now := s.now()
	u := min(contract.UnixMicroUp(until), now+store.MaxDelay.Microseconds()) // never early, at most MaxDelay
	if u <= now {
		return nil
	}
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.keys[key]
	if e == nil {
		e = &entry{}
		sh.keys[key] = e
	}
	e.blockedUntil = max(e.blockedUntil, u)
	return nil
}

// maybeSweep forgets keys whose buckets are all full and whose pause has ended: such a key
// behaves exactly like one never seen, so memory stays bounded by the keys in recent use. It
// forgets breakers idle past their expiry too (see breaker.touch).
func (sh *shard) maybeSweep(now int64) {
	if now < sh.sweepAt {
		return
	}
	sh.sweepAt = now + sweepEvery.Microseconds()
	for k, e := range sh.keys {
		if e.blockedUntil > now || e.learned != nil && !e.learned.idle(now) {
			continue
		}
		idle := true
		for i := range e.buckets {
			if !e.buckets[i].idle(now) {
				idle = false
				break
			}
		}
		if idle {
			delete(sh.keys, k)
			if e == sh.last {
				sh.lastKey, sh.last = "", nil
			}
		}
	}
	for name, b := range sh.breakers {
		if b.expires <= now {
			delete(sh.breakers, name)
		}
	}
}
