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
	s := New(WithClock(clk))
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
