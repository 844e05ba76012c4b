package client_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

func get(t *testing.T, c *client.Client, ctx context.Context, url string) error {
	t.Helper()
	resp, err := c.Get(ctx, url)
	if err == nil {
		resp.Body.Close()
	}
	return err
}

func TestRateLimitSpacesRequests(t *testing.T) {
	u := newUpstream(t, nil)
	c := newClient(t, client.Config{Limits: []store.Limit{store.PerSecond(10)}})
	start := time.Now()
	for range 15 {
		require.NoError(t, get(t, c, context.Background(), u.URL))
	}
	elapsed := time.Since(start)
	assert.GreaterOrEqual(t, elapsed, 450*time.Millisecond, "15 at 10/s with a burst of 10 needs 5 waits of 100 ms")
	s := c.Stats()
	assert.EqualValues(t, 15, s.Successes)
	assert.EqualValues(t, 5, s.RateLimitWaits, "the first 10 come from the burst, the last 5 wait")
	assert.Greater(t, s.RateLimitWaitTime, 400*time.Millisecond)
}

func TestFullBurstAfterIdleNeverMore(t *testing.T) {
	u := newUpstream(t, nil)
	fake := clock.NewFake(time.Now())
	c := newClient(t, client.Config{Limits: []store.Limit{store.PerSecond(10)}, Clock: fake})

	waitedCall := func() {
		t.Helper()
		done := make(chan error, 1)
		go func() {
			resp, err := c.Get(context.Background(), u.URL)
			if err == nil {
				resp.Body.Close()
			}
			done <- err
		}()
		eventually(t, func() bool { return c.Stats().Waiting == 1 && fake.Timers() == 1 }, "the call to wait")
		fake.Advance(99 * time.Millisecond)
		select {
		case <-done:
			t.Fatal("admitted before a token was due")
		case <-time.After(20 * time.Millisecond):
		}
		fake.Advance(time.Millisecond)
		require.NoError(t, <-done)
	}

	for range 10 {
		require.NoError(t, get(t, c, context.Background(), u.URL))
	}
	require.EqualValues(t, 0, c.Stats().RateLimitWaits)
	waitedCall()

	for _, idle := range []time.Duration{time.Second, time.Hour} {
		fake.Advance(idle)
		before := c.Stats().RateLimitWaits
		for range 10 {
			require.NoError(t, get(t, c, context.Background(), u.URL))
		}
		require.Equal(t, before, c.Stats().RateLimitWaits, "a full burst is available after %v idle", idle)
		waitedCall() // and never more than a full burst
	}
}

func TestRetriesConnectionFailuresWithBackoff(t *testing.T) {
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n < 2 {
			hangUp(t, w)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	c := newClient(t, client.Config{Retry: client.RetryConfig{NoJitter: true, BaseDelay: 100 * time.Millisecond, Multiplier: 2}})
	start := time.Now()
	require.NoError(t, get(t, c, context.Background(), u.URL))
	assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "backoffs of 100 ms then 200 ms")
	s := c.Stats()
	assert.EqualValues(t, 3, s.Attempts)
	assert.EqualValues(t, 2, s.FailedAttempts)
	assert.EqualValues(t, 2, s.Retries)
	assert.EqualValues(t, 1, s.Successes)
	assert.EqualValues(t, 0, s.Failures)
}

func TestRetriesRunOutWithLastCause(t *testing.T) {
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) { hangUp(t, w) })
	c := newClient(t, client.Config{
		Retry:   client.RetryConfig{MaxRetries: 2, NoJitter: true, BaseDelay: 10 * time.Millisecond},
		Breaker: breaker.Config{Disabled: true},
	})
	err := get(t, c, context.Background(), u.URL)
	var ce *client.Error
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, 3, ce.Attempts, "1 + MaxRetries attempts")
	assert.Equal(t, 3, u.count())
	assert.Zero(t, ce.StatusCode)
	require.Error(t, ce.Err, "the last cause")
	assert.Contains(t, err.Error(), "3 attempts")

	// A status that stays retryable: the error carries it.
	u.setHandle(func(n int, w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusServiceUnavailable)
		_, _ = w.Write([]byte(strings.Repeat("x", 1<<20))) // drained, bounded, and closed
	})
	err = get(t, c, context.Background(), u.URL)
	require.ErrorAs(t, err, &ce)
	assert.Equal(t, http.StatusServiceUnavailable, ce.StatusCode)
	var se *client.StatusError
	require.ErrorAs(t, err, &se)
	assert.Equal(t, http.StatusServiceUnavailable, se.StatusCode)
}

