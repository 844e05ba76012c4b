package client_test

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/internal/slowlink"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

// slowStore returns a Redis store on a miniredis reached through a slowlink.Link holding replies for
// delay, and the link.
func slowStore(t *testing.T, delay time.Duration, opts weirredis.Options) (*weirredis.Store, *slowlink.Link) {
	t.Helper()
	link := slowlink.New(t, miniredis.RunT(t).Addr(), delay)
	rdb := goredis.NewClient(&goredis.Options{Addr: link.Addr(), ContextTimeoutEnabled: true})
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

	link.SetDelay(0)
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

	link.SetDelay(time.Hour) // the server hangs, as far as the store can tell
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
