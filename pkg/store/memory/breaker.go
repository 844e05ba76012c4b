package memory

import (
	"context"
	"time"

	"github.com/weir-go/weir/pkg/store"
)

// breaker is one breaker's state. Times are microseconds on the store's clock.
type breaker struct {
	state      store.BreakerState
	gen        int64
	consec     int   // failures in a row while closed
	trips      int   // trips since the breaker last closed
	openUntil  int64 // while open
	probes     int   // half-open permits in flight
	probeSince int64 // when the last probe was granted; lost probes are forgotten after OpenTimeout
	successes  int   // probe successes in this half-open period
	window     [store.WindowBuckets]slot
	expires    int64 // when a sweep forgets the breaker, idle: see touch
}

// breakerIdle is how long a breaker is kept past all it remembers, as in breaker.lua.
const breakerIdle = 24 * time.Hour

// touch keeps b for a day past its open period (grown to its longest) and its window: a breaker
// idle longer is forgotten by the shard's sweep and starts afresh, closed, as its Redis hash
// expires.
func (b *breaker) touch(p store.BreakerPolicy, now int64) {
	b.expires = now + max(b.openUntil-now, 0) + max(p.OpenTimeout, p.MaxOpenTimeout).Microseconds() +
		p.Window.Microseconds() + breakerIdle.Microseconds()
}

// slot is one slice of the rolling failure-rate window.
type slot struct{ idx, calls, fails int64 }

func (s *Store) breakerFor(ctx context.Context, name string, p *store.BreakerPolicy) (*shard, *breaker, int64, error) {
	if err := s.checkName(ctx, "breaker name", name); err != nil {
		return nil, nil, 0, err
	}
	*p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, nil, 0, err
	}
	now := s.now()
	sh := s.shard(name)
	sh.mu.Lock()
	sh.maybeSweep(now)
	b := sh.breakers[name]
	if b == nil {
		b = &breaker{}
		sh.breakers[name] = b
	}
	return sh, b, now, nil
}

// Acquire implements store.Breakers.
func (s *Store) Acquire(ctx context.Context, name string, p store.BreakerPolicy) (store.Permit, error) {
	sh, b, now, err := s.breakerFor(ctx, name, &p)
	if err != nil {
		return store.Permit{}, err
	}
	defer sh.mu.Unlock()
	pm := b.acquire(p, now)
	b.touch(p, now)
	return pm, nil
}

// Record implements store.Breakers.
func (s *Store) Record(ctx context.Context, name string, p store.BreakerPolicy, permit store.Permit, o store.Outcome) (store.BreakerStatus, error) {
	sh, b, now, err := s.breakerFor(ctx, name, &p)
	if err != nil {
		return store.BreakerStatus{}, err
	}
	defer sh.mu.Unlock()
	st := b.record(p, permit, o, now)
	b.touch(p, now)
	return st, nil
}

// BreakerStatus implements store.Breakers.
func (s *Store) BreakerStatus(ctx context.Context, name string, p store.BreakerPolicy) (store.BreakerStatus, error) {
	sh, b, now, err := s.breakerFor(ctx, name, &p)
	if err != nil {
		return store.BreakerStatus{}, err
	}
	defer sh.mu.Unlock()
	return b.status(p, now), nil
}

func (b *breaker) acquire(p store.BreakerPolicy, now int64) store.Permit {
	changed := false
	switch b.state {
	case store.Closed:
		return store.Permit{Allowed: true, State: store.Closed, Generation: b.gen}
	case store.Open:
		if now < b.openUntil {
			return store.Permit{State: store.Open, Generation: b.gen, RetryAfter: micros(b.openUntil - now)}
		}
		b.state, b.gen, b.probes, b.successes = store.HalfOpen, b.gen+1, 0, 0
		changed = true
	}
	lease := p.OpenTimeout.Microseconds()
	if b.probes > 0 && now-b.probeSince >= lease {
		// The holders never reported: count them as lost, and move to a new generation so that
		// a late report cannot free a slot that a newer probe holds.
		b.probes, b.gen = 0, b.gen+1
	}
	if b.probes >= p.HalfOpenProbes {
		return store.Permit{State: store.HalfOpen, Generation: b.gen, RetryAfter: micros(b.probeSince + lease - now)}
	}
	b.probes++
	b.probeSince = now
	return store.Permit{Allowed: true, State: store.HalfOpen, Generation: b.gen, Changed: changed}
}