func TestRetryAfter(t *testing.T) {
	for name, header := range map[string]func() string{
		"seconds":   func() string { return "1" },
		"http-date": func() string { return time.Now().Add(2 * time.Second).UTC().Format(http.TimeFormat) },
	} {
		t.Run(name, func(t *testing.T) {
			u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if n == 0 {
					w.Header().Set("Retry-After", header())
					w.WriteHeader(http.StatusTooManyRequests)
					return
				}
				w.WriteHeader(http.StatusOK)
			})
			// Jitter that would pick no wait at all: the server's word is the floor.
			c := newClient(t, client.Config{Limits: []store.Limit{store.PerSecond(100)}, Rand: func() float64 { return 0 }})
			start := time.Now()
			require.NoError(t, get(t, c, context.Background(), u.URL))
			assert.GreaterOrEqual(t, time.Since(start), time.Second)
			assert.EqualValues(t, 1, c.Stats().TooManyRequests)
			assert.Equal(t, 2, u.count())
		})
	}
}

func TestBreakerOpensAndProbes(t *testing.T) {
	var healthy sync.Mutex
	failing := true
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		healthy.Lock()
		defer healthy.Unlock()
		if failing {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	fake := clock.NewFake(time.Now())
	c := newClient(t, client.Config{
		Clock:   fake,
		Retry:   client.RetryConfig{MaxRetries: client.NoRetries},
		Breaker: breaker.Config{BreakerPolicy: store.BreakerPolicy{ConsecutiveFailures: 3, OpenTimeout: 10 * time.Second}},
	})
	for range 3 {
		err := get(t, c, context.Background(), u.URL)
		var ce *client.Error
		require.ErrorAs(t, err, &ce)
		assert.Equal(t, http.StatusInternalServerError, ce.StatusCode)
	}
	assert.Equal(t, store.Open, c.Stats().BreakerState)

	start := time.Now()
	err := get(t, c, context.Background(), u.URL)
	require.ErrorIs(t, err, breaker.ErrOpen)
	assert.Less(t, time.Since(start), 100*time.Millisecond, "refused at once")
	assert.Equal(t, 3, u.count(), "the refused call never reached the server")

	healthy.Lock()
	failing = false
	healthy.Unlock()
	fake.Advance(10 * time.Second)
	require.NoError(t, get(t, c, context.Background(), u.URL), "the probe")
	assert.Equal(t, 4, u.count(), "one probe reached the server")
	s := c.Stats()
	assert.Equal(t, store.Closed, s.BreakerState)
	assert.EqualValues(t, 1, s.BreakerTrips)
	assert.EqualValues(t, 1, s.BreakerRejections)
	require.NoError(t, get(t, c, context.Background(), u.URL))
}

func TestHigherPriorityWaitersGoFirst(t *testing.T) {
	u := newUpstream(t, nil)
	c := newClient(t, client.Config{Limits: []store.Limit{store.PerSecond(20).WithBurst(1)}})
	require.NoError(t, get(t, c, context.Background(), u.URL)) // the burst is spent

	var wg sync.WaitGroup
	errs := make(chan error, 10)
	send := func(priority int) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := client.WithPriority(context.Background(), priority)
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, u.URL, nil)
			req.Header.Set("X-Priority", strconv.Itoa(priority))
			resp, err := c.Do(ctx, req)
			if err == nil {
				resp.Body.Close()
			}
			errs <- err
		}()
	}
	for i := range 5 {
		send(0)
		eventually(t, func() bool { return c.Stats().Waiting == i+1 }, "low-priority waiters")
	}
	for i := range 5 {
		send(10)
		eventually(t, func() bool { return c.Stats().Waiting == 6+i }, "high-priority waiters")
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	order := u.order()[1:]
	assert.Equal(t, []string{"10", "10", "10", "10", "10", "0", "0", "0", "0", "0"}, order)
}

