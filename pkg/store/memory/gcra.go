package memory

import (
	"time"

	"github.com/weir-go/weir/pkg/store"
)

// bucket is one limit's GCRA state: the theoretical arrival time (TAT) of the next request,
// kept exactly as tat + rem/Requests microseconds so that a period that does not divide evenly
// (3 per second) loses no fraction and the admitted rate never drifts.
type bucket struct {
	limit store.Limit
	r, p  int64 // Requests and Per in µs
	cap   int64 // Burst emission intervals, scaled by Requests: Burst × Per
	q1    int64 // one emission interval: q1 + r1/Requests µs, precomputed for the common cost 1
	r1    int64
	tat   int64 // whole microseconds
	rem   int64 // fraction of a microsecond, in units of 1/Requests; 0 ≤ rem < Requests
}

func newBucket(l store.Limit) bucket {
	r, p := l.Requests, l.PerMicros()
	return bucket{limit: l, r: r, p: p, cap: l.EffectiveBurst() * p, q1: p / r, r1: p % r}
}

// verdict is one bucket's answer to a take of n at now, before anything is committed. All
// amounts are scaled by Requests.
type verdict struct {
	ok       bool
	tat, rem int64 // the state to commit when every bucket agrees
	ahead    int64 // how far the new TAT lies ahead of now
	held     int64 // how far the current TAT lies ahead of now: what is already spoken for
}

// decide applies GCRA: the take is admitted when the new TAT lies at most Burst emission
// intervals ahead of now. All arithmetic is scaled by Requests so that it stays in integers.
func (b *bucket) decide(now, n int64) verdict {
	baseTat, baseRem := b.tat, b.rem
	if baseTat < now {
		baseTat, baseRem = now, 0
	}
	q, r := b.q1, b.r1
	if n != 1 {
		inc := n * b.p
		q, r = inc/b.r, inc%b.r
	}
	newTat, newRem := baseTat+q, baseRem+r
	if newRem >= b.r {
		newTat, newRem = newTat+1, newRem-b.r
	}
	v := verdict{tat: newTat, rem: newRem, ahead: (newTat-now)*b.r + newRem}
	v.ok = v.ahead <= b.cap
	if !v.ok {
		v.held = (baseTat-now)*b.r + baseRem
	}
	return v
}

// after returns the tokens left and the time until the bucket is full once the take is
// committed.
func (b *bucket) after(v verdict) (int64, time.Duration) {
	return (b.cap - v.ahead) / b.p, ceilMicros(v.ahead, b.r)
}

// kept returns the same for a take that was refused, by this bucket or another: nothing taken.
func (b *bucket) kept(v verdict, now int64) (int64, time.Duration) {
	held := v.held
	if v.ok {
		held = b.heldAt(now)
	}
	return max(0, (b.cap-held)/b.p), ceilMicros(held, b.r)
}

// wait returns how long until a refused take could succeed on this bucket.
func (b *bucket) wait(v verdict) time.Duration { return ceilMicros(v.ahead-b.cap, b.r) }

func (b *bucket) heldAt(now int64) int64 {
	if b.tat < now {
		return 0
	}
	return (b.tat-now)*b.r + b.rem
}

// idle reports whether the bucket is full at now, so that forgetting it changes nothing.
func (b *bucket) idle(now int64) bool { return b.tat < now || (b.tat == now && b.rem == 0) }

// ceilMicros converts a scaled amount to a duration, rounding up to the whole microsecond so that
// a caller who waits exactly that long is admitted.
func ceilMicros(scaled, r int64) time.Duration {
	return time.Duration((scaled+r-1)/r) * time.Microsecond
}
