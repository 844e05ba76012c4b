package vendorapi

import (
	"math"
	"time"
)

// window counts what one fixed window, aligned to the Unix epoch, has admitted.
type window struct {
	size     int64 // seconds
	index    int64 // of the window being counted
	requests int
	tokens   int64
}

func newWindow(size time.Duration) *window {
	return &window{size: int64(size / time.Second), index: math.MinInt64}
}

// roll moves w to the window holding now and returns that window's index. Windows only move
// forward: if the clock steps back, the request counts against the latest window, so a step back
// never frees quota.
func (w *window) roll(now time.Time) int64 {
	if k := windowIndex(now, w.size); k > w.index {
		w.index, w.requests, w.tokens = k, 0, 0
	}
	return w.index
}

// end is when the current window closes: a whole Unix second.
func (w *window) end() time.Time { return windowStart(w.index+1, w.size) }

// windowIndex is k such that t lies in [k·size, (k+1)·size) seconds of Unix time.
func windowIndex(t time.Time, size int64) int64 {
	s := t.Unix() // floors: the nanoseconds of a time.Time always count forward
	k := s / size
	if s%size < 0 {
		k--
	}
	return k
}

func windowStart(k, size int64) time.Time { return time.Unix(k*size, 0) }