func TestStatsAndPrometheus(t *testing.T) {
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 2 {
			w.WriteHeader(http.StatusInternalServerError)
			return
		}
		time.Sleep(time.Millisecond)
		w.WriteHeader(http.StatusOK)
	})
	reg := prometheus.NewRegistry()
	c := newClient(t, client.Config{Name: "stats", Registerer: reg, Retry: client.RetryConfig{MaxRetries: client.NoRetries}})
	require.NoError(t, get(t, c, context.Background(), u.URL))
	require.NoError(t, get(t, c, context.Background(), u.URL))
	require.Error(t, get(t, c, context.Background(), u.URL))

	s := c.Stats()
	assert.EqualValues(t, 3, s.Calls)
	assert.EqualValues(t, 2, s.Successes)
	assert.EqualValues(t, 1, s.Failures)
	assert.EqualValues(t, 1, s.ServerErrors)
	assert.Greater(t, s.AvgLatency, time.Duration(0))

	families, err := reg.Gather()
	require.NoError(t, err)
	got := map[string]float64{}
	for _, f := range families {
		if f.GetName() != "weir_requests_total" {
			continue
		}
		for _, m := range f.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			assert.Equal(t, "stats", labels["upstream"])
			got[labels["outcome"]+"/"+labels["class"]] += m.GetCounter().GetValue()
		}
	}
	assert.Equal(t, 2.0, got["success/2xx"])
	assert.Equal(t, 1.0, got["failure/5xx"])
	n, err := testutil.GatherAndCount(reg, "weir_request_duration_seconds")
	require.NoError(t, err)
	assert.Equal(t, 1, n)

	// A second client on the same registry shares the collectors.
	_ = newClient(t, client.Config{Name: "other", Registerer: reg})
}

func TestWaitingLineIsBounded(t *testing.T) {
	u := newUpstream(t, nil)
	c, err := client.New(client.Config{Limits: []store.Limit{store.PerHour(1)}, MaxQueue: 5})
	require.NoError(t, err)
	require.NoError(t, get(t, c, context.Background(), u.URL))

	errs := make(chan error, 5)
	for i := range 5 {
		go func() { errs <- get(t, c, context.Background(), u.URL) }()
		eventually(t, func() bool { return c.Stats().Waiting == i+1 }, "waiters")
	}
	start := time.Now()
	err = get(t, c, context.Background(), u.URL)
	require.ErrorIs(t, err, client.ErrLineFull)
	assert.Less(t, time.Since(start), 100*time.Millisecond)
	assert.EqualValues(t, 1, c.Stats().RateLimited)

	require.NoError(t, c.Close())
	for range 5 {
		require.ErrorIs(t, <-errs, client.ErrClosed)
	}
	require.ErrorIs(t, get(t, c, context.Background(), u.URL), client.ErrClosed)
}

func TestWaitThatCannotFitFailsFast(t *testing.T) {
	u := newUpstream(t, nil)
	c := newClient(t, client.Config{Limits: []store.Limit{store.PerMinute(1)}})
	require.NoError(t, get(t, c, context.Background(), u.URL))
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	start := time.Now()
	err := get(t, c, ctx, u.URL)
	require.ErrorIs(t, err, client.ErrRateLimited)
	var rl *client.RateLimitError
	require.ErrorAs(t, err, &rl)
	assert.Greater(t, rl.RetryAfter, 50*time.Second)
	assert.Less(t, time.Since(start), time.Second, "failed at once, not at the deadline")
}

func TestCloseLeavesNoGoroutine(t *testing.T) {
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 1 {
			<-r.Context().Done() // in flight until Close cuts it
			return
		}
		w.WriteHeader(http.StatusOK)
	})
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())

	c, err := client.New(client.Config{Limits: []store.Limit{store.PerHour(2)}})
	require.NoError(t, err)
	require.NoError(t, get(t, c, context.Background(), u.URL))
	errs := make(chan error, 3)
	go func() { errs <- get(t, c, context.Background(), u.URL) }() // in flight
	eventually(t, func() bool { return u.count() == 2 }, "the request in flight")
	go func() { errs <- get(t, c, context.Background(), u.URL) }() // waiting for a token
	eventually(t, func() bool { return c.Stats().Waiting == 1 }, "the waiter")

	require.NoError(t, c.Close())
	for range 2 {
		require.ErrorIs(t, <-errs, client.ErrClosed)
	}
	u.Close()
}

