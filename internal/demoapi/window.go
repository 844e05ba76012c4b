package demoapi

import "time"

// fixedWindow is the simplest limiter a real API might run: at most limit requests per window of
// the given size, windows aligned to the clock. It lets up to twice the limit through around a
// window edge, which is exactly the kind of upstream a careful client must not lean on.
type fixedWindow struct {
	limit int
	size  time.Duration
	start time.Time // of the current window
	count int
}

// allow counts a request at now and reports whether the window admits it, how many more it would
// admit, and how long until the next window opens.
func (w *fixedWindow) allow(now time.Time) (ok bool, remaining int, reset time.Duration) {
	start := now.Truncate(w.size)
	if !start.Equal(w.start) {
		w.start, w.count = start, 0
	}
	reset = start.Add(w.size).Sub(now)
	if w.count >= w.limit {
		return false, 0, reset
	}
	w.count++
	return true, w.limit - w.count, reset
}
