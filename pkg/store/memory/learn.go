package memory

import (
	"context"
	"math"
	"time"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/store"
)

// learnIdle is how long a key's learned state outlives its last cut once no pace is in force:
// the admitted count since that cut still informs the next one until then.
const learnIdle = time.Minute

// holdFor is how long a held pace outlives its pause (see store.Backoff.Hold).
const holdFor = time.Minute

// pace is a learned limit's state: GCRA in whole microseconds, one unit every iv.
type pace struct {
	iv    int64 // µs; 0: no pace
	burst int64
	until int64 // µs; 0: none (a request pace set by Backoff, which recovers)
	tat   int64 // µs
}

func (p *pace) active(now int64) bool { return p.iv > 0 && (p.until == 0 || now < p.until) }

// decide returns the pace's new TAT for a take charging c units, and whether it fits. A take
// larger than the pace's burst is charged the burst: a learned pace holds a key back, it never
// makes a take impossible.
func (p *pace) decide(now, c int64) (tat int64, ok bool) {
	tat = max(p.tat, now) + min(c, p.burst)*p.iv
	return tat, tat-now <= p.burst*p.iv
}

// learned is what servers said about a key (see store.Learner).
type learned struct {
	req, unit pace
	rate      float64 // the request pace's rate in units per µs while it recovers (until 0)
	step      float64 // its additive increase per admitted take
	cutAt     int64   // µs of the last cut; 0: none
	admitted  int64   // takes admitted since the last cut
	cuts      int64
}

// idle reports whether forgetting the state changes nothing.
func (l *learned) idle(now int64) bool {
	return !l.req.active(now) && !l.unit.active(now) && (l.cutAt == 0 || now-l.cutAt > learnIdle.Microseconds())
}

// intervalOf is the pace interval of a rate in units per µs, rounded up to the whole µs.
func intervalOf(rate float64) int64 { return int64(math.Ceil(1 / rate)) }

// paceVerdict is the paces' part of a take of n at now: the wait they impose (0 when they admit)
// and the tokens they leave, -1 when no pace is in force.
type paceVerdict struct {
	reqTat, unitTat int64
	ok              bool
	wait            int64 // µs
	remaining       int64 // -1: no pace in force
}

func (l *learned) decide(now, n int64) paceVerdict {
	v := paceVerdict{ok: true, remaining: -1}
	check := func(p *pace, c int64) int64 {
		if !p.active(now) {
			return p.tat
		}
		tat, ok := p.decide(now, c)
		room := p.burst*p.iv - (tat - now)
		if !ok {
			v.ok = false
			v.wait = max(v.wait, -room)
			room = p.burst*p.iv - (max(p.tat, now) - now)
		}
		if rem := max(0, room/p.iv); v.remaining < 0 || rem < v.remaining {
			v.remaining = rem
		}
		return tat
	}
	reqCost := int64(0)
	if n > 0 {
		reqCost = 1
	}
	v.reqTat = check(&l.req, reqCost)
	v.unitTat = check(&l.unit, n)
	return v
}

// commit records an admitted take: the paces' new TATs, the count since the last cut, and the
// recovering request pace's additive increase, which ends the pace at the ceiling. A take of
// nothing (a read) is no admitted request.
func (l *learned) commit(v paceVerdict, now, n int64, ceiling int64) {
	if l.req.active(now) {
		l.req.tat = v.reqTat
		if l.req.until == 0 && l.step > 0 && n > 0 {
			l.rate += l.step
			if ceiling > 0 && l.rate*float64(ceiling) >= 1-1e-9 { // back at the ceiling, within rounding
				l.req = pace{}
			} else {
				l.req.iv = intervalOf(l.rate)
			}
		}
	}
	if l.unit.active(now) {
		l.unit.tat = v.unitTat
	}
	if l.cutAt > 0 && n > 0 {
		l.admitted++
	}
}

func ceilingMicros(limits []store.Limit) int64 {
	c := contract.CeilingOf(limits)
	return int64((c + time.Microsecond - 1) / time.Microsecond)
}

func (s *Store) entryFor(key string) *entry {
	sh := s.shard(key)
	e := sh.keys[key]
	if e == nil {
		e = &entry{}
		sh.keys[key] = e
	}
	return e
}

// Learn implements store.Learner.
func (s *Store) Learn(ctx context.Context, key string, requests, units store.Pace) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	if err := contract.ValidatePaces(requests, units); err != nil {
		return err
	}
	now := s.now()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.entryFor(key)
	set := func(p *pace, np store.Pace) {
		until := contract.UnixMicroUp(np.Until)
		if np.Interval == 0 || until <= now {
			return
		}
		if !p.active(now) {
			p.tat = 0
		}
		p.iv, p.burst, p.until = ceilDur(np.Interval), np.Burst, until
	}
	l := e.ensureLearned()
	set(&l.req, requests)
	set(&l.unit, units)
	return nil
}

func (e *entry) ensureLearned() *learned {
	if e.learned == nil {
		e.learned = &learned{}
	}
	return e.learned
}

