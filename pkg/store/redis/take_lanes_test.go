package redis_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// roundTrips counts the round trips a client makes: a command alone or a pipeline.
type roundTrips struct{ n atomic.Int64 }

func (r *roundTrips) DialHook(next goredis.DialHook) goredis.DialHook { return next }
func (r *roundTrips) ProcessHook(next goredis.ProcessHook) goredis.ProcessHook {
	return func(ctx context.Context, cmd goredis.Cmder) error { r.n.Add(1); return next(ctx, cmd) }
}
func (r *roundTrips) ProcessPipelineHook(next goredis.ProcessPipelineHook) goredis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []goredis.Cmder) error { r.n.Add(1); return next(ctx, cmds) }
}

var _ interface {
	DialHook(goredis.DialHook) goredis.DialHook
} = (*roundTrips)(nil)

// TestTakeKeysShareRoundTrips has 32 callers take at once, each on a key of its own, and some keys
// under two sets of limits: the takes of different keys share round trips (one pipeline for the
// keys of a line), and every key's bucket stays exact: on a fake clock, a key admits exactly its
// burst, whatever batch its takes went in. Midway the server forgets its scripts: the takes of
// that pipeline load them and go on.
func TestTakeKeysShareRoundTrips(t *testing.T) {
	rdb := newClient(t)
	c, ok := rdb.(*goredis.Client)
	if !ok {
		t.Skip("needs a client of one server")
	}
	trips := &roundTrips{}
	c.AddHook(trips)
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := storeOn(t, rdb, clk)

	const callers, takes = 32, 40
	const burst = 25 // each key admits 25 of its 40 takes
	small := []store.Limit{store.PerMinute(burst)}
	two := []store.Limit{store.PerMinute(burst), store.PerHour(1000)}
	admitted := make([]atomic.Int64, callers)
	var flushed sync.Once
	var total atomic.Int64
	errs := make(chan error, callers*takes)
	var wg sync.WaitGroup
	for g := range callers {
		wg.Go(func() {
			key := fmt.Sprintf("lane-%d", g)
			limits := small
			if g%4 == 0 { // these keys are taken under a second set of limits too
				limits = two
			}
			for i := range takes {
				if total.Add(1) == callers*takes/2 {
					flushed.Do(func() { _ = rdb.ScriptFlush(t.Context()).Err() })
				}
				l := limits
				if g%4 == 0 && i%2 == 1 {
					l = small // the key's other set: its bucket under small is shared with two's first limit
				}
				d, err := s.Take(t.Context(), key, l, 1)
				if err != nil {
					errs <- err
					return
				}
				if d.Allowed {
					admitted[g].Add(1)
				}
			}
		})
	}
	waitOrFail(t, &wg, 30*time.Second)
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	for g := range callers {
		assert.EqualValues(t, burst, admitted[g].Load(), "key lane-%d admits exactly its burst", g)
	}
	n := trips.n.Load()
	t.Logf("%d takes in %d round trips", callers*takes, n)
	assert.Less(t, n, int64(callers*takes/2), "takes of different keys share round trips")
}

// TestTakeLaneDownFailsEveryCaller takes on many keys at once from a store whose server is gone:
// every caller gets an error (none hangs, none is answered twice).
func TestTakeLaneDownFailsEveryCaller(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	rdb := goredis.NewClient(&goredis.Options{Addr: addr, MaxRetries: -1, ContextTimeoutEnabled: true})
	t.Cleanup(func() { _ = rdb.Close() })
	s := storeOn(t, rdb, nil)
	var wg sync.WaitGroup
	var failed atomic.Int64
	for g := range 32 {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
			defer cancel()
			if _, err := s.Take(ctx, fmt.Sprintf("down-%d", g), []store.Limit{store.PerSecond(10)}, 1); err != nil {
				failed.Add(1)
			}
		})
	}
	waitOrFail(t, &wg, 20*time.Second)
	assert.EqualValues(t, 32, failed.Load())
}

// TestTakeBatchOfKeysIsExact decides batches of takes on several keys, some under two sets of
// limits, in one script call each, and checks every decision against the memory store making the
// same takes one call at a time, in the order the batch decides them: a key's takes under one set
// of limits in arrival order, its sets in the order they first came, the keys in any order.
func TestTakeBatchOfKeysIsExact(t *testing.T) {
	clk := clock.NewFake(time.Unix(1_700_000_000, 0))
	s := storeOn(t, newClient(t), clk)
	mem := memory.New(memory.Options{Clock: clk})
	rng := rand.New(rand.NewPCG(7, 7))
	sets := [][]store.Limit{
		{store.PerSecond(5)},
		{store.PerSecond(5), store.PerMinute(20).WithBurst(8)},
		{store.Limit{Requests: 3, Per: time.Second, Burst: 4}},
	}
	for round := range 20 {
		n := 1 + rng.IntN(60)
		keys, limits, costs := make([]string, n), make([][]store.Limit, n), make([]int64, n)
		for i := range n {
			k := rng.IntN(6)
			keys[i] = fmt.Sprintf("exact-%d", k)
			limits[i] = sets[(k+rng.IntN(2))%len(sets)] // two sets of limits per key
			costs[i] = int64(rng.IntN(4))
		}
		got, errs := s.DecideBatch(t.Context(), keys, limits, costs)
		for _, i := range batchOrder(keys, limits) {
			want, err := mem.Take(t.Context(), keys[i], limits[i], costs[i])
			require.NoError(t, err)
			require.NoError(t, errs[i], "round %d take %d", round, i)
			require.Equal(t, want, got[i], "round %d take %d: %s under %v, cost %d", round, i, keys[i], limits[i], costs[i])
		}
		clk.Advance(time.Duration(rng.IntN(1500)) * time.Millisecond)
	}
}

// batchOrder is the order in which one batch decides its takes, as far as it matters: per key,
// the takes under the set of limits that came first, in arrival order, then the next set's.
func batchOrder(keys []string, limits [][]store.Limit) []int {
	var order []int
	done := make([]bool, len(keys))
	for i := range keys {
		if done[i] {
			continue
		}
		for j := i; j < len(keys); j++ {
			if !done[j] && keys[j] == keys[i] && slices.EqualFunc(limits[j], limits[i], store.Limit.Same) {
				order, done[j] = append(order, j), true
			}
		}
	}
	return order
}
