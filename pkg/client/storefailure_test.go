package client_test

import (
	"context"
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

// redisStore returns a Redis store on a miniredis that the test can stop and start again.
func redisStore(t *testing.T) (*miniredis.Miniredis, *weirredis.Store) {
	t.Helper()
	mr := miniredis.RunT(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true,
		DialTimeout: 200 * time.Millisecond, ReadTimeout: 200 * time.Millisecond, MaxRetries: -1})
	t.Cleanup(func() { _ = rdb.Close() })
	s, err := weirredis.New(rdb, weirredis.Options{Timeout: 300 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return mr, s
}

func TestStoreFailurePolicies(t *testing.T) {
	u := newUpstream(t, nil)
	for _, tc := range []struct {
		policy client.StoreFailure
		check  func(t *testing.T, c *client.Client, err error, sentBefore, sentAfter int)
	}{
		{client.FailClosed, func(t *testing.T, c *client.Client, err error, before, after int) {
			require.ErrorIs(t, err, store.ErrUnavailable)
			assert.Equal(t, before, after, "nothing went out unlimited")
		}},
		{client.FailOpen, func(t *testing.T, c *client.Client, err error, before, after int) {
			require.NoError(t, err)
			assert.Equal(t, before+1, after)
		}},
		{client.FallBackLocal, func(t *testing.T, c *client.Client, err error, before, after int) {
			require.NoError(t, err, "the local share of the limit admits it")
			assert.Equal(t, before+1, after)
		}},
	} {
		t.Run(tc.policy.String(), func(t *testing.T) {
			mr, st := redisStore(t)
			c := newClient(t, client.Config{
				Name: "flaky-" + tc.policy.String(), Store: st, Limits: []store.Limit{store.PerSecond(100)},
				OnStoreFailure: tc.policy, LocalShare: 0.1, StoreRetryInterval: 200 * time.Millisecond,
			})
			require.NoError(t, get(t, c, context.Background(), u.URL))

			mr.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			before := u.count()
			start := time.Now()
			err := get(t, c, ctx, u.URL)
			assert.Less(t, time.Since(start), 2*time.Second, "nothing hangs")
			tc.check(t, c, err, before, u.count())
			assert.Positive(t, c.Stats().StoreFailures)

			if tc.policy == client.FallBackLocal {
				// 10 of the limit's 100 burst are this process's share while the store is away.
				admitted := 0
				for range 30 {
					ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
					if get(t, c, ctx, u.URL) == nil {
						admitted++
					}
					cancel()
				}
				assert.LessOrEqual(t, admitted, 10+2, "the local limiter holds the share") // + refill over the loop
			}

			require.NoError(t, mr.Restart())
			recovered := time.Now()
			eventually(t, func() bool {
				ctx, cancel := context.WithTimeout(context.Background(), time.Second)
				defer cancel()
				failures := c.Stats().StoreFailures
				return get(t, c, ctx, u.URL) == nil && c.Stats().StoreFailures == failures
			}, "service through the store again")
			assert.Less(t, time.Since(recovered), 2*time.Second, "service resumes within 2 s")
			keys := mr.Keys()
			assert.NotEmpty(t, keys, "the limit lives in Redis again")
		})
	}
}

func TestLocalShareIsRequiredForFallback(t *testing.T) {
	_, err := client.New(client.Config{OnStoreFailure: client.FallBackLocal})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "LocalShare")
}

func TestACallersShortDeadlineDoesNotTakeTheStoreAway(t *testing.T) {
	u := newUpstream(t, nil)
	// The store's own timeouts at their defaults: only the callers' deadlines are short.
	mr := miniredis.RunT(t)
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	st, err := weirredis.New(rdb, weirredis.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	c := newClient(t, client.Config{Name: "short", Store: st, Limits: []store.Limit{store.PerSecond(100)}})
	for range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), time.Microsecond)
		_ = get(t, c, ctx, u.URL)
		cancel()
	}
	require.NoError(t, get(t, c, context.Background(), u.URL), "the store is still up for everyone else")
	assert.Zero(t, c.Stats().StoreFailures)
}
