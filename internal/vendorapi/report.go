package vendorapi

import (
	"math"
	"net/http"
	"time"
)

// Report sums up what a server has seen, for checking a client against the server's limit.
type Report struct {
	// Served counts admitted requests (200), Rejected rate-limit rejections (403 for GitHub, 429
	// otherwise, Discord's global ones included) and Invalid the rest: OpenAI's 400s for a cost no
	// window can hold, which are neither.
	Served, Rejected, Invalid int
	// First is the first arrival and LastServed the last admitted one; zero when there was none.
	First, LastServed time.Time
	// FirstRejection is when the first rejection came; zero when there was none.
	FirstRejection time.Time
	// RejectionsByWindow counts rejections by the index of the window that made them (for Discord,
	// route rejections only, every route together).
	RejectionsByWindow map[int64]int
	// GlobalRejectionsByWindow counts Discord's global rejections by the index of their global
	// window; empty for the other kinds.
	GlobalRejectionsByWindow map[int64]int
	// WorstAfterFirst is the most rejections in one window strictly after the window of the first
	// rejection: a client that learnt from the first one should never exceed 1. For Discord it is
	// the larger of the two maps' worst, each counted after its own first rejection's window.
	WorstAfterFirst int
}

// Report returns what the server has seen so far.
func (s *Server) Report() Report {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := Report{RejectionsByWindow: make(map[int64]int), GlobalRejectionsByWindow: make(map[int64]int)}
	var route, global afterFirst
	for i, a := range s.arrivals {
		if i == 0 {
			r.First = a.At
		}
		switch a.Status {
		case http.StatusOK:
			r.Served++
			r.LastServed = a.At
		case s.reject:
			if r.Rejected == 0 {
				r.FirstRejection = a.At
			}
			r.Rejected++
			if a.Global {
				r.GlobalRejectionsByWindow[a.Window]++
				global.note(a.Window, r.GlobalRejectionsByWindow[a.Window])
			} else {
				r.RejectionsByWindow[a.Window]++
				route.note(a.Window, r.RejectionsByWindow[a.Window])
			}
		default:
			r.Invalid++
		}
	}
	r.WorstAfterFirst = max(route.worst, global.worst)
	return r
}

// afterFirst tracks the worst count of rejections in a window after the first rejection's window.
type afterFirst struct {
	seen  bool
	first int64 // the first rejection's window
	worst int
}

func (f *afterFirst) note(window int64, count int) {
	if !f.seen {
		f.seen, f.first = true, window
	}
	if window > f.first {
		f.worst = max(f.worst, count)
	}
}

// never is what Ideal returns when the requests can never all be admitted.
const never = time.Duration(math.MaxInt64)

// Ideal is the shortest possible time from the first arrival, at first, to the last admitted one
// for n requests each costing cost tokens (cost matters only for OpenAI), given that the window
// containing first still has its full quota and each later window admits its full quota at its
// start. For OpenAI a window admits as many requests as both quotas allow; if one request's cost
// exceeds TokenQuota, no window can admit it and Ideal returns the largest Duration. For Discord
// the requests are taken to go to one route, and with a global limit Ideal is the larger of what
// the route and the global limit allow.
func (s *Server) Ideal(first time.Time, n int, cost int64) time.Duration {
	perWindow := int64(s.cfg.Quota)
	if s.kind == OpenAI && cost > 0 {
		perWindow = min(perWindow, s.cfg.TokenQuota/cost)
	}
	d := idealSpan(first, n, perWindow, int64(s.cfg.Window/time.Second))
	if s.kind == Discord && s.cfg.GlobalQuota > 0 {
		d = max(d, idealSpan(first, n, int64(s.cfg.GlobalQuota), int64(s.cfg.GlobalWindow/time.Second)))
	}
	return d
}

// idealSpan is the time from first to the start of the window that admits the n-th request, when
// the window holding first and every later one admit perWindow each.
func idealSpan(first time.Time, n int, perWindow, size int64) time.Duration {
	switch {
	case n <= 0:
		return 0
	case perWindow <= 0:
		return never
	case int64(n) <= perWindow:
		return 0
	}
	later := (int64(n) - perWindow + perWindow - 1) / perWindow // windows needed after the first
	return windowStart(windowIndex(first, size)+later, size).Sub(first)
}
