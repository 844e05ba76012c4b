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
	tat   int64 // whole microseconds
	rem   int64 // fraction of a microsecond, in units of 1/Requests; 0 ≤ rem < Requests
}

// verdict is one bucket's answer to a take of n at now, before anything is committed.
type verdict struct {
	ok        bool
	tat, rem  int64         // the state to commit when every bucket agrees
	remaining int64         // tokens left (after the take when ok, before it when not)
	wait      time.Duration // until the take could succeed; 0 when ok
	reset     time.Duration // until the bucket is full again (after the take when ok)
	// kept and keptReset are remaining and reset with nothing taken: what the bucket reports
	// when another limit (or a Block) refuses the take.
	kept      int64
	keptReset time.Duration
}

// decide applies GCRA: the take is admitted when the new TAT lies at most Burst emission
// intervals ahead of now. All arithmetic is scaled by Requests so that it stays in integers.
func (b *bucket) decide(now, n int64) verdict {
	r, p := b.limit.Requests, b.limit.PerMicros()
	capacity := b.limit.EffectiveBurst() * p // Burst intervals, scaled by Requests

	baseTat, baseRem := b.tat, b.rem
	if baseTat < now {
		baseTat, baseRem = now, 0
	}
	inc := n * p
	newTat, newRem := baseTat+inc/r, baseRem+inc%r
	if newRem >= r {
		newTat, newRem = newTat+1, newRem-r
	}
	ahead := (newTat-now)*r + newRem  // how far the new TAT is ahead of now, scaled
	held := (baseTat-now)*r + baseRem // what is already spoken for
	v := verdict{kept: max(0, (capacity-held)/p), keptReset: ceilMicros(held, r)}
	if ahead <= capacity {
		v.ok, v.tat, v.rem = true, newTat, newRem
		v.remaining, v.reset = (capacity-ahead)/p, ceilMicros(ahead, r)
		return v
	}
	v.remaining, v.reset = v.kept, v.keptReset
	v.wait = ceilMicros(ahead-capacity, r)
	return v
}

// idle reports whether the bucket is full at now, so that forgetting it changes nothing.
func (b *bucket) idle(now int64) bool { return b.tat < now || (b.tat == now && b.rem == 0) }

// ceilMicros converts a scaled amount to a duration, rounding up to the whole microsecond so that
// a caller who waits exactly that long is admitted.
func ceilMicros(scaled, r int64) time.Duration {
	return time.Duration((scaled+r-1)/r) * time.Microsecond
}