func (b *breaker) record(p store.BreakerPolicy, permit store.Permit, o store.Outcome, now int64) store.BreakerStatus {
	if !permit.Allowed || permit.Generation != b.gen || b.state == store.Open {
		st := b.status(p, now)
		st.Stale = true
		return st
	}
	changed := false
	switch b.state {
	case store.Closed:
		if o == store.Ignored {
			break
		}
		failed := o == store.Failure
		b.count(p, now, failed)
		if failed {
			b.consec++
		} else {
			b.consec = 0
		}
		calls, fails := b.sum(p, now)
		if (p.ConsecutiveFailures > 0 && b.consec >= p.ConsecutiveFailures) ||
			(p.FailureRate > 0 && calls >= int64(p.MinCalls) && reaches(fails, calls, p.FailureRate)) {
			b.trip(p, now)
			changed = true
		}
	case store.HalfOpen:
		if b.probes > 0 {
			b.probes--
		}
		switch o {
		case store.Failure:
			b.trip(p, now)
			changed = true
		case store.Success:
			b.successes++
			if b.successes >= p.SuccessThreshold {
				b.state, b.gen, b.trips, b.consec, b.probes, b.successes = store.Closed, b.gen+1, 0, 0, 0, 0
				b.window = [store.WindowBuckets]slot{}
				changed = true
			}
		}
	}
	st := b.status(p, now)
	st.Changed = changed
	return st
}

// reaches reports whether fails/calls reaches rate. It divides rather than multiplies: the
// quotient is correctly rounded, so a fraction equal to the rate as written (55 of 100 for 0.55)
// reaches it, where 0.55 × 100 would round up to 55.00000000000001 and miss.
func reaches(fails, calls int64, rate float64) bool {
	return float64(fails)/float64(calls) >= rate
}

func (b *breaker) trip(p store.BreakerPolicy, now int64) {
	b.trips++
	b.state, b.gen = store.Open, b.gen+1
	b.openUntil = now + p.OpenFor(b.trips).Microseconds()
	b.consec, b.probes, b.successes = 0, 0, 0
	b.window = [store.WindowBuckets]slot{}
}

// count adds one call to the window slice that now falls in.
func (b *breaker) count(p store.BreakerPolicy, now int64, failed bool) {
	idx := now / (p.Window.Microseconds() / store.WindowBuckets)
	s := &b.window[idx%store.WindowBuckets]
	if s.idx != idx {
		*s = slot{idx: idx}
	}
	s.calls++
	if failed {
		s.fails++
	}
}

// sum adds up the slices that lie within the window ending at now.
func (b *breaker) sum(p store.BreakerPolicy, now int64) (calls, fails int64) {
	idx := now / (p.Window.Microseconds() / store.WindowBuckets)
	for _, s := range b.window {
		if s.idx <= idx && idx-s.idx < store.WindowBuckets {
			calls += s.calls
			fails += s.fails
		}
	}
	return calls, fails
}

func (b *breaker) status(p store.BreakerPolicy, now int64) store.BreakerStatus {
	calls, fails := b.sum(p, now)
	st := store.BreakerStatus{
		State: b.state, Generation: b.gen, ConsecutiveFailures: b.consec,
		Calls: int(calls), Failures: int(fails), Trips: b.trips, ProbesInFlight: b.probes,
	}
	if b.state == store.Open && b.openUntil > now {
		st.RetryAfter = micros(b.openUntil - now)
	}
	return st
}

func micros(us int64) time.Duration { return time.Duration(us) * time.Microsecond }
