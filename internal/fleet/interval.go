package fleet

import (
	"cmp"
	"math"
	"slices"
	"time"

	"github.com/weir-go/weir/pkg/store"
)

// Interval is a stretch of time, ends included, that a check found the worst: between two
// arrivals (WorstInterval, WorstArrivals) or between a decision's Asked and another's Granted
// (WorstDecisions).
type Interval struct {
	// First and Last index the arrivals, sorted, that open and close it.
	First, Last int
	// Start is when it opens, since the earliest arrival; Span is how long it lasts.
	Start, Span time.Duration
	// Decided is, for WorstArrivals and WorstDecisions, the span within which the interval's
	// requests were decided.
	Decided time.Duration
	// Count is how many arrivals it holds: Last − First + 1.
	Count int
	// Allowed is what the limit admits in it: Burst + Requests·Span/Per (see WorstArrivals for
	// its own measure).
	Allowed float64
}

// Excess is by how much the interval's count exceeds what the limit allows (negative: the
// margin left).
func (iv Interval) Excess() float64 { return float64(iv.Count) - iv.Allowed }

// Allowed returns what l admits at most in any interval of length d: Burst + Requests·d/Per.
func Allowed(l store.Limit, d time.Duration) float64 {
	return float64(l.EffectiveBurst()) + float64(l.Requests)*float64(d)/float64(l.Per)
}

// Sorted returns a sorted copy of the arrivals (compared on the monotonic clock when they carry
// it, as time.Now readings do).
func Sorted(arrivals []time.Time) []time.Time {
	s := slices.Clone(arrivals)
	slices.SortFunc(s, func(a, b time.Time) int { return a.Compare(b) })
	return s
}

// WorstInterval returns, over every interval [t_i, t_j] between two arrivals (i ≤ j), the one
// whose count most exceeds what l allows in it. The limit's invariant — in any interval of
// length t, at most Burst + Requests·t/Per — holds on the arrivals when its Excess is ≤ 0.
// With no arrivals it returns the zero Interval.
//
// It takes linear time after sorting: with the arrivals sorted, the excess of [t_i, t_j] is
// (j − r·t_j) − (i − r·t_i) + 1 − Burst for the rate r, so the worst interval ending at j starts
// where i − r·t_i is least among i ≤ j.
func WorstInterval(arrivals []time.Time, l store.Limit) Interval {
	s := Sorted(arrivals)
	if len(s) == 0 {
		return Interval{}
	}
	rate := float64(l.Requests) / float64(l.Per) // per nanosecond
	at := func(i int) float64 { return float64(s[i].Sub(s[0])) }
	v := func(i int) float64 { return float64(i) - rate*at(i) }
	bestI, bestJ := 0, 0
	best := v(0) - v(0)
	minI, minV := 0, v(0)
	for j := range s {
		if vj := v(j); vj < minV {
			minI, minV = j, vj
		}
		if d := v(j) - minV; d > best {
			best, bestI, bestJ = d, minI, j
		}
	}
	span := s[bestJ].Sub(s[bestI])
	return Interval{
		First: bestI, Last: bestJ,
		Start: s[bestI].Sub(s[0]), Span: span,
		Count:   bestJ - bestI + 1,
		Allowed: Allowed(l, span),
	}
}

// clockGrain is the resolution of the store's clock: Redis TIME, and so every decision, is in
// whole microseconds, which can make two decisions look up to this much closer than they were.
const clockGrain = time.Microsecond

