package workerfleet

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// JobPath is the path a test gives the job of the given line and priority, so that the upstream
// can tell them when the job arrives.
func JobPath(line, priority int) string { return fmt.Sprintf("/jobs/%d/p%d", line, priority) }

// Arrival is one job's request as the upstream saw it.
type Arrival struct {
	At       time.Time // the server's time.Now as its handler began (it carries the monotonic clock)
	Job      string    // the job's id, from Idempotency-Key: weir-<id>, which the worker sets
	Worker   string    // the worker that sent it, from the header named by NewUpstream
	Line     int       // from the path (see JobPath)
	Priority int
}

// SortedByTime returns a copy of the arrivals in the order of their times.
func SortedByTime(arrivals []Arrival) []Arrival {
	s := slices.Clone(arrivals)
	slices.SortStableFunc(s, func(a, b Arrival) int { return a.At.Compare(b.At) })
	return s
}

// Upstream is a loopback HTTP server standing in for the API that a fleet's jobs call: it records
// every request, then answers 200 with the job's id after a delay. It is safe for concurrent use.
type Upstream struct {
	// URL is the server's base URL, for the upstream profile's base_url.
	URL string

	workerHeader string
	delay        func() time.Duration

	mu       sync.Mutex
	arrivals []Arrival
	jobs     map[string]bool
	bad      []string
	arrived  chan struct{} // closed and replaced on every arrival
}

// NewUpstream starts an Upstream that reads the sender's name from workerHeader and answers each
// request after delay() (which must be safe for concurrent use). It closes when tb's test ends.
func NewUpstream(tb testing.TB, workerHeader string, delay func() time.Duration) *Upstream {
	tb.Helper()
	u := &Upstream{workerHeader: workerHeader, delay: delay, jobs: map[string]bool{}, arrived: make(chan struct{})}
	srv := httptest.NewServer(http.HandlerFunc(u.serve))
	tb.Cleanup(srv.Close)
	u.URL = srv.URL
	return u
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	a := Arrival{At: time.Now(), Worker: r.Header.Get(u.workerHeader)} // first: nothing may delay it
	id, okID := strings.CutPrefix(r.Header.Get("Idempotency-Key"), "weir-")
	_, err := fmt.Sscanf(r.URL.Path, "/jobs/%d/p%d", &a.Line, &a.Priority)
	u.mu.Lock()
	if !okID || id == "" || err != nil {
		u.bad = append(u.bad, fmt.Sprintf("%s %s (Idempotency-Key %q)", r.Method, r.URL, r.Header.Get("Idempotency-Key")))
		u.mu.Unlock()
		http.Error(w, "not a job", http.StatusBadRequest)
		return
	}
	a.Job = id
	u.arrivals = append(u.arrivals, a)
	u.jobs[id] = true
	close(u.arrived)
	u.arrived = make(chan struct{})
	u.mu.Unlock()
	time.Sleep(u.delay())
	_, _ = io.WriteString(w, id)
}

// Arrivals returns the arrivals so far, in the order they were recorded.
func (u *Upstream) Arrivals() []Arrival {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.arrivals)
}

// Count returns how many requests have arrived.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.arrivals)
}

// Distinct returns how many distinct jobs have arrived.
func (u *Upstream) Distinct() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.jobs)
}

// Rejected describes the requests that were no job (no weir- Idempotency-Key, or another path).
func (u *Upstream) Rejected() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	return slices.Clone(u.bad)
}

// WaitCount waits until at least n requests have arrived, or ctx ends.
func (u *Upstream) WaitCount(ctx context.Context, n int) {
	for {
		u.mu.Lock()
		count, arrived := len(u.arrivals), u.arrived
		u.mu.Unlock()
		if count >= n {
			return
		}
		select {
		case <-arrived:
		case <-ctx.Done():
			return
		}
	}
}
