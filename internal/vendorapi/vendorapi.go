// Package vendorapi serves loopback HTTP APIs that limit and describe their limits the way real
// vendors do (GitHub, X, Reddit, Discord, OpenAI, the IETF RateLimit fields, a bare Retry-After
// date, nothing at all), so that a client's learning from those signals can be tested end to end.
//
// Every kind limits with fixed windows aligned to the Unix epoch and records every arrival, so a
// test can check afterwards, from the server's side, how often it was pushed past its limit and how
// close the work came to the fastest the quota allows (Report, Ideal).
package vendorapi

import (
	"fmt"
	"hash/fnv"
	"net/http"
	"sync"
	"time"
)

// Arrival is one request as the server saw it.
type Arrival struct {
	At     time.Time // the server's clock when it decided the request
	Path   string    // the request's URL path (Discord's route)
	Status int       // what the server answered
	Cost   int64     // tokens asked for (OpenAI's max_tokens); 1 for the other kinds
	// Window is the index k of the window that decided the request, the one covering
	// [k·Window, (k+1)·Window) of Unix time; for a Discord global rejection it is the index of the
	// global window, counted in GlobalWindow.
	Window int64
	Global bool // rejected by Discord's global limit
}

// Server imitates one kind of vendor API. It is an http.Handler answering every path, and it is
// safe for concurrent use.
type Server struct {
	kind   Kind
	cfg    Config
	reject int // the status of a rate-limit rejection

	mu       sync.Mutex
	window   *window           // every kind but Discord
	routes   map[string]*route // Discord: one bucket per path
	global   *window           // Discord's global limit; nil when off
	arrivals []Arrival
}

// route is one of Discord's per-route buckets.
type route struct {
	*window
	id string // X-RateLimit-Bucket
}

// New validates cfg for kind and returns a Server with empty windows.
func New(kind Kind, cfg Config) (*Server, error) {
	if !kind.known() {
		return nil, fmt.Errorf("%w %q (want one of %s)", ErrUnknownKind, string(kind), kindList())
	}
	if err := cfg.validate(kind); err != nil {
		return nil, err
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	s := &Server{kind: kind, cfg: cfg, reject: http.StatusTooManyRequests}
	if kind == GitHub {
		s.reject = http.StatusForbidden
	}
	if kind == Discord {
		s.routes = make(map[string]*route)
		if cfg.GlobalQuota > 0 {
			s.global = newWindow(cfg.GlobalWindow)
		}
	} else {
		s.window = newWindow(cfg.Window)
	}
	return s, nil
}

// Kind returns the kind the server imitates.
func (s *Server) Kind() Kind { return s.kind }

// ServeHTTP decides the request against the server's windows, records it and answers as the
// server's kind does: 200 with {"ok":true,"n":<arrival number>} when admitted.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	cost := int64(1)
	if s.kind == OpenAI {
		cost = tokenCost(r.Body)
	}
	s.respond(w, s.admit(r.URL.Path, cost))
}

// Arrivals returns a copy of every arrival so far, in arrival order.
func (s *Server) Arrivals() []Arrival {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Arrival(nil), s.arrivals...)
}

// decision is what the server decided about one request, with everything its answer reports.
type decision struct {
	status int
	n      int       // arrival number, from 1
	now    time.Time // when it was decided
	end    time.Time // when the deciding window closes

	used, limit             int   // requests admitted in the window (this one included), quota
	tokensUsed, tokensLimit int64 // OpenAI
	tokensExceeded          bool  // OpenAI: the 429 is for tokens, not requests
	bucket                  string
	global                  bool // Discord: rejected by the global limit
}

func (d decision) untilEnd() time.Duration { return d.end.Sub(d.now) }

// admit decides a request for path costing cost tokens, charges the windows if it is admitted and
// records it. The clock is read under the lock so that arrival order and time order agree.
func (s *Server) admit(path string, cost int64) decision {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.cfg.Now()
	d := decision{status: http.StatusOK, n: len(s.arrivals) + 1, now: now, limit: s.cfg.Quota, tokensLimit: s.cfg.TokenQuota}
	a := Arrival{At: now, Path: path, Cost: cost}

	win := s.window
	if s.kind == Discord {
		// The global limit is checked first and a global rejection never reaches the route, so it
		// spends no route quota. A request that passes it counts globally even if its route then
		// rejects it: it was made.
		if s.global != nil {
			k := s.global.roll(now)
			if s.global.requests >= s.cfg.GlobalQuota {
				d.status, d.global, d.end = s.reject, true, s.global.end()
				a.Status, a.Window, a.Global = d.status, k, true
				s.arrivals = append(s.arrivals, a)
				return d
			}
			s.global.requests++
		}
		rt := s.route(path)
		win, d.bucket = rt.window, rt.id
	}

	a.Window = win.roll(now)
	d.end = win.end()
	switch {
	case s.kind == OpenAI && cost > s.cfg.TokenQuota:
		d.status = http.StatusBadRequest // no window could ever hold it
	case win.requests >= s.cfg.Quota:
		d.status = s.reject
	case s.kind == OpenAI && win.tokens+cost > s.cfg.TokenQuota:
		d.status, d.tokensExceeded = s.reject, true
	default:
		win.requests++
		win.tokens += cost
	}
	d.used, d.tokensUsed = win.requests, win.tokens
	a.Status = d.status
	s.arrivals = append(s.arrivals, a)
	return d
}

// route returns path's Discord bucket, making it on first use.
func (s *Server) route(path string) *route {
	rt, ok := s.routes[path]
	if !ok {
		rt = &route{window: newWindow(s.cfg.Window), id: bucketID(path)}
		s.routes[path] = rt
	}
	return rt
}

// bucketID is a stable hex name for a route's bucket, the same in every process and every run.
func bucketID(path string) string {
	h := fnv.New64a()
	_, _ = h.Write([]byte(path)) // a hash.Hash never fails to write
	return fmt.Sprintf("%016x", h.Sum64())
}
