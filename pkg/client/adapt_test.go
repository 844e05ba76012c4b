package client_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// adaptClient is a client far above any server here (1000/s), on a memory store the test reads,
// that makes one attempt per call.
func adaptClient(t *testing.T) (*client.Client, *memory.Store) {
	t.Helper()
	st := memory.New(memory.Options{})
	t.Cleanup(func() { _ = st.Close() })
	c := newClient(t, client.Config{
		Name:   "adapt",
		Store:  st,
		Limits: []store.Limit{{Requests: 1000, Per: time.Second, Burst: 100}},
		Retry:  client.RetryConfig{MaxRetries: client.NoRetries},
	})
	return c, st
}

func learnedOf(t *testing.T, st *memory.Store) store.Learned {
	t.Helper()
	l, err := st.Learned(context.Background(), "adapt")
	require.NoError(t, err)
	return l
}

// A bare 429 (nothing but the status) on a key that never heard of the server's rate: the rate
// comes back at no more than one request per four round trips of the refused request, not at
// the configured 1000/s.
func TestAdaptFirstCutPacedByRoundTrip(t *testing.T) {
	u := newUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		time.Sleep(20 * time.Millisecond)
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c, st := adaptClient(t)
	require.Error(t, get(t, c, context.Background(), u.URL))
	l := learnedOf(t, st)
	assert.EqualValues(t, 1, l.Cuts)
	// ≥ 20ms round trip: ≥ 80ms between requests, cut by the factor (0.9): ≥ 88ms.
	assert.GreaterOrEqual(t, l.Requests.Interval, 88*time.Millisecond)
	assert.Less(t, l.Requests.Interval, 4*time.Second, "a round trip of about 20ms, not seconds")
}

// A server that states its quota (Discord's route headers) and then refuses with a Retry-After
// but no quota (Discord's global limit): the key is paused for the Retry-After, its rate is not
// held or cut, and the pace the server's quota set stays in force past the pause.
func TestAdaptRetryAfterWithoutQuotaKeepsStatedPace(t *testing.T) {
	u := newUpstream(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		if n == 0 {
			h.Set("X-RateLimit-Limit", "10")
			h.Set("X-RateLimit-Remaining", "1")
			h.Set("X-RateLimit-Reset-After", "0.200")
			h.Set("X-RateLimit-Bucket", "abc")
			w.WriteHeader(http.StatusOK)
			return
		}
		h.Set("X-RateLimit-Global", "true")
		h.Set("X-RateLimit-Scope", "global")
		h.Set("Retry-After", "1")
		w.WriteHeader(http.StatusTooManyRequests)
	})
	c, st := adaptClient(t)
	require.NoError(t, get(t, c, context.Background(), u.URL))
	paced := learnedOf(t, st).Requests
	// One left for 200ms: one request every 100ms.
	require.InDelta(t, float64(100*time.Millisecond), float64(paced.Interval), float64(10*time.Millisecond))

	time.Sleep(paced.Interval) // the pace admits the next request
	require.Error(t, get(t, c, context.Background(), u.URL))
	now := time.Now()
	l := learnedOf(t, st)
	assert.Zero(t, l.Cuts, "a Retry-After from a server that states its quota neither cuts nor holds")
	assert.Equal(t, paced.Interval, l.Requests.Interval, "the stated pace stays")
	require.True(t, l.Paused.After(now.Add(800*time.Millisecond)), "paused for the Retry-After: %v", l.Paused.Sub(now))
	// The pace would have ended 400ms after the first response; it now outlasts the pause by as
	// long as it outlasted the reset.
	assert.True(t, l.Requests.Until.After(l.Paused), "the pace ends %v, the pause %v", l.Requests.Until, l.Paused)
}

// A pace set just before a reset outlives the reset by about a window (the longest time to a
// reset heard), not only by the few milliseconds that were left.
func TestAdaptPaceOutlivesResetByAWindow(t *testing.T) {
	u := newUpstream(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		h := w.Header()
		h.Set("X-RateLimit-Limit", "10")
		h.Set("X-RateLimit-Remaining", "1")
		if n == 0 {
			h.Set("X-RateLimit-Reset-After", "2.000")
		} else {
			h.Set("X-RateLimit-Reset-After", "0.050")
		}
		h.Set("X-RateLimit-Bucket", "abc")
		w.WriteHeader(http.StatusOK)
	})
	c, st := adaptClient(t)
	require.NoError(t, get(t, c, context.Background(), u.URL))
	// Wait out the first pace's interval (1s), then hear of a reset 50ms away.
	time.Sleep(learnedOf(t, st).Requests.Interval)
	require.NoError(t, get(t, c, context.Background(), u.URL))
	now := time.Now()
	l := learnedOf(t, st)
	require.InDelta(t, float64(25*time.Millisecond), float64(l.Requests.Interval), float64(5*time.Millisecond))
	assert.True(t, l.Requests.Until.After(now.Add(1500*time.Millisecond)),
		"the pace must outlive the reset by about the 2s window, ends in %v", l.Requests.Until.Sub(now))
}

// learnedAfter is what one response with the IETF fields policy and quota teaches a client
// limited to 50/s with a burst of 10.
func learnedAfter(t *testing.T, policy, quota string) store.Learned {
	t.Helper()
	u := newUpstream(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		if policy != "" {
			w.Header().Set("RateLimit-Policy", policy)
		}
		w.Header().Set("RateLimit", quota)
		w.WriteHeader(http.StatusOK)
	})
	st := memory.New(memory.Options{})
	t.Cleanup(func() { _ = st.Close() })
	c := newClient(t, client.Config{Name: "adapt", Store: st, Limits: []store.Limit{store.PerSecond(50).WithBurst(10)}})
	require.NoError(t, get(t, c, context.Background(), u.URL))
	return learnedOf(t, st)
}

// 20 left of 60 a second, "1 s" to the reset (whole seconds, rounded up): the 40 gone took the
// configured limit at least 0.6 s (10 at once, 30 at 50/s), so the window resets within 0.4 s,
// and 20 at 50/s outlast it. No pace.
func TestAdaptQuotaThatLastsAtConfiguredRateSetsNoPace(t *testing.T) {
	l := learnedAfter(t, `"default";q=60;w=1`, `"default";r=20;t=1`)
	assert.Zero(t, l.Requests.Interval, "paced at %v", l.Requests.Interval)

	// Not knowing the quota's window, the client must take the reset as a second away.
	l = learnedAfter(t, "", `"default";r=20;t=1`)
	assert.InDelta(t, float64(time.Second/21), float64(l.Requests.Interval), float64(2*time.Millisecond))

	// 20 left of 40: the 20 gone may have taken only 0.2 s, so the reset may be 0.8 s away,
	// which 20 at 50/s do not last. The pace spreads them over the reset stated.
	l = learnedAfter(t, `"default";q=40;w=1`, `"default";r=20;t=1`)
	assert.InDelta(t, float64(time.Second/21), float64(l.Requests.Interval), float64(2*time.Millisecond))
}
