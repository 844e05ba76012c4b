package fleet

import (
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// Arrival is one recorded request.
type Arrival struct {
	// At is the server's time.Now when the request arrived (it carries the monotonic clock).
	At time.Time
	// Asked, Granted and Sent are the sender's stamps (see AskedHeader), zero when absent.
	Asked, Granted, Sent time.Time
	// Grant names the call whose token admitted the request (see GrantHeader), "" when absent.
	Grant string
}

// Times returns the arrival times of the arrivals.
func Times(arrivals []Arrival) []time.Time {
	out := make([]time.Time, len(arrivals))
	for i, a := range arrivals {
		out[i] = a.At
	}
	return out
}

// Upstream is a loopback HTTP server that stands in for a rate-limited API shared by a fleet: it
// notes when each request arrives, on its own clock (time.Now, monotonic), and answers with the
// status it is told, or holds every request until released. It is safe for concurrent use.
type Upstream struct {
	// URL is where the fleet sends the requests that count: each one is recorded.
	URL string
	// WarmURL answers 204 at once and is not recorded: for warming connections and scripts up
	// before the measured part of a test.
	WarmURL string

	srv *httptest.Server

	mu       sync.Mutex
	arrivals []Arrival
	status   int
	gate     chan struct{} // non-nil: requests wait until it is closed
	arrived  chan struct{} // closed and replaced on every arrival
}

// NewUpstream starts an Upstream answering 200. It is closed when tb's test ends, after any held
// request has been released.
func NewUpstream(tb testing.TB) *Upstream {
	tb.Helper()
	u := &Upstream{status: http.StatusOK, arrived: make(chan struct{})}
	u.srv = httptest.NewServer(http.HandlerFunc(u.serve))
	u.URL = u.srv.URL + "/api"
	u.WarmURL = u.srv.URL + "/warm"
	tb.Cleanup(func() {
		u.Release()
		u.srv.Close()
	})
	return u
}

func (u *Upstream) serve(w http.ResponseWriter, r *http.Request) {
	now := time.Now() // first, before anything that could delay the record
	if r.URL.Path == "/warm" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	a := Arrival{At: now, Asked: stampOf(r.Header, AskedHeader), Granted: stampOf(r.Header, GrantedHeader),
		Sent: stampOf(r.Header, SentHeader), Grant: r.Header.Get(GrantHeader)}
	u.mu.Lock()
	u.arrivals = append(u.arrivals, a)
	close(u.arrived)
	u.arrived = make(chan struct{})
	gate := u.gate
	u.mu.Unlock()
	if gate != nil {
		select {
		case <-gate:
		case <-r.Context().Done():
			return
		}
	}
	u.mu.Lock()
	status := u.status
	u.mu.Unlock()
	w.WriteHeader(status)
}

// SetStatus makes the server answer code from now on (requests held now answer it too).
func (u *Upstream) SetStatus(code int) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.status = code
}

// Hold makes every request that arrives from now on wait, recorded, until Release.
func (u *Upstream) Hold() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gate == nil {
		u.gate = make(chan struct{})
	}
}

// Release answers the held requests and stops holding new ones.
func (u *Upstream) Release() {
	u.mu.Lock()
	defer u.mu.Unlock()
	if u.gate != nil {
		close(u.gate)
		u.gate = nil
	}
}

// Count returns how many requests have arrived.
func (u *Upstream) Count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.arrivals)
}

// Arrivals returns the requests recorded so far, in the order they were recorded (which, with
// concurrent requests, need not be the order of their times).
func (u *Upstream) Arrivals() []Arrival {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]Arrival(nil), u.arrivals...)
}

// WaitCount waits up to timeout for at least n arrivals, and returns the count then.
func (u *Upstream) WaitCount(n int, timeout time.Duration) int {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		u.mu.Lock()
		count, arrived := len(u.arrivals), u.arrived
		u.mu.Unlock()
		if count >= n {
			return count
		}
		select {
		case <-arrived:
		case <-timer.C:
			return u.Count()
		}
	}
}
