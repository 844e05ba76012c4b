package memory

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

// TestSweepForgetsOnlyIdleKeys checks the memory bound: keys whose buckets are full and whose pause
// is over are forgotten, and no other key is.
func TestSweepForgetsOnlyIdleKeys(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := New(Options{Clock: clk})
	ctx := t.Context()
	fast, slow := []store.Limit{store.PerSecond(10)}, []store.Limit{store.PerHour(10)}
	for i := range 200 {
		_, err := s.Take(ctx, fmt.Sprintf("idle-%d", i), fast, 10)
		require.NoError(t, err)
		_, err = s.Take(ctx, fmt.Sprintf("busy-%d", i), slow, 10)
		require.NoError(t, err)
	}
	require.NoError(t, s.Block(ctx, "blocked", clk.Now().Add(time.Hour)))

	clk.Advance(sweepEvery + time.Second)
	touched := map[*shard]bool{}
	for i := 0; len(touched) < shardCount; i++ { // a Take sweeps its own shard
		key := fmt.Sprintf("probe-%d", i)
		_, err := s.Take(ctx, key, fast, 0)
		require.NoError(t, err)
		touched[s.shard(key)] = true
	}

	for i := range 200 {
		idle, busy := fmt.Sprintf("idle-%d", i), fmt.Sprintf("busy-%d", i)
		require.NotContains(t, s.shard(idle).keys, idle)
		require.Contains(t, s.shard(busy).keys, busy)
		d, err := s.Take(ctx, busy, slow, 1)
		require.NoError(t, err)
		require.False(t, d.Allowed, "%s kept its state", busy)
	}
	require.Contains(t, s.shard("blocked").keys, "blocked")
	d, err := s.Take(ctx, "blocked", fast, 1)
	require.NoError(t, err)
	require.False(t, d.Allowed, "the pause survived the sweep")
}

// TestSweepForgetsIdleBreakers checks that a breaker is kept a day past its open period (grown to
// its longest) and its window, as its Redis hash is, and then forgotten: it starts afresh, closed.
func TestSweepForgetsIdleBreakers(t *testing.T) {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := New(Options{Clock: clk})
	ctx := t.Context()
	p := store.BreakerPolicy{ConsecutiveFailures: 1, OpenTimeout: time.Minute, MaxOpenTimeout: time.Hour, Window: 10 * time.Minute}
	trip := func(name string) {
		pm, err := s.Acquire(ctx, name, p)
		require.NoError(t, err)
		st, err := s.Record(ctx, name, p, pm, store.Failure)
		require.NoError(t, err)
		require.Equal(t, store.Open, st.State)
	}
	trip("idle")
	keep := time.Minute + time.Hour + 10*time.Minute + 24*time.Hour

	clk.Advance(keep - time.Second)
	trip("busy") // sweeps the shards it lands on: "idle" is not due yet
	st, err := s.BreakerStatus(ctx, "idle", p)
	require.NoError(t, err)
	require.NotZero(t, st.Generation, "kept until its expiry")

	clk.Advance(sweepEvery + time.Second) // past the expiry, and past the shard's next sweep
	for i := range shardCount * 20 {      // sweep every shard
		_, err := s.BreakerStatus(ctx, fmt.Sprintf("probe-%d", i), p)
		require.NoError(t, err)
	}
	require.NotContains(t, s.shard("idle").breakers, "idle")
	st, err = s.BreakerStatus(ctx, "idle", p)
	require.NoError(t, err)
	require.Equal(t, store.Closed, st.State)
	require.Zero(t, st.Generation, "afresh")
	require.Contains(t, s.shard("busy").breakers, "busy")
}
