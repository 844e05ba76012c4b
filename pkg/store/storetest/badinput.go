package storetest

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var badInputTests = []test{
	{"EmptyKey", testBadEmptyKey},
	{"NoLimits", testBadNoLimits},
	{"InvalidLimit", testBadLimit},
	{"NegativeCost", testBadCost},
	{"InvalidBreakerPolicy", testBadPolicy},
	{"ClosedStore", testClosed},
	{"CancelledContext", testCancelled},
}

func testBadEmptyKey(t *testing.T, h *harness) {
	limits := []store.Limit{store.PerSecond(10)}
	_, err := h.s.Take(h.ctx, "", limits, 1)
	requireInvalid(t, err, "key")
	requireInvalid(t, h.s.Block(h.ctx, "", h.clk.Now().Add(time.Second)), "key")

	p := store.BreakerPolicy{}
	_, err = h.s.Acquire(h.ctx, "", p)
	requireInvalid(t, err)
	_, err = h.s.Record(h.ctx, "", p, store.Permit{Allowed: true}, store.Failure)
	requireInvalid(t, err)
	_, err = h.s.BreakerStatus(h.ctx, "", p)
	requireInvalid(t, err)
}

func testBadNoLimits(t *testing.T, h *harness) {
	key := h.key("no-limits")
	for _, limits := range [][]store.Limit{nil, {}} {
		_, err := h.s.Take(h.ctx, key, limits, 1)
		requireInvalid(t, err, "limits")
	}
}

func testBadLimit(t *testing.T, h *harness) {
	for _, c := range []struct {
		limit store.Limit
		field string
	}{
		{store.Limit{Requests: 0, Per: time.Second}, "Requests"},
		{store.Limit{Requests: -5, Per: time.Second}, "Requests"},
		{store.Limit{Requests: 10}, "Per"},
		{store.Limit{Requests: 10, Per: -time.Second}, "Per"},
		{store.Limit{Requests: 10, Per: 999 * time.Nanosecond}, "Per"},
		{store.Limit{Requests: 10, Per: 1500 * time.Nanosecond}, "Per"},
		{store.Limit{Requests: 10, Per: time.Second, Burst: -1}, "Burst"},
		{store.Limit{Requests: 1, Per: 1000 * 24 * time.Hour, Burst: 1 << 40}, "Burst"},
		{store.Limit{Requests: 1, Per: math.MaxInt64 / 1000 * 1000, Burst: math.MaxInt64}, "Burst"},
		{store.Limit{Requests: math.MaxInt64, Per: time.Second}, "Requests"},
		{store.Limit{Requests: 1 << 62, Per: time.Microsecond, Burst: 1}, ""},
	} {
		key := h.key("bad-limit")
		good := store.PerSecond(10)
		for _, limits := range [][]store.Limit{{c.limit}, {good, c.limit}, {c.limit, good}} {
			d, err := h.s.Take(h.ctx, key, limits, 1)
			requireInvalid(t, err, c.field)
			require.False(t, d.Allowed, "%v", limits)
		}
		require.Equal(t, int64(10), h.drain(t, key, []store.Limit{good}), "bad input charged nothing")
		_, err := h.s.Take(h.ctx, key, []store.Limit{good, c.limit}, 1)
		requireInvalid(t, err, c.field)
	}
}

func testBadCost(t *testing.T, h *harness) {
	key, limits := h.key("negative-cost"), []store.Limit{store.PerSecond(10)}
	for _, n := range []int64{-1, math.MinInt64} {
		d, err := h.s.Take(h.ctx, key, limits, n)
		requireInvalid(t, err, "cost")
		require.False(t, d.Allowed)
	}
	require.Equal(t, int64(10), h.drain(t, key, limits))
}

func testBadPolicy(t *testing.T, h *harness) {
	for _, c := range []struct {
		p     store.BreakerPolicy
		field string
	}{
		{store.BreakerPolicy{FailureRate: math.NaN()}, "FailureRate"},
		{store.BreakerPolicy{FailureRate: 1.5}, "FailureRate"},
		{store.BreakerPolicy{FailureRate: -0.1}, "FailureRate"},
		{store.BreakerPolicy{FailureRate: math.Inf(1)}, "FailureRate"},
		{store.BreakerPolicy{Window: -time.Second}, "Window"},
		{store.BreakerPolicy{Window: 15 * time.Microsecond}, "Window"},
		{store.BreakerPolicy{Window: time.Second + time.Nanosecond}, "Window"},
		{store.BreakerPolicy{MinCalls: -1}, "MinCalls"},
		{store.BreakerPolicy{OpenTimeout: -time.Second}, "OpenTimeout"},
		{store.BreakerPolicy{OpenTimeout: 500 * time.Nanosecond}, "OpenTimeout"},
		{store.BreakerPolicy{OpenTimeout: math.MaxInt64}, "OpenTimeout"},
		{store.BreakerPolicy{MaxOpenTimeout: -time.Second}, "MaxOpenTimeout"},
		{store.BreakerPolicy{MaxOpenTimeout: math.MaxInt64}, "MaxOpenTimeout"},
		{store.BreakerPolicy{HalfOpenProbes: -1}, "HalfOpenProbes"},
		{store.BreakerPolicy{SuccessThreshold: -1}, "SuccessThreshold"},
	} {
		name := h.key("bad-policy")
		pm, err := h.s.Acquire(h.ctx, name, c.p)
		requireInvalid(t, err, c.field)
		require.False(t, pm.Allowed)
		_, err = h.s.Record(h.ctx, name, c.p, store.Permit{Allowed: true}, store.Failure)
		requireInvalid(t, err, c.field)
		_, err = h.s.BreakerStatus(h.ctx, name, c.p)
		requireInvalid(t, err, c.field)
	}
}

func testClosed(t *testing.T, h *harness) {
	key, limits, p := h.key("closed"), []store.Limit{store.PerSecond(10)}, store.BreakerPolicy{}
	pm := h.acquire(t, key, p)
	require.NoError(t, h.s.Close())

	_, err := h.s.Take(h.ctx, key, limits, 1)
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, h.s.Block(h.ctx, key, h.clk.Now().Add(time.Second)), store.ErrClosed)
	_, err = h.s.Acquire(h.ctx, key, p)
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = h.s.Record(h.ctx, key, p, pm, store.Success)
	require.ErrorIs(t, err, store.ErrClosed)
	_, err = h.s.BreakerStatus(h.ctx, key, p)
	require.ErrorIs(t, err, store.ErrClosed)
}

func testCancelled(t *testing.T, h *harness) {
	key, limits := h.key("cancelled"), []store.Limit{store.PerSecond(10)}
	p := store.BreakerPolicy{ConsecutiveFailures: 1}
	pm := h.acquire(t, key, p)

	ctx, cancel := context.WithCancel(h.ctx)
	cancel()
	_, err := h.s.Take(ctx, key, limits, 5)
	require.Error(t, err, "Take")
	require.Error(t, h.s.Block(ctx, key, h.clk.Now().Add(time.Hour)), "Block")
	_, err = h.s.Acquire(ctx, key, p)
	require.Error(t, err, "Acquire")
	_, err = h.s.Record(ctx, key, p, pm, store.Failure)
	require.Error(t, err, "Record")
	_, err = h.s.BreakerStatus(ctx, key, p)
	require.Error(t, err, "BreakerStatus")

	require.Equal(t, int64(10), h.drain(t, key, limits), "the cancelled Take charged nothing and the Block paused nothing")
	st := h.status(t, key, p)
	require.Equal(t, store.Closed, st.State, "the cancelled Record counted nothing")
	require.Equal(t, 0, st.Calls)
}
