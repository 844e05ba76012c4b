package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

// The deadline of every call in the unavailability tests, and how late past it a call may
// return: the scheduler's and the race detector's share, on a loaded machine.
const (
	callDeadline = 300 * time.Millisecond
	callLateness = 200 * time.Millisecond
)

// callResult is one call's outcome under load.
type callResult struct {
	op   string
	took time.Duration
	err  error
}

// loadStore calls every operation of s from several goroutines, each call with its own deadline,
// for d, and returns what every call did.
func loadStore(s *weirredis.Store, d time.Duration) []callResult {
	var (
		mu      sync.Mutex
		results []callResult
		wg      sync.WaitGroup
	)
	stop := time.Now().Add(d)
	limits := []store.Limit{store.PerSecond(1_000_000)}
	p := store.BreakerPolicy{ConsecutiveFailures: -1}
	for w := range 4 {
		wg.Go(func() {
			for i := 0; time.Now().Before(stop); i++ {
				key := fmt.Sprintf("unavailable-%d", (w+i)%3) // shared keys: the line at work
				ctx, cancel := context.WithTimeout(context.Background(), callDeadline)
				start := time.Now()
				var op string
				var err error
				switch i % 4 {
				case 0, 1:
					op = "Take"
					_, err = s.Take(ctx, key, limits, 1)
				case 2:
					op = "Block"
					err = s.Block(ctx, key, time.Now().Add(-time.Second))
				default:
					op = "Acquire+Record"
					var pm store.Permit
					pm, err = s.Acquire(ctx, key, p)
					if err == nil {
						_, err = s.Record(ctx, key, p, pm, store.Success)
					}
				}
				took := time.Since(start)
				cancel()
				mu.Lock()
				results = append(results, callResult{op, took, err})
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return results
}

// requireAllOK requires every call to have succeeded.
func requireAllOK(t *testing.T, phase string, results []callResult) {
	t.Helper()
	require.NotEmpty(t, results, phase)
	for _, r := range results {
		require.NoError(t, r.err, "%s: %s", phase, r.op)
	}
	t.Logf("%s: %d calls, all answered", phase, len(results))
}

// requireUnavailable requires every call that failed to have failed with store.ErrUnavailable
// within its deadline, and at least one to have failed.
func requireUnavailable(t *testing.T, phase string, results []callResult) {
	t.Helper()
	failed, slowest := 0, time.Duration(0)
	for _, r := range results {
		slowest = max(slowest, r.took)
		require.LessOrEqual(t, r.took, callDeadline+callLateness, "%s: %s took %v (err %v)", phase, r.op, r.took, r.err)
		if r.err != nil {
			failed++
			require.ErrorIs(t, r.err, store.ErrUnavailable, "%s: %s", phase, r.op)
		}
	}
	require.Positive(t, failed, "%s: no call failed", phase)
	t.Logf("%s: %d calls, %d failed with ErrUnavailable, the slowest took %v", phase, len(results), failed, slowest)
}

// recovers measures how long after now a Take succeeds again, calling every few milliseconds.
func recovers(t *testing.T, s *weirredis.Store, within time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	var last error
	for time.Since(start) < within {
		ctx, cancel := context.WithTimeout(context.Background(), callDeadline)
		_, last = s.Take(ctx, "unavailable-0", []store.Limit{store.PerSecond(1_000_000)}, 1)
		cancel()
		if last == nil {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no Take succeeded within %v; the last error: %v", within, last)
	return 0
}

// TestUnavailableWhenRedisDies kills the store's Redis in the middle of a load, freezes it, and
// starts it again: while it is gone every call fails with store.ErrUnavailable by its deadline
// (none hangs, none panics), and once it is back the calls succeed again within 2 s, with no
// help from the test (the restarted server has forgotten the scripts too).
func TestUnavailableWhenRedisDies(t *testing.T) {
	srv := startOwnRedis(t)
	// A client as a user would make it, with go-redis's defaults (retries, dial timeout 5 s):
	// the caller's deadline must bound them.
	rdb := goredis.NewClient(&goredis.Options{Addr: srv.addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := weirredis.New(rdb, weirredis.Options{Prefix: testPrefix(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })

	requireAllOK(t, "up", loadStore(s, 300*time.Millisecond))

	if srv.real() {
		// Killed mid-run.
		killed := make(chan struct{})
		go func() {
			time.Sleep(200 * time.Millisecond)
			srv.kill()
			close(killed)
		}()
		results := loadStore(s, time.Second)
		<-killed
		requireUnavailable(t, "killed", results)
	} else {
		// miniredis closed under a running script fails that script with its own internal
		// error, which no real server would send: it stops between the loads.
		srv.kill()
	}
	requireUnavailable(t, "dead", loadStore(s, 500*time.Millisecond))

	srv.start()
	t.Logf("restarted: a Take succeeded after %v", recovers(t, s, 2*time.Second))
	requireAllOK(t, "restarted", loadStore(s, 300*time.Millisecond))

	if !srv.real() {
		t.Log("miniredis cannot be frozen: the freeze is tested with redis-server only")
		return
	}
	// Frozen: the connections stay open but nothing answers.
	srv.freeze()
	thawed := false
	defer func() {
		if !thawed {
			srv.thaw()
		}
	}()
	requireUnavailable(t, "frozen", loadStore(s, time.Second))
	srv.thaw()
	thawed = true
	t.Logf("thawed: a Take succeeded after %v", recovers(t, s, 2*time.Second))
	requireAllOK(t, "thawed", loadStore(s, 300*time.Millisecond))
}

// TestBadInputNeedsNoServer sends bad input to a store whose server is gone: the store rejects it
// before any round trip, with the error that names the fault, not with ErrUnavailable.
func TestBadInputNeedsNoServer(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", freePort(t)), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := weirredis.New(rdb, weirredis.Options{Prefix: testPrefix(t)})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	ctx := t.Context()
	good := store.PerSecond(10)

	for _, c := range []struct {
		name   string
		key    string
		limits []store.Limit
		n      int64
		want   error
		names  string
	}{
		{"empty key", "", []store.Limit{good}, 1, store.ErrInvalid, "key"},
		{"no limits", "k", nil, 1, store.ErrInvalid, "limits"},
		{"zero rate", "k", []store.Limit{{Requests: 0, Per: time.Second}}, 1, store.ErrInvalid, "Requests"},
		{"negative rate", "k", []store.Limit{{Requests: -1, Per: time.Second}}, 1, store.ErrInvalid, "Requests"},
		{"zero period", "k", []store.Limit{{Requests: 1}}, 1, store.ErrInvalid, "Per"},
		{"negative burst", "k", []store.Limit{good, {Requests: 5, Per: time.Second, Burst: -1}}, 1, store.ErrInvalid, "Burst"},
		{"negative cost", "k", []store.Limit{good}, -1, store.ErrInvalid, "cost"},
		{"cost above one burst", "k", []store.Limit{good, store.PerSecond(5)}, 6, store.ErrNeverAllowed, "burst"},
		{"cost above every burst", "k", []store.Limit{good, store.PerSecond(5)}, 11, store.ErrNeverAllowed, "burst"},
	} {
		start := time.Now()
		d, err := s.Take(ctx, c.key, c.limits, c.n)
		require.ErrorIs(t, err, c.want, c.name)
		require.NotErrorIs(t, err, store.ErrUnavailable, c.name)
		require.ErrorContains(t, err, c.names, c.name)
		require.False(t, d.Allowed, c.name)
		if errors.Is(err, store.ErrNeverAllowed) {
			require.Negative(t, d.RetryAfter, "%s: no wait will do", c.name)
		}
		require.Less(t, time.Since(start), 250*time.Millisecond, "%s: no round trip", c.name)
	}

	require.ErrorIs(t, s.Block(ctx, "", time.Now().Add(time.Second)), store.ErrInvalid)
	for _, p := range []store.BreakerPolicy{{FailureRate: 2}, {OpenTimeout: -time.Second}} {
		_, err := s.Acquire(ctx, "b", p)
		require.ErrorIs(t, err, store.ErrInvalid)
		_, err = s.BreakerStatus(ctx, "b", p)
		require.ErrorIs(t, err, store.ErrInvalid)
	}
	_, err = s.Acquire(ctx, "", store.BreakerPolicy{})
	require.ErrorIs(t, err, store.ErrInvalid)
}
