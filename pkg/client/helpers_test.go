package client_test

import (
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/client"
)

// upstream is a real loopback server whose behaviour each test scripts, recording every arrival.
type upstream struct {
	*httptest.Server
	mu       sync.Mutex
	arrivals []arrival
	handle   func(n int, w http.ResponseWriter, r *http.Request) // n counts arrivals from 0
}

type arrival struct {
	at       time.Time
	priority string
}

func newUpstream(tb testing.TB, handle func(n int, w http.ResponseWriter, r *http.Request)) *upstream {
	tb.Helper()
	u := &upstream{handle: handle}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		u.mu.Lock()
		n := len(u.arrivals)
		u.arrivals = append(u.arrivals, arrival{at: time.Now(), priority: r.Header.Get("X-Priority")})
		handle := u.handle
		u.mu.Unlock()
		if handle == nil {
			w.WriteHeader(http.StatusOK)
			return
		}
		handle(n, w, r)
	}))
	tb.Cleanup(u.Close)
	return u
}

// setHandle changes the server's behaviour while it runs.
func (u *upstream) setHandle(h func(n int, w http.ResponseWriter, r *http.Request)) {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.handle = h
}

func (u *upstream) count() int {
	u.mu.Lock()
	defer u.mu.Unlock()
	return len(u.arrivals)
}

func (u *upstream) order() []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	out := make([]string, len(u.arrivals))
	for i, a := range u.arrivals {
		out[i] = a.priority
	}
	return out
}

// hangUp drops the connection without a response: a connection failure as the client sees it.
func hangUp(tb testing.TB, w http.ResponseWriter) {
	conn, _, err := w.(http.Hijacker).Hijack()
	if err != nil {
		tb.Errorf("hijack: %v", err)
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // a reset, not a polite close
	}
	_ = conn.Close()
}

func newClient(tb testing.TB, cfg client.Config) *client.Client {
	tb.Helper()
	c, err := client.New(cfg)
	require.NoError(tb, err)
	tb.Cleanup(func() { _ = c.Close() })
	return c
}

// eventually polls cond until it holds or a generous deadline passes.
func eventually(tb testing.TB, cond func() bool, what string) {
	tb.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(time.Millisecond)
	}
}
