// Package demoapi is a small HTTP API that behaves like a real quota'd upstream, for the worker's
// demo and for tests: it enforces its own rate limit (429 with Retry-After beyond it) and says so on
// every response in the IETF draft's fields (RateLimit-Policy and RateLimit), fails now and then
// (503), answers slowly now and then, and records every arrival so that a caller can check what the
// API actually saw.
package demoapi

import (
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/weir-go/weir/pkg/clock"
)

// Defaults of Config's zero fields.
const (
	DefaultLimit     = 60
	DefaultWindow    = time.Second
	DefaultSlowDelay = 200 * time.Millisecond
)

// Config describes how the API behaves. Zero fields mean the defaults named in their comments.
type Config struct {
	// Limit is how many requests one fixed window admits; the rest get 429 with a Retry-After
	// until the next window. Default 60.
	Limit int
	// Window is the length of the fixed windows, a whole number of seconds (the IETF fields count
	// in seconds), aligned to the clock. Default 1 s.
	Window time.Duration
	// FailureRate is the share of admitted requests answered 503, in [0, 1]. Default 0.
	FailureRate float64
	// SlowRate is the share of admitted requests answered only after SlowDelay, in [0, 1].
	// Default 0.
	SlowRate float64
	// SlowDelay is how long a slow answer takes. Default 200 ms.
	SlowDelay time.Duration
	// Seed fixes which admitted requests fail or are slow: the k-th admitted request meets the
	// same fate in every run with the same seed, whatever the timing.
	Seed uint64
	// Clock is the API's time source, for its windows, its slow answers and its arrival record.
	// Nil means the system clock.
	Clock clock.Clock
}

// Arrival is one request as the API saw it.
type Arrival struct {
	At     time.Time // when the request reached the handler
	Status int       // what the API answered
}

// API is the demo API's handler. It is safe for concurrent use.
type API struct {
	cfg Config

	mu       sync.Mutex
	window   fixedWindow
	fate     *rand.Rand // drawn once per admitted request, in admission order
	admitted int
	arrivals []Arrival
}

// New validates cfg and returns the API.
func New(cfg Config) (*API, error) {
	if cfg.Limit == 0 {
		cfg.Limit = DefaultLimit
	}
	if cfg.Window == 0 {
		cfg.Window = DefaultWindow
	}
	if cfg.SlowDelay == 0 {
		cfg.SlowDelay = DefaultSlowDelay
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	share := func(v float64) bool { return !math.IsNaN(v) && v >= 0 && v <= 1 }
	switch {
	case cfg.Limit < 0:
		return nil, fmt.Errorf("weir/demoapi: Config.Limit must be ≥ 1, got %d", cfg.Limit)
	case cfg.Window < 0 || cfg.Window%time.Second != 0:
		return nil, fmt.Errorf("weir/demoapi: Config.Window must be a whole number of seconds, got %v", cfg.Window)
	case !share(cfg.FailureRate):
		return nil, fmt.Errorf("weir/demoapi: Config.FailureRate must be in [0, 1], got %v", cfg.FailureRate)
	case !share(cfg.SlowRate):
		return nil, fmt.Errorf("weir/demoapi: Config.SlowRate must be in [0, 1], got %v", cfg.SlowRate)
	case cfg.SlowDelay < 0:
		return nil, fmt.Errorf("weir/demoapi: Config.SlowDelay must be ≥ 0, got %v", cfg.SlowDelay)
	}
	return &API{
		cfg:    cfg,
		window: fixedWindow{limit: cfg.Limit, size: cfg.Window},
		fate:   rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15)),
	}, nil
}

// ServeHTTP answers every path the same way: 429 over the limit, else 503, a slow 200 or a 200 as
// the seeded fate says.
func (a *API) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	now := a.cfg.Clock.Now()
	status, slow, n, remaining, wait := a.admit(now)
	// The quota on every response, as the IETF draft writes it: the policy (q per w seconds) and
	// what is left of it, with the seconds until more (t, whole seconds rounded up).
	w.Header().Set("RateLimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, a.cfg.Limit, int64(a.cfg.Window/time.Second)))
	w.Header().Set("RateLimit", fmt.Sprintf(`"default";r=%d;t=%d`, remaining, int64(math.Ceil(wait.Seconds()))))
	switch status {
	case http.StatusTooManyRequests:
		w.Header().Set("Retry-After", strconv.FormatInt(int64(math.Ceil(wait.Seconds())), 10))
		http.Error(w, "rate limit exceeded", status)
		return
	case http.StatusServiceUnavailable:
		http.Error(w, "temporarily unavailable", status)
		return
	}
	if slow && !clock.Sleep(a.cfg.Clock, a.cfg.SlowDelay, r.Context().Done()) {
		return // the caller gave up
	}
	w.Header().Set("Content-Type", "application/json")
	fmt.Fprintf(w, "{\"ok\":true,\"n\":%d}\n", n)
}

// admit decides a request arriving at now and records it. It returns the status, whether a 200
// is to be slow, the request's admission number (from 1), what is left of the window's quota and
// the wait until the next window.
func (a *API) admit(now time.Time) (status int, slow bool, n, remaining int, wait time.Duration) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ok, remaining, wait := a.window.allow(now)
	status = http.StatusTooManyRequests
	if ok {
		a.admitted++
		n = a.admitted
		// Both draws happen for every admitted request, so the k-th one's fate is fixed by the seed.
		fail, slowDraw := a.fate.Float64(), a.fate.Float64()
		slow = slowDraw < a.cfg.SlowRate
		status = http.StatusOK
		if fail < a.cfg.FailureRate {
			status, slow = http.StatusServiceUnavailable, false
		}
	}
	a.arrivals = append(a.arrivals, Arrival{At: now, Status: status})
	return status, slow, n, remaining, wait
}

// Arrivals returns a copy of every arrival so far, in order.
func (a *API) Arrivals() []Arrival {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]Arrival(nil), a.arrivals...)
}

// Limit returns how many requests one window admits.
func (a *API) Limit() int { return a.cfg.Limit }

// Window returns the length of the API's windows.
func (a *API) Window() time.Duration { return a.cfg.Window }
