package client

import (
	"time"

	"github.com/weir-go/weir/pkg/headers"
)

// quotaWindow is what one quota's responses told of its current window. The reasons behind its
// rules are in docs/client.md ("Reset times are bounded from above" and what follows).
type quotaWindow struct {
	reset time.Time // the earliest bound on the window's reset
	// opened is when the response that showed this window had begun arrived; zero for the first
	// window heard of, which no earlier one can be mistaken for.
	opened  time.Time
	least   int64     // the least remaining heard in the window, -1 unknown
	leastAt time.Time // when the response that said so arrived
	// lastSent is when the latest request answered in the window was sent: the window was still
	// open then.
	lastSent time.Time
	// longest is the longest time to a reset heard in any window: about the window's length.
	longest time.Duration
}

// hear takes one response's word on the quota: q, in a response that arrived at now to a request
// sent at sent. admits is the most requests the configured limits let through in a time. It
// reports false for old news: the previous window's last word, arriving after this window began,
// or a word that may be of either window.
func (w *quotaWindow) hear(q headers.Quota, now, sent time.Time, admits func(time.Duration) int64) bool {
	at := now.Add(q.Reset)
	early := sent.Before(w.opened) // it may have been answered in the previous window
	switch {
	case w.reset.IsZero():
		w.open(q.Remaining, at, time.Time{}, now, sent)
	case early && q.Remaining >= 0 && w.least >= 0 && q.Remaining < w.least:
		return false
	case !w.reset.After(now) && sent.Before(w.reset) && !w.refilled(q.Remaining, sent):
		return false // sent before the reset, answered after it: of either window
	case w.outlived(q, sent, admits):
		// The bound was wrong (the server's windows are not on the grid a stated window was
		// taken for): the response's own replaces it.
		w.reset = at
		w.note(q.Remaining, now, sent)
	case w.refilled(q.Remaining, sent) || !w.reset.After(now) || at.After(w.reset.Add(time.Second)):
		w.open(q.Remaining, w.following(at, now, q.Window), now, now, sent)
	default:
		if at.Before(w.reset) && !early {
			w.reset = at
		}
		w.note(q.Remaining, now, sent)
	}
	w.longest = max(w.longest, w.reset.Sub(now))
	return true
}

// note counts a response of the window, of a request sent at sent, that arrived at now saying
// remaining is left.
func (w *quotaWindow) note(remaining int64, now, sent time.Time) {
	if remaining >= 0 && (w.least < 0 || remaining <= w.least) {
		w.least, w.leastAt = remaining, now
	}
	if sent.After(w.lastSent) {
		w.lastSent = sent
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
	return q.Limit-q.Remaining > admits(sent.Sub(w.lastSent))
}

// following bounds the reset of a window after the one w bounded, of which a response that
// arrived at now says it comes by at. A stated window (size) is taken to be fixed, so the reset
// also comes by w.reset plus the fewest windows that reach past now: the earlier of the two
// bounds. With no stated window, at.
func (w *quotaWindow) following(at, now time.Time, size time.Duration) time.Time {
	if size <= 0 {
		return at
	}
	n := max(1, int64(now.Sub(w.reset)/size)+1)
	if next := w.reset.Add(time.Duration(n) * size); next.After(now) && next.Before(at) {
		return next
	}
	return at
}

// open starts a new window, opened at opened, whose reset is bounded by reset and of which a
// response that arrived at now, to a request sent at sent, says remaining is left.
func (w *quotaWindow) open(remaining int64, reset, opened, now, sent time.Time) {
	w.reset, w.opened, w.least, w.leastAt, w.lastSent = reset, opened, remaining, now, sent
}