// Backoff implements store.Learner.
func (s *Store) Backoff(ctx context.Context, key string, b store.Backoff) (store.Learned, error) {
	if err := s.check(ctx, key); err != nil {
		return store.Learned{}, err
	}
	if err := b.Validate(); err != nil {
		return store.Learned{}, err
	}
	now := s.now()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := s.entryFor(key)
	l := e.ensureLearned()
	pause := ceilDur(b.Pause)
	// A refusal while the key is paused, or of a request sent before the last cut, is no news.
	if e.blockedUntil <= now && !(b.RoundTrip > 0 && now-ceilDur(b.RoundTrip) < l.cutAt) {
		cur := 1 / float64(ceilDur(b.Ceiling))
		if l.req.active(now) {
			cur = 1 / float64(l.req.iv)
		}
		far := l.cutAt == 0 // nothing known yet: the first cut
		probe := far && b.RoundTrip > 0 && cur > probeRate(b.RoundTrip)
		if probe {
			cur = probeRate(b.RoundTrip)
		}
		if l.cutAt > 0 {
			admitted := float64(l.admitted) / float64(now-l.cutAt)
			if b.Hold {
				cur = min(cur, 2*admitted) // back one at a time, but no faster than twice what got through
			} else if cur > 2*admitted {
				// Far above what got through: the admitted rate, except that a key whose rate
				// came from such a measurement already goes no lower than half of it (see
				// docs/learning.md).
				if l.cuts >= 2 {
					cur = max(admitted, cur/2)
				} else {
					cur = admitted
				}
				far = true
			}
		}
		factor := b.Factor
		if b.Hold {
			factor = 1
		}
		rate := factor * cur
		if far && l.cutAt > 0 {
			rate = cur // the admitted rate is already what got through: not cut again
		}
		if rate <= 0 { // nothing admitted since the last cut: slower than the pace in force
			iv := int64(0)
			if l.req.active(now) {
				iv = l.req.iv
			}
			rate = factor / float64(max(iv, ceilDur(b.Ceiling)))
		}
		l.rate, l.step = rate, b.Recover*rate
		// A probe far below the ceiling grows until the next refusal measures the server.
		probe = probe && rate*float64(ceilDur(b.Ceiling)) <= 0.1
		if probe {
			l.step = contract.ProbeGrowth * rate
		}
		l.req = pace{iv: intervalOf(rate), burst: 1, tat: l.req.tat}
		l.cutAt, l.admitted = now, 0
		l.cuts++
		wait := l.req.iv
		if far {
			wait = pause
		}
		if b.RetryAfter >= 0 {
			wait = ceilDur(b.RetryAfter)
		}
		e.blockedUntil = max(e.blockedUntil, now+wait)
		if b.Hold && !probe {
			// A held rate does not recover: it is what the server let through, and it lapses a
			// minute after the pause unless the server refuses again.
			l.step = 0
			l.req.until = max(e.blockedUntil, now) + holdFor.Microseconds()
		}
	} else {
		if l.cuts == 1 && b.RoundTrip > 0 && l.rate > 0 && l.req.active(now) {
			// Still the first episode: a refusal that came back sooner tells of a shorter round
			// trip, and the first cut comes back at one request per ProbeRoundTrips of the shortest.
			f := b.Factor
			if b.Hold {
				f = 1
			}
			if r := f * min(1/float64(ceilDur(b.Ceiling)), probeRate(b.RoundTrip)); r > l.rate {
				l.rate, l.req.iv = r, intervalOf(r)
			}
		}
		if b.RetryAfter >= 0 {
			e.blockedUntil = max(e.blockedUntil, now+ceilDur(b.RetryAfter))
		}
	}
	return e.snapshot(now), nil
}

// probeRate is the rate, per µs, of one request per ProbeRoundTrips round trips of rtt.
func probeRate(rtt time.Duration) float64 {
	return 1 / float64(contract.ProbeRoundTrips*ceilDur(rtt))
}

// Learned implements store.Learner.
func (s *Store) Learned(ctx context.Context, key string) (store.Learned, error) {
	if err := s.check(ctx, key); err != nil {
		return store.Learned{}, err
	}
	now := s.now()
	sh := s.shard(key)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	e := sh.keys[key]
	if e == nil {
		return store.Learned{}, nil
	}
	return e.snapshot(now), nil
}

func (e *entry) snapshot(now int64) store.Learned {
	var out store.Learned
	if e.blockedUntil > now {
		out.Paused = time.UnixMicro(e.blockedUntil)
	}
	l := e.learned
	if l == nil {
		return out
	}
	out.Cuts = l.cuts
	conv := func(p *pace) store.Pace {
		if !p.active(now) {
			return store.Pace{}
		}
		sp := store.Pace{Interval: time.Duration(p.iv) * time.Microsecond, Burst: p.burst}
		if p.until > 0 {
			sp.Until = time.UnixMicro(p.until)
		}
		return sp
	}
	out.Requests, out.Units = conv(&l.req), conv(&l.unit)
	return out
}

// ceilDur is d in whole µs, rounded up.
func ceilDur(d time.Duration) int64 { return int64((d + time.Microsecond - 1) / time.Microsecond) }

// paced is the request pace's interval in force, 0 when none.
func (l *learned) paced(now int64) time.Duration {
	if !l.req.active(now) {
		return 0
	}
	return time.Duration(l.req.iv) * time.Microsecond
}
