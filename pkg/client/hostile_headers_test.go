package client_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// Servers that say too much: one response must not hold a key for a day, the order of repeated
// fields must not count, a negative remaining is no spent quota, and GitHub's secondary limit is
// a rate limit.

// A spent quota whose reset is absurd (an overflowing number, a garbled epoch) pauses the key for
// MaxPause at most, not for the day headers.MaxDelay allows; a quota running low with such a
// reset is paced no slower than one request per MaxPause, for no longer than a response restates it.
func TestAdaptQuotaResetCapped(t *testing.T) {
	const maxPause = client.DefaultAdaptMaxPause
	for _, reset := range []string{"1e309", "99999999999", "Inf"} {
		t.Run("spent, reset "+reset, func(t *testing.T) {
			u := newUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
				h := w.Header()
				h.Set("X-RateLimit-Limit", "60")
				h.Set("X-RateLimit-Remaining", "0")
				h.Set("X-RateLimit-Reset", reset)
				w.WriteHeader(http.StatusTooManyRequests)
			})
			c, st := adaptClient(t)
			require.Error(t, get(t, c, context.Background(), u.URL))
			now := time.Now()
			l := learnedOf(t, st)
			assert.True(t, l.Paused.After(now.Add(maxPause-10*time.Second)), "the spent quota still pauses the key: %v", l.Paused.Sub(now))
			assert.False(t, l.Paused.After(now.Add(maxPause)), "paused for %v, beyond MaxPause", l.Paused.Sub(now))
		})
	}
	t.Run("low, reset 1e309", func(t *testing.T) {
		u := newUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h.Set("X-RateLimit-Limit", "60")
			h.Set("X-RateLimit-Remaining", "1")
			h.Set("X-RateLimit-Reset", "1e309")
			w.WriteHeader(http.StatusOK)
		})
		c, st := adaptClient(t)
		require.NoError(t, get(t, c, context.Background(), u.URL))
		now := time.Now()
		l := learnedOf(t, st)
		require.NotZero(t, l.Requests.Interval, "the quota running low is paced")
		assert.LessOrEqual(t, l.Requests.Interval, maxPause, "one request per %v", l.Requests.Interval)
		assert.False(t, l.Requests.Until.After(now.Add(2*maxPause)), "the pace lasts %v", l.Requests.Until.Sub(now))
	})
	t.Run("configured", func(t *testing.T) {
		u := newUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h.Set("X-RateLimit-Remaining", "0")
			h.Set("X-RateLimit-Reset", "1e309")
			w.WriteHeader(http.StatusForbidden)
		})
		st := memory.New(memory.Options{})
		t.Cleanup(func() { _ = st.Close() })
		c := newClient(t, client.Config{
			Name:   "adapt",
			Store:  st,
			Limits: []store.Limit{{Requests: 1000, Per: time.Second, Burst: 100}},
			Retry:  client.RetryConfig{MaxRetries: client.NoRetries},
			Adapt:  client.AdaptConfig{MaxPause: 2 * time.Second},
		})
		require.Error(t, get(t, c, context.Background(), u.URL))
		now := time.Now()
		l := learnedOf(t, st)
		assert.True(t, l.Paused.After(now.Add(time.Second)), "paused for %v", l.Paused.Sub(now))
		assert.False(t, l.Paused.After(now.Add(2*time.Second)), "paused for %v, beyond MaxPause", l.Paused.Sub(now))

		_, err := client.New(client.Config{Adapt: client.AdaptConfig{MaxPause: -time.Second}})
		assert.ErrorContains(t, err, "Config.Adapt.MaxPause")
	})
}

// Retry-After sent twice, differently: the client ignores it whatever the order, instead of
// obeying whichever came first.
func TestRetryAfterThatDisagreesIgnored(t *testing.T) {
	for _, lines := range [][]string{{"5", "9"}, {"9", "5"}} {
		u := newUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
			w.Header()["Retry-After"] = lines
			w.WriteHeader(http.StatusTooManyRequests)
		})
		c, st := adaptClient(t)
		err := get(t, c, context.Background(), u.URL)
		now := time.Now()
		var e *client.Error
		require.ErrorAs(t, err, &e)
		assert.Zero(t, e.RetryAfter, "Retry-After %q", lines)
		l := learnedOf(t, st)
		assert.True(t, l.Paused.Before(now.Add(3*time.Second)), "Retry-After %q paused the key for %v", lines, l.Paused.Sub(now))
	}
}

// An IETF RateLimit item with a negative r is malformed (the drafts allow non-negative integers
// only): it is ignored, not read as a spent quota that pauses the key.
func TestAdaptNegativeRemainingIgnored(t *testing.T) {
	u := newUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("RateLimit-Policy", `"default";q=100;w=60`)
		h.Set("RateLimit", `"default";r=-1;t=30`)
		w.WriteHeader(http.StatusOK)
	})
	c, st := adaptClient(t)
	require.NoError(t, get(t, c, context.Background(), u.URL))
	l := learnedOf(t, st)
	assert.False(t, l.Paused.After(time.Now()), "paused for %v", time.Until(l.Paused))
}

// GitHub's secondary limit: a 403 (or 429) with retry-after while the primary quota is far from
// spent. The key is paused for the retry-after and the call retried as after a 429.
func TestAdaptGitHubSecondaryLimit(t *testing.T) {
	secondary := func(status int) func(int, http.ResponseWriter, *http.Request) {
		return func(n int, w http.ResponseWriter, _ *http.Request) {
			h := w.Header()
			h.Set("X-RateLimit-Limit", "5000")
			h.Set("X-RateLimit-Remaining", strconv.Itoa(4000-n))
			h.Set("X-RateLimit-Used", strconv.Itoa(1000+n))
			h.Set("X-RateLimit-Reset", strconv.FormatInt(time.Now().Add(time.Hour).Unix(), 10))
			h.Set("X-RateLimit-Resource", "core")
			if n == 0 {
				h.Set("Retry-After", "1")
				w.WriteHeader(status)
				return
			}
			w.WriteHeader(http.StatusOK)
		}
	}
	for _, status := range []int{http.StatusForbidden, http.StatusTooManyRequests} {
		t.Run(strconv.Itoa(status)+" retried after the pause", func(t *testing.T) {
			u := newUpstream(t, secondary(status))
			c := newClient(t, client.Config{Name: "adapt", Limits: []store.Limit{{Requests: 1000, Per: time.Second, Burst: 100}}})
			start := time.Now()
			resp, err := c.Get(context.Background(), u.URL)
			require.NoError(t, err)
			resp.Body.Close()
			assert.Equal(t, http.StatusOK, resp.StatusCode)
			assert.Equal(t, 2, u.count())
			assert.GreaterOrEqual(t, time.Since(start), 900*time.Millisecond, "the retry waits out the retry-after")
		})
		t.Run(strconv.Itoa(status)+" pauses the key", func(t *testing.T) {
			u := newUpstream(t, secondary(status))
			c, st := adaptClient(t) // no retries
			err := get(t, c, context.Background(), u.URL)
			now := time.Now()
			var e *client.Error
			require.True(t, errors.As(err, &e), "a rate limit, not a plain %d response: %v", status, err)
			assert.Equal(t, status, e.StatusCode)
			assert.Equal(t, time.Second, e.RetryAfter)
			l := learnedOf(t, st)
			assert.True(t, l.Paused.After(now.Add(800*time.Millisecond)), "paused for %v", l.Paused.Sub(now))
			assert.Zero(t, l.Cuts, "the server said when to come back: no cut")
		})
	}
}