func TestBadConfigNamesTheField(t *testing.T) {
	for field, cfg := range map[string]client.Config{
		"Limits[0]":          {Limits: []store.Limit{{Requests: 0, Per: time.Second}}},
		"MaxQueue":           {MaxQueue: -1},
		"Retry.MaxRetries":   {Retry: client.RetryConfig{MaxRetries: -2}},
		"Retry.Multiplier":   {Retry: client.RetryConfig{Multiplier: 0.5}},
		"Retry.MaxDelay":     {Retry: client.RetryConfig{BaseDelay: time.Second, MaxDelay: time.Millisecond}},
		"Retry.RetryStatus":  {Retry: client.RetryConfig{RetryStatuses: []int{42}}},
		"Breaker":            {Breaker: breaker.Config{BreakerPolicy: store.BreakerPolicy{FailureRate: 2}}},
		"HalfOpenProbes":     {Breaker: breaker.Config{BreakerPolicy: store.BreakerPolicy{HalfOpenProbes: -1}}},
		"MaxBodyBuffer":      {MaxBodyBuffer: -1},
		"Retry.BaseDelay":    {Retry: client.RetryConfig{BaseDelay: -time.Second}},
		"Retry.MaxRetryAfte": {Retry: client.RetryConfig{MaxRetryAfter: -time.Second}},
	} {
		_, err := client.New(cfg)
		require.Error(t, err, field)
		assert.Contains(t, err.Error(), field, "the error names the field")
	}
}

func TestBodiesAreReplayed(t *testing.T) {
	var mu sync.Mutex
	var bodies []string
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		b := make([]byte, 64)
		k, _ := r.Body.Read(b)
		mu.Lock()
		bodies = append(bodies, string(b[:k]))
		mu.Unlock()
		if n == 0 {
			w.WriteHeader(http.StatusBadGateway)
			return
		}
		w.WriteHeader(http.StatusCreated)
	})
	c := newClient(t, client.Config{Retry: client.RetryConfig{BaseDelay: time.Millisecond}})

	// A POST without an idempotency key is sent once.
	resp, err := c.Post(context.Background(), u.URL, "text/plain", strings.NewReader("hello"))
	require.Error(t, err)
	require.Nil(t, resp)
	assert.Equal(t, 1, u.count())

	// With one it is retried, and its body (a plain reader, no GetBody) is replayed.
	mu.Lock()
	bodies = nil
	mu.Unlock()
	u.mu.Lock()
	u.arrivals = nil
	u.mu.Unlock()
	req, _ := http.NewRequest(http.MethodPost, u.URL, struct{ *strings.Reader }{strings.NewReader("hello")})
	req.Header.Set("Idempotency-Key", "k1")
	resp, err = c.Do(context.Background(), req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, http.StatusCreated, resp.StatusCode)
	assert.Equal(t, []string{"hello", "hello"}, bodies)
}

func TestRoundTripper(t *testing.T) {
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		if n == 0 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok"))
	})
	c := newClient(t, client.Config{Retry: client.RetryConfig{BaseDelay: time.Millisecond}, Limits: []store.Limit{store.PerSecond(100)}})
	hc := &http.Client{Transport: c}
	resp, err := hc.Get(u.URL)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.EqualValues(t, 1, c.Stats().Retries)
}

func TestCallerCancellationIsNotAFailure(t *testing.T) {
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	c := newClient(t, client.Config{Breaker: breaker.Config{BreakerPolicy: store.BreakerPolicy{ConsecutiveFailures: 1}}})
	for range 3 {
		ctx, cancel := context.WithCancel(context.Background())
		go func() {
			eventually(t, func() bool { return u.count() > 0 }, "arrival")
			cancel()
		}()
		err := get(t, c, ctx, u.URL)
		require.True(t, errors.Is(err, context.Canceled), "got %v", err)
	}
	assert.Equal(t, store.Closed, c.Stats().BreakerState, "cancellations do not trip the breaker")
}

func TestBodiesOutliveDoAndConnectionsAreReused(t *testing.T) {
	big := strings.Repeat("weir", 1<<20) // 4 MiB: larger than any buffer on the way
	var mu sync.Mutex
	conns := map[string]bool{} // a connection is known by its client-side address
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		conns[r.RemoteAddr] = true
		mu.Unlock()
		_, _ = w.Write([]byte(big))
	})
	c := newClient(t, client.Config{Limits: []store.Limit{store.PerSecond(1000)}})
	hc := &http.Client{Transport: c}
	for i := range 10 {
		var resp *http.Response
		var err error
		if i%2 == 0 {
			resp, err = c.Get(context.Background(), u.URL)
		} else {
			resp, err = hc.Get(u.URL)
		}
		require.NoError(t, err)
		b, err := io.ReadAll(resp.Body)
		require.NoError(t, err, "the body is read after Do returned")
		require.NoError(t, resp.Body.Close())
		require.Len(t, b, len(big))
	}
	mu.Lock()
	defer mu.Unlock()
	assert.Len(t, conns, 1, "one connection serves every call")
}