// WorstArrivals is WorstInterval judged with what the senders' stamps say (see AskedHeader). The
// requests that arrived within [t_i, t_j] were decided within [the least Asked, the greatest
// Granted] among them, which may be longer than the interval itself: one decided early may have
// arrived late, held up by the network or the scheduler. What the limit allows them is therefore
// Burst + rate·max(t_j − t_i, that decision span). Delays, however long, cannot make a correct
// limiter fail this check, and they cannot hide a breach either when they are short: an Excess
// above zero is a real one. Every arrival must carry Asked and Granted. It takes quadratic time.
//
// In the Interval it returns, Decided is the decision span and Allowed counts the larger span.
func WorstArrivals(arrivals []Arrival, l store.Limit) Interval {
	s := slices.Clone(arrivals)
	slices.SortFunc(s, func(a, b Arrival) int { return a.At.Compare(b.At) })
	if len(s) == 0 {
		return Interval{}
	}
	rate := float64(l.Requests) / float64(l.Per)
	burst := float64(l.EffectiveBurst())
	at := make([]int64, len(s)) // on the monotonic clock, since the first
	for i := range s {
		at[i] = int64(s[i].At.Sub(s[0].At))
	}
	var best Interval
	bestExcess := math.Inf(-1)
	for i := range s {
		lo, hi := s[i].Asked.UnixNano(), s[i].Granted.UnixNano()
		for j := i; j < len(s); j++ {
			lo, hi = min(lo, s[j].Asked.UnixNano()), max(hi, s[j].Granted.UnixNano())
			span, decided := at[j]-at[i], hi-lo
			allowed := burst + rate*float64(max(span, decided+int64(clockGrain)))
			if excess := float64(j-i+1) - allowed; excess > bestExcess {
				bestExcess = excess
				best = Interval{First: i, Last: j, Start: time.Duration(at[i]), Span: time.Duration(span),
					Decided: time.Duration(decided), Count: j - i + 1, Allowed: allowed}
			}
		}
	}
	return best
}

// Bracket is when the store decided on one token, as closely as an observer outside the store can
// tell: after Asked, before Granted.
type Bracket struct{ Asked, Granted time.Time }

// Brackets returns the brackets that the arrivals' stamps give.
func Brackets(arrivals []Arrival) []Bracket {
	out := make([]Bracket, len(arrivals))
	for i, a := range arrivals {
		out[i] = Bracket{a.Asked, a.Granted}
	}
	return out
}

// WorstDecisions checks l's invariant on the decisions themselves. For any window [x, y], the
// decisions whose brackets lie wholly inside it were certainly made inside it, so if they number
// more than Burst + rate·(y − x) the limit was certainly broken; it returns the window where they
// most exceed that (x an Asked, y a Granted). Unlike a check on arrivals this needs no allowance:
// an Excess above zero is a breach, and how sharp the check is depends only on how narrow the
// brackets are (a round trip to the store, typically well under a millisecond). It takes
// quadratic time.
//
// In the Interval it returns, Start is x since the earliest Asked, Span is y − x, and First and
// Last index the brackets sorted by Asked.
func WorstDecisions(brackets []Bracket, l store.Limit) Interval {
	s := slices.Clone(brackets)
	slices.SortFunc(s, func(a, b Bracket) int { return a.Asked.Compare(b.Asked) })
	if len(s) == 0 {
		return Interval{}
	}
	rate := float64(l.Requests) / float64(l.Per)
	burst := float64(l.EffectiveBurst())
	origin := s[0].Asked.UnixNano()
	type end struct {
		granted int64
		index   int
	}
	var ends []end // the Granted of s[i:], sorted
	var best Interval
	bestExcess := math.Inf(-1)
	for i := len(s) - 1; i >= 0; i-- {
		e := end{s[i].Granted.UnixNano(), i}
		at, _ := slices.BinarySearchFunc(ends, e.granted, func(a end, g int64) int { return cmp.Compare(a.granted, g) })
		ends = slices.Insert(ends, at, e)
		x := s[i].Asked.UnixNano()
		for m, y := range ends {
			// Every bracket of s[i:] starts at x or later; the m+1 that end by y lie inside [x, y].
			span := max(0, y.granted-x)
			allowed := burst + rate*float64(span+int64(clockGrain))
			if excess := float64(m+1) - allowed; excess > bestExcess {
				bestExcess = excess
				best = Interval{First: i, Last: y.index, Start: time.Duration(x - origin), Span: time.Duration(span),
					Decided: time.Duration(span), Count: m + 1, Allowed: allowed}
			}
		}
	}
	return best
}
