package storetest

import (
	"errors"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var orderedTests = []test{
	{"ServesInOrderUntilTheFirstRefusal", testOrderedPrefix},
	{"NobodyOvertakes", testOrderedNoOvertaking},
	{"MatchesSuccessiveTakes", testOrderedMatchesTakes},
	{"HonoursBlock", testOrderedBlock},
	{"BadInput", testOrderedBadInput},
}

func testOrderedPrefix(t *testing.T, h *harness) {
	key, limits := h.key("ordered"), []store.Limit{store.PerSecond(10).WithBurst(3)}
	ds, err := h.s.TakeOrdered(h.ctx, key, limits, []int64{1, 1, 1, 1, 1})
	require.NoError(t, err)
	require.Len(t, ds, 5)
	for i := range 3 {
		assert.True(t, ds[i].Allowed, "take %d", i)
		assert.EqualValues(t, 2-i, ds[i].Remaining)
	}
	for i := 3; i < 5; i++ {
		assert.False(t, ds[i].Allowed, "take %d", i)
		assert.Equal(t, 100*time.Millisecond, ds[i].RetryAfter)
	}
	h.clk.Advance(100 * time.Millisecond)
	assert.True(t, h.take(t, key, limits, 1).Allowed, "the refused takes charged nothing")
}

func testOrderedNoOvertaking(t *testing.T, h *harness) {
	key, limits := h.key("overtake"), []store.Limit{store.PerSecond(10).WithBurst(3)}
	// 2 of 3 fit, a take of 2 does not, and a take of 1 behind it must not overtake it.
	ds, err := h.s.TakeOrdered(h.ctx, key, limits, []int64{2, 2, 1})
	require.NoError(t, err)
	assert.True(t, ds[0].Allowed)
	assert.False(t, ds[1].Allowed)
	assert.Equal(t, 100*time.Millisecond, ds[1].RetryAfter)
	assert.False(t, ds[2].Allowed, "a later, smaller take does not overtake a refused one")
	assert.GreaterOrEqual(t, ds[2].RetryAfter, ds[1].RetryAfter)
	assert.EqualValues(t, 1, ds[2].Remaining, "and it charged nothing")
}

// testOrderedMatchesTakes drives random lines through TakeOrdered and, on a twin key, successive
// Takes that stop at the first refusal: the answers agree.
func testOrderedMatchesTakes(t *testing.T, h *harness) {
	seed := rand.Uint64()
	t.Logf("seed %d", seed)
	r := rand.New(rand.NewPCG(seed, 7))
	a, b := h.key("ordered-a"), h.key("ordered-b")
	limits := []store.Limit{store.PerSecond(7).WithBurst(4), store.PerMinute(60).WithBurst(20)}
	for step := range 60 {
		costs := make([]int64, 1+r.IntN(5))
		for i := range costs {
			costs[i] = r.Int64N(3)
		}
		ds, err := h.s.TakeOrdered(h.ctx, a, limits, costs)
		require.NoError(t, err)
		refused := false
		for i, n := range costs {
			if refused {
				assert.False(t, ds[i].Allowed, "step %d take %d: behind a refusal", step, i)
				continue
			}
			d := h.take(t, b, limits, n)
			assert.Equal(t, d, ds[i], "step %d take %d of %v", step, i, costs)
			refused = !d.Allowed
		}
		h.clk.Advance(time.Duration(r.IntN(300_000)) * time.Microsecond)
	}
}

func testOrderedBlock(t *testing.T, h *harness) {
	key, limits := h.key("ordered-block"), []store.Limit{store.PerSecond(10)}
	h.block(t, key, h.clk.Now().Add(2*time.Second))
	ds, err := h.s.TakeOrdered(h.ctx, key, limits, []int64{1, 1})
	require.NoError(t, err)
	for _, d := range ds {
		assert.False(t, d.Allowed)
		assert.Equal(t, 2*time.Second, d.RetryAfter)
	}
}

func testOrderedBadInput(t *testing.T, h *harness) {
	key, limits := h.key("ordered-bad"), []store.Limit{store.PerSecond(10)}
	_, err := h.s.TakeOrdered(h.ctx, key, limits, []int64{1, 11})
	assert.True(t, errors.Is(err, store.ErrNeverAllowed), "%v", err)
	_, err = h.s.TakeOrdered(h.ctx, key, limits, []int64{-1})
	assert.True(t, errors.Is(err, store.ErrInvalid), "%v", err)
	_, err = h.s.TakeOrdered(h.ctx, "", limits, []int64{1})
	assert.True(t, errors.Is(err, store.ErrInvalid), "%v", err)
	_, err = h.s.TakeOrdered(h.ctx, key, nil, []int64{1})
	assert.True(t, errors.Is(err, store.ErrInvalid), "%v", err)
	assert.True(t, h.take(t, key, limits, 10).Allowed, "nothing was charged by the failed calls")
}
