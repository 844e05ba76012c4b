package client

import (
	"time"

	"github.com/weir-go/weir/pkg/headers"
)

// quotaWindow is what one quota's responses told of its current window. The reasons behind its
// rules are in docs/client.md ("Reset times are bounded from above" and what follows).
type quotaWindow struct {
	reset time.Time // the earliest bound on the window's reset heard
	after time.Time // when the latest request answered in the window was sent: it was open then
	// opened is when the response that showed this window had begun arrived; zero for the first
	// window heard of, which no earlier one can be mistaken for.
	opened time.Time
	least  int64 // the least remaining heard in the window, -1 unknown
	// leastAt and leastSent are when the response that said so arrived and its request was sent.
	leastAt, leastSent time.Time
	phase              phase // for a quota that states its window, where the windows' resets fall
	// longest is the longest time to a reset heard in any window: about the window's length.
	longest time.Duration
}

// hear takes one response's word on the quota: q, in a response that arrived at now to a request
// sent at sent. admits is the most requests the configured limits let through in a time. It
// reports false for old news: the previous window's last word, arriving after this window began,
// or a word that may be of either window.
func (w *quotaWindow) hear(q headers.Quota, now, sent time.Time, admits func(time.Duration) int64) bool {
	own := now.Add(q.Reset)
	at := w.learnPhase(q, now, sent)
	early := sent.Before(w.opened) // it may have been answered in the previous window
	switch {
	case w.reset.IsZero():
		w.open(q.Remaining, at, time.Time{}, now, sent)
	case early && q.Remaining >= 0 && w.least >= 0 && q.Remaining < w.least:
		return false
	case !w.reset.After(now) && sent.Before(w.reset) && !w.refilled(q.Remaining, sent):
		return false // sent before the reset, answered after it: of either window
	case w.outlived(q, sent, admits):
		// The bound was wrong (the server's windows are not where the phase said): the
		// response's own replaces it.
		w.reset = own
		w.note(q.Remaining, now, sent)
	case w.refilled(q.Remaining, sent) || !w.reset.After(now) || at.After(w.reset.Add(time.Second)):
		w.open(q.Remaining, at, now, now, sent)
	default:
		if at.Before(w.reset) && !early {
			w.reset = at
		}
		w.note(q.Remaining, now, sent)
	}
	w.longest = max(w.longest, w.reset.Sub(now))
	return true
}

// learnPhase narrows where a stated window's resets fall by what the response tells, and returns
// the response's bound on its window's reset, sharpened by that.
func (w *quotaWindow) learnPhase(q headers.Quota, now, sent time.Time) time.Time {
	at := now.Add(q.Reset)
	if q.Window <= 0 {
		return at
	}
	if w.refilled(q.Remaining, sent) {
		// The window ended between the least heard and this answer, and by its bound if the
		// answers taken for that window's were.
		w.phase.narrow(w.leastSent, now, q.Window)
		w.phase.refine(w.leastSent, w.reset, q.Window)
	}
	// A reset counted in whole seconds, rounded up, came less than a second before the bound.
	w.phase.narrow(sent.Add(q.Reset-time.Second), at, q.Window)
	if end, ok := w.phase.end(now, q.Window); ok && end.Before(at) {
		return end
	}
	return at
}

// note counts a response of the window, of a request sent at sent, that arrived at now saying
// remaining is left.
func (w *quotaWindow) note(remaining int64, now, sent time.Time) {
	if remaining >= 0 && (w.least < 0 || remaining <= w.least) {
		w.least, w.leastAt, w.leastSent = remaining, now, sent
	}
	if sent.After(w.after) {
		w.after = sent
	}
}

// refilled reports whether remaining, answered to a request sent at sent, says a new window has
// begun: within one window what is left only shrinks, so more than the least heard, from a request
// sent after that least arrived (not merely answered out of order), means the quota was refilled.
func (w *quotaWindow) refilled(remaining int64, sent time.Time) bool {
	return remaining >= 0 && w.least >= 0 && remaining > w.least && !sent.Before(w.leastAt)
}

