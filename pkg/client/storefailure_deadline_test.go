package client_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

// slowLink is a loopback TCP proxy in front of a Redis server that holds every byte of the
// server's replies for a delay before passing it on, in order: a slow server or network, as the
// store sees it. Requests pass at once. It is safe for concurrent use.
type slowLink struct {
	ln    net.Listener
	to    string
	delay atomic.Int64 // ns
	mu    sync.Mutex
	conns []net.Conn
	quit  chan struct{} // closed by close: held replies are dropped
	wg    sync.WaitGroup
}

// newSlowLink starts a link to the server at addr, closed when the test ends.
func newSlowLink(tb testing.TB, addr string, delay time.Duration) *slowLink {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	l := &slowLink{ln: ln, to: addr, quit: make(chan struct{})}
	l.delay.Store(int64(delay))
	l.wg.Go(l.accept)
	tb.Cleanup(l.close)
	return l
}

func (l *slowLink) addr() string { return l.ln.Addr().String() }

// setDelay changes how long replies are held from now on.
func (l *slowLink) setDelay(d time.Duration) { l.delay.Store(int64(d)) }

func (l *slowLink) accept() {
	for {
		c, err := l.ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", l.to)
		if err != nil {
			_ = c.Close()
			continue
		}
		l.mu.Lock()
		l.conns = append(l.conns, c, u)
		l.mu.Unlock()
		l.wg.Go(func() {
			_, _ = io.Copy(u, c)
			_ = u.Close()
		})
		l.wg.Go(func() { l.hold(c, u) })
	}
}

// hold passes what the server u writes on to the client c, each chunk delay after it arrived.
func (l *slowLink) hold(c, u net.Conn) {
	type chunk struct {
		due time.Time
		b   []byte
	}
	chunks := make(chan chunk, 4096)
	l.wg.Go(func() {
		defer close(chunks)
		for {
			b := make([]byte, 32<<10)
			n, err := u.Read(b)
			if n > 0 {
				chunks <- chunk{time.Now().Add(time.Duration(l.delay.Load())), b[:n]}
			}
			if err != nil {
				return
			}
		}
	})
	for k := range chunks {
		select {
		case <-time.After(time.Until(k.due)):
		case <-l.quit:
		}
		if _, err := c.Write(k.b); err != nil {
			break
		}
	}
	_ = c.Close()
	_ = u.Close()
	for range chunks { // the reader stops once u is closed
	}
}

func (l *slowLink) close() {
	close(l.quit)
	_ = l.ln.Close()
	l.mu.Lock()
	for _, c := range l.conns {
		_ = c.Close()
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// slowStore returns a Redis store on a miniredis reached through a slowLink holding replies for
// delay, and the link.
func slowStore(t *testing.T, delay time.Duration, opts weirredis.Options) (*weirredis.Store, *slowLink) {
	t.Helper()
	link := newSlowLink(t, miniredis.RunT(t).Addr(), delay)
	rdb := goredis.NewClient(&goredis.Options{Addr: link.addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := weirredis.New(rdb, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st, link
}

// TestCallersSharedDeadlineDoesNotTakeTheStoreAway has many callers of one client, each with a
// context of its own but all with one deadline, call through a store slower than that deadline:
// their takes of one key share the store's script calls, which run out of time with them. Those
// are the callers' deadlines, not a store outage: under FailClosed a later caller with a fresh
// context is still served, and no store failure is counted.
func TestCallersSharedDeadlineDoesNotTakeTheStoreAway(t *testing.T) {
	u := newUpstream(t, nil)
	// The store's own timeout at its default: only the callers' deadlines are short.
	st, link := slowStore(t, 120*time.Millisecond, weirredis.Options{})
	c := newClient(t, client.Config{Name: "shared-deadline", Store: st, Limits: []store.Limit{store.PerSecond(1_000_000)},
		OnStoreFailure: client.FailClosed, StoreRetryInterval: time.Minute})
	const callers = 24
	for round := range 12 {
		deadline := time.Now().Add(40 * time.Millisecond)
		errs := make([]error, callers)
		var wg sync.WaitGroup
		for i := range callers {
			wg.Go(func() {
				ctx, cancel := context.WithDeadline(context.Background(), deadline)
				defer cancel()
				errs[i] = get(t, c, ctx, u.URL)
			})
		}
		wg.Wait()
		for i, err := range errs {
			require.Error(t, err, "round %d, caller %d: the store is slower than the deadline", round, i)
		}
		require.Zero(t, c.Stats().StoreFailures, "round %d: the callers' deadlines counted as store failures", round)
	}

	link.setDelay(0)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := get(t, c, ctx, u.URL)
	require.False(t, errors.Is(err, store.ErrUnavailable), "a fresh caller is refused: %v", err)
	require.NoError(t, err)
	assert.Zero(t, c.Stats().StoreFailures)
}

// TestSlowStoreIsStillDown is the other side: a store that does not answer within its own
// timeout, while the callers' deadlines are far off, is down. Under FailClosed the callers get
// store.ErrUnavailable, the failure is counted, and the next caller is refused at once, without
// waiting for the store.
func TestSlowStoreIsStillDown(t *testing.T) {
	u := newUpstream(t, nil)
	st, link := slowStore(t, 0, weirredis.Options{Timeout: 50 * time.Millisecond})
	c := newClient(t, client.Config{Name: "slow-store", Store: st, Limits: []store.Limit{store.PerSecond(1_000_000)},
		OnStoreFailure: client.FailClosed, StoreRetryInterval: time.Minute})
	require.NoError(t, get(t, c, context.Background(), u.URL))

	link.setDelay(time.Hour) // the server hangs, as far as the store can tell
	const callers = 8
	errs := make([]error, callers)
	var wg sync.WaitGroup
	for i := range callers {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			errs[i] = get(t, c, ctx, u.URL)
		})
	}
	wg.Wait()
	for i, err := range errs {
		require.ErrorIs(t, err, store.ErrUnavailable, "caller %d", i)
	}
	require.Positive(t, c.Stats().StoreFailures)

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := get(t, c, ctx, u.URL)
	require.ErrorIs(t, err, store.ErrUnavailable)
	require.ErrorContains(t, err, "store down", "refused at once, without asking the store")
}