// outlived reports whether q, answered to a request sent at sent, after the window's bound, is
// still of the window: no more is left than it had, and a new window could not have lost as much
// yet, for the configured limits (admits) let through fewer since the window was last heard of.
// A window that may have been spent since (a process kept waiting) is taken for a new one.
func (w *quotaWindow) outlived(q headers.Quota, sent time.Time, admits func(time.Duration) int64) bool {
	if q.Remaining < 0 || w.least < 0 || q.Remaining > w.least || q.Limit <= 0 || sent.Before(w.reset) {
		return false
	}
	return q.Limit-q.Remaining > admits(sent.Sub(w.after))
}

// open starts a new window, opened at opened, whose reset is bounded by reset, and of which a
// response that arrived at now, to a request sent at sent, says remaining is left.
func (w *quotaWindow) open(remaining int64, reset, opened, now, sent time.Time) {
	w.reset, w.after, w.opened = reset, sent, opened
	w.least, w.leastAt, w.leastSent = remaining, now, sent
}

// phase is where a fixed window's resets fall, one window apart: in (lo, hi], give or take whole
// windows. The zero phase knows nothing.
type phase struct{ lo, hi time.Time }

// narrow learns that a reset fell in (lo, hi]. Only a span shorter than a window tells where
// resets fall. One at odds with what the phase knew means the windows moved (or never were
// fixed): the span is believed.
func (p *phase) narrow(lo, hi time.Time, size time.Duration) {
	if !hi.After(lo) || hi.Sub(lo) >= size {
		return
	}
	switch m, fits := p.overlap(lo, hi, size); {
	case fits:
		*p = m
	case m.hi.IsZero(): // it knew nothing, or is at odds with the span
		*p = phase{lo, hi}
	}
}

// refine learns that a reset may have fallen in (lo, hi], if the phase agrees: a span drawn from
// responses taken for one window's, which a process that missed a window's end took wrongly.
func (p *phase) refine(lo, hi time.Time, size time.Duration) {
	if !hi.After(lo) || hi.Sub(lo) >= size {
		return
	}
	if m, fits := p.overlap(lo, hi, size); fits {
		*p = m
	}
}

// overlap is where the phase meets (lo, hi], a span shorter than a window: fits when it meets
// it once. Meeting it twice, it is the phase itself; not at all (or knowing nothing), the zero
// phase; either way not fitting.
func (p phase) overlap(lo, hi time.Time, size time.Duration) (m phase, fits bool) {
	if p.hi.IsZero() {
		return phase{}, false
	}
	// The phase's first occurrence that ends after lo, and the next.
	k := ceilDiv(lo.Sub(p.hi), size)
	first := phase{p.lo.Add(k * size), p.hi.Add(k * size)}
	a, aok := first.meet(lo, hi)
	b, bok := phase{first.lo.Add(size), first.hi.Add(size)}.meet(lo, hi)
	switch {
	case aok && bok:
		return p, false
	case aok:
		return a, true
	case bok:
		return b, true
	}
	return phase{}, false
}

// meet is where p and (lo, hi] overlap, if they do.
func (p phase) meet(lo, hi time.Time) (phase, bool) {
	m := phase{lo, hi}
	if p.lo.After(m.lo) {
		m.lo = p.lo
	}
	if p.hi.Before(m.hi) {
		m.hi = p.hi
	}
	return m, m.hi.After(m.lo)
}

// end bounds the reset of the window an answer arriving at now was given in: a reset of the
// phase, no more than a window after now. It reports false when the phase knows nothing.
func (p phase) end(now time.Time, size time.Duration) (time.Time, bool) {
	if p.hi.IsZero() {
		return time.Time{}, false
	}
	// The last occurrence that begins before now plus a window.
	k := ceilDiv(now.Add(size).Sub(p.lo), size) - 1
	return p.hi.Add(k * size), true
}

// ceilDiv is d/size rounded up.
func ceilDiv(d, size time.Duration) time.Duration {
	q := d / size
	if d%size > 0 {
		q++
	}
	return q
}
