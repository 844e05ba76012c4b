package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var takeTests = []test{
	{"FreshKeyGrantsExactlyBurst", testTakeFreshKey},
	{"WaitingRetryAfterAdmits", testTakeRetryAfterIsExact},
	{"RefillNeverExceedsBurst", testTakeRefillCapped},
	{"BurstDiffersFromRequests", testTakeBurst},
	{"WeightedCost", testTakeWeighted},
	{"ZeroCostChargesNothing", testTakeZeroCost},
	{"CostAboveBurstNeverAllowed", testTakeNeverAllowed},
	{"SeveralLimitsAllOrNothing", testTakeAllOrNothing},
	{"SeveralLimitsLongestWait", testTakeLongestWait},
	{"NoDrift", testTakeNoDrift},
	{"KeysAreIndependent", testTakeKeysIndependent},
	{"LimitBurstZeroMeansRequests", testTakeBurstZeroSameLimit},
	{"LimitOrderDoesNotMatter", testTakeLimitOrder},
	{"LimitKeptKeepsItsState", testTakeLimitKept},
	{"LimitNewStartsFull", testTakeLimitNew},
}

func testTakeFreshKey(t *testing.T, h *harness) {
	key, limits := h.key("fresh"), []store.Limit{store.PerSecond(10)}
	for i := int64(1); i <= 10; i++ {
		d := h.take(t, key, limits, 1)
		require.Equal(t, store.Decision{
			Allowed:    true,
			Remaining:  10 - i,
			ResetAfter: time.Duration(i) * 100 * time.Millisecond,
		}, d, "take %d", i)
	}
	for range 3 {
		d := h.take(t, key, limits, 1)
		require.Equal(t, store.Decision{
			Allowed:    false,
			Remaining:  0,
			RetryAfter: 100 * time.Millisecond,
			ResetAfter: time.Second,
		}, d, "a refused take charges nothing, so asking again gives the same answer")
	}
}

func testTakeRetryAfterIsExact(t *testing.T, h *harness) {
	key, limits := h.key("retry"), []store.Limit{store.PerSecond(10)}
	require.Equal(t, int64(10), h.drain(t, key, limits))

	d := h.take(t, key, limits, 1)
	require.False(t, d.Allowed)
	require.Equal(t, 100*time.Millisecond, d.RetryAfter)

	h.clk.Advance(d.RetryAfter - time.Microsecond)
	d = h.take(t, key, limits, 1)
	require.False(t, d.Allowed, "1µs before RetryAfter")
	require.Equal(t, time.Microsecond, d.RetryAfter)

	h.clk.Advance(time.Microsecond)
	d = h.take(t, key, limits, 1)
	require.True(t, d.Allowed, "exactly at RetryAfter")
	require.Equal(t, int64(0), d.Remaining)

	d = h.take(t, key, limits, 1)
	require.False(t, d.Allowed)
	require.Equal(t, 100*time.Millisecond, d.RetryAfter)

	// A fraction of an interval refills nothing extra: after 350ms three tokens are back, and the
	// fourth is 50ms away.
	h.clk.Advance(350 * time.Millisecond)
	require.Equal(t, int64(3), h.drain(t, key, limits))
	d = h.take(t, key, limits, 1)
	require.Equal(t, 50*time.Millisecond, d.RetryAfter)
}

func testTakeRefillCapped(t *testing.T, h *harness) {
	key, limits := h.key("refill"), []store.Limit{store.PerSecond(10)}
	require.Equal(t, int64(10), h.drain(t, key, limits))

	h.clk.Advance(time.Second)
	require.Equal(t, int64(10), h.drain(t, key, limits), "after a full window: exactly one burst")

	h.clk.Advance(time.Hour)
	d := h.take(t, key, limits, 0)
	require.Equal(t, int64(10), d.Remaining, "an hour idle refills to the burst, never beyond")
	require.Equal(t, time.Duration(0), d.ResetAfter)
	require.Equal(t, int64(10), h.drain(t, key, limits), "after an hour idle: still exactly one burst")
}

func testTakeBurst(t *testing.T, h *harness) {
	small := []store.Limit{{Requests: 10, Per: time.Second, Burst: 3}}
	key := h.key("small-burst")
	require.Equal(t, int64(3), h.drain(t, key, small))
	d := h.take(t, key, small, 1)
	assert.Equal(t, 100*time.Millisecond, d.RetryAfter)
	assert.Equal(t, 300*time.Millisecond, d.ResetAfter)

	large := []store.Limit{{Requests: 10, Per: time.Second, Burst: 25}}
	key = h.key("large-burst")
	require.Equal(t, int64(25), h.drain(t, key, large))
	d = h.take(t, key, large, 1)
	assert.Equal(t, 100*time.Millisecond, d.RetryAfter)
	assert.Equal(t, 2500*time.Millisecond, d.ResetAfter)
	h.clk.Advance(time.Second)
	assert.Equal(t, int64(10), h.drain(t, key, large), "the sustained rate is still Requests/Per")
}

func testTakeWeighted(t *testing.T, h *harness) {
	key, limits := h.key("weighted"), []store.Limit{store.PerSecond(10)}
	d := h.take(t, key, limits, 4)
	require.True(t, d.Allowed)
	require.Equal(t, int64(6), d.Remaining)
	require.Equal(t, 400*time.Millisecond, d.ResetAfter)

	d = h.take(t, key, limits, 6)
	require.True(t, d.Allowed)
	require.Equal(t, int64(0), d.Remaining)

	d = h.take(t, key, limits, 3)
	require.False(t, d.Allowed)
	require.Equal(t, 300*time.Millisecond, d.RetryAfter, "a cost of 3 waits for 3 tokens")

	h.clk.Advance(200 * time.Millisecond)
	d = h.take(t, key, limits, 3)
	require.False(t, d.Allowed, "2 tokens are not enough for a cost of 3")
	require.Equal(t, int64(2), d.Remaining)
	require.Equal(t, 100*time.Millisecond, d.RetryAfter)
	d = h.take(t, key, limits, 2)
	require.True(t, d.Allowed, "but they are for a cost of 2")
	require.Equal(t, int64(0), d.Remaining)

	h.clk.Advance(300 * time.Millisecond)
	d = h.take(t, key, limits, 3)
	require.True(t, d.Allowed)
}

func testTakeZeroCost(t *testing.T, h *harness) {
	key, limits := h.key("zero"), []store.Limit{store.PerSecond(10)}
	d := h.take(t, key, limits, 0)
	require.Equal(t, store.Decision{Allowed: true, Remaining: 10}, d)

	h.take(t, key, limits, 4)
	for range 5 {
		d = h.take(t, key, limits, 0)
		require.Equal(t, store.Decision{Allowed: true, Remaining: 6, ResetAfter: 400 * time.Millisecond}, d)
	}
	require.Equal(t, int64(6), h.drain(t, key, limits), "cost 0 charged nothing")

	d = h.take(t, key, limits, 0)
	require.True(t, d.Allowed, "cost 0 fits even an empty bucket")
	require.Equal(t, int64(0), d.Remaining)
	require.Equal(t, time.Duration(0), d.RetryAfter)
	require.Equal(t, time.Second, d.ResetAfter)
}

func testTakeNeverAllowed(t *testing.T, h *harness) {
	check := func(key string, limits []store.Limit, n int64) {
		t.Helper()
		d, err := h.s.Take(h.ctx, key, limits, n)
		require.ErrorIs(t, err, store.ErrNeverAllowed)
		require.NotErrorIs(t, err, store.ErrInvalid, "a cost above the burst is valid input that can never fit")
		require.False(t, d.Allowed)
		require.Less(t, d.RetryAfter, time.Duration(0))
	}

	limits := []store.Limit{store.PerSecond(10)}
	key := h.key("never-fresh")
	check(key, limits, 11)
	require.Equal(t, int64(10), h.drain(t, key, limits), "nothing was charged")

	key = h.key("never-used")
	h.take(t, key, limits, 3)
	check(key, limits, 11)
	check(key, limits, 1<<40)
	require.Equal(t, int64(7), h.drain(t, key, limits), "nothing was charged")

	// One limit's burst is enough to make a take impossible; the other limit is not charged.
	two := []store.Limit{store.PerSecond(10), {Requests: 100, Per: time.Minute, Burst: 5}}
	key = h.key("never-two")
	check(key, two, 6)
	d := h.take(t, key, two, 5)
	require.True(t, d.Allowed)
	require.Equal(t, int64(0), d.Remaining)
	require.Equal(t, 3*time.Second, d.ResetAfter, "the 100/min bucket needs 5 × 600ms to refill")
}

func testTakeAllOrNothing(t *testing.T, h *harness) {
	// The fast limit refuses while the slow one has room: the refusals must not charge the slow
	// one, so it admits one take a second for all of its burst of 5.
	fastFirst := []store.Limit{store.PerSecond(1), store.PerHour(5)}
	key := h.key("fast-refuses")
	for sec := range 4 {
		d := h.take(t, key, fastFirst, 1)
		require.True(t, d.Allowed, "second %d", sec)
		for range 20 {
			d = h.take(t, key, fastFirst, 1)
			require.False(t, d.Allowed)
			require.Equal(t, time.Second, d.RetryAfter, "refused by the 1/s limit alone")
		}
		h.clk.Advance(time.Second)
	}
	require.True(t, h.take(t, key, fastFirst, 1).Allowed, "the fifth token of the hourly limit")
	h.clk.Advance(time.Second)
	// Now the hourly limit is spent: its next token is 12min after the first take.
	d := h.take(t, key, fastFirst, 1)
	require.False(t, d.Allowed)
	require.Equal(t, 12*time.Minute-5*time.Second, d.RetryAfter)

	// The other way round: the limit with 2 tokens left refuses a cost of 3 while the 10/s limit
	// has 7. If the refusals charged the 10/s limit, a cost of 2 would no longer fit it.
	other := []store.Limit{store.PerSecond(10), {Requests: 1, Per: time.Hour, Burst: 5}}
	key = h.key("other-refuses")
	require.True(t, h.take(t, key, other, 3).Allowed)
	for range 50 {
		d = h.take(t, key, other, 3)
		require.False(t, d.Allowed)
		require.Equal(t, time.Hour, d.RetryAfter, "one more token of the 1/h limit")
	}
	d = h.take(t, key, other, 2)
	require.True(t, d.Allowed, "the refusals charged neither limit")
	require.Equal(t, int64(0), d.Remaining)
}

func testTakeLongestWait(t *testing.T, h *harness) {
	a := store.PerSecond(10)                                   // 100ms per token
	b := store.Limit{Requests: 2, Per: time.Second, Burst: 10} // 500ms per token
	for _, order := range [][]store.Limit{{a, b}, {b, a}} {
		key := h.key("longest")
		require.Equal(t, int64(10), h.drain(t, key, order))
		d := h.take(t, key, order, 1)
		assert.Equal(t, 500*time.Millisecond, d.RetryAfter, "limits %v", order)
		assert.Equal(t, 5*time.Second, d.ResetAfter, "limits %v", order)

		h.clk.Advance(300 * time.Millisecond)
		d = h.take(t, key, order, 1)
		require.False(t, d.Allowed)
		assert.Equal(t, int64(0), d.Remaining, "the least over the limits")
		assert.Equal(t, 200*time.Millisecond, d.RetryAfter)
		h.clk.Advance(200 * time.Millisecond)
		d = h.take(t, key, order, 1)
		require.True(t, d.Allowed)
		assert.Equal(t, int64(0), d.Remaining)
		h.clk.Advance(time.Hour)
	}
}

// testTakeNoDrift drives limits whose interval is not a whole number of microseconds at every
// exact retry point for a long run: the k-th admission beyond the burst must come at exactly
// ceil((k−Burst)·Per/Requests), so no fraction is ever lost or gained.
func testTakeNoDrift(t *testing.T, h *harness) {
	for _, c := range []struct {
		limit   store.Limit
		periods int64
	}{
		{store.PerSecond(3), 600},
		{store.PerMinute(7), 300},
		{store.Limit{Requests: 7, Per: time.Minute, Burst: 3}, 300},
		{store.Limit{Requests: 13, Per: 1700 * time.Millisecond, Burst: 20}, 150},
	} {
		key, limits := h.key("drift"), []store.Limit{c.limit}
		origin := h.clk.Now()
		r, p, b := c.limit.Requests, c.limit.PerMicros(), c.limit.EffectiveBurst()
		end := time.Duration(c.periods*p) * time.Microsecond
		var admitted int64
		retried := false
		for {
			d := h.take(t, key, limits, 1)
			now := h.clk.Now().Sub(origin)
			if d.Allowed {
				admitted++
				retried = false
				want := time.Duration(ceilDiv((admitted-b)*p, r)) * time.Microsecond
				require.Equal(t, want, now, "%v: admission %d", c.limit, admitted)
				continue
			}
			require.False(t, retried, "%v: refused at +%v after waiting the RetryAfter it was given", c.limit, now)
			require.Positive(t, d.RetryAfter, "%v: refused at +%v with no wait", c.limit, now)
			if now+d.RetryAfter > end {
				break
			}
			h.clk.Advance(d.RetryAfter)
			retried = true
		}
		require.Equal(t, b+r*c.periods, admitted, "%v over %d periods", c.limit, c.periods)
	}
}

func testTakeKeysIndependent(t *testing.T, h *harness) {
	limits := []store.Limit{store.PerSecond(10)}
	a, b := h.key("a"), h.key("b")
	require.Equal(t, int64(10), h.drain(t, a, limits))
	require.Equal(t, int64(10), h.drain(t, b, limits))
	h.clk.Advance(500 * time.Millisecond)
	require.Equal(t, int64(5), h.drain(t, a, limits))
	require.Equal(t, int64(10), h.drain(t, h.key("c"), limits))
	require.Equal(t, int64(5), h.drain(t, b, limits))
}

// The next four are about a key whose limits change between calls: a bucket belongs to a key and
// a limit, so a limit that stays keeps its state and a new one starts full.

func testTakeBurstZeroSameLimit(t *testing.T, h *harness) {
	key, a := h.key("burst-zero"), store.PerSecond(10)
	h.take(t, key, []store.Limit{a}, 4)
	d := h.take(t, key, []store.Limit{a.WithBurst(10)}, 1)
	require.Equal(t, int64(5), d.Remaining, "Burst 0 and Burst == Requests are the same limit and the same bucket")
}

func testTakeLimitOrder(t *testing.T, h *harness) {
	key, a, b := h.key("order"), store.PerSecond(10), store.PerMinute(20)
	require.Equal(t, int64(10), h.drain(t, key, []store.Limit{a, b}))
	d := h.take(t, key, []store.Limit{b, a}, 1)
	require.False(t, d.Allowed)
	require.Equal(t, 100*time.Millisecond, d.RetryAfter)
}

func testTakeLimitKept(t *testing.T, h *harness) {
	key, a, b := h.key("kept"), store.PerSecond(10), store.PerMinute(20)
	require.Equal(t, int64(10), h.drain(t, key, []store.Limit{a}))
	d := h.take(t, key, []store.Limit{a, b}, 1)
	require.False(t, d.Allowed, "adding a limit must not reset the ones that stay")
	require.Equal(t, 100*time.Millisecond, d.RetryAfter)

	h.clk.Advance(100 * time.Millisecond)
	require.True(t, h.take(t, key, []store.Limit{a, b}, 1).Allowed)
	d = h.take(t, key, []store.Limit{a}, 1)
	require.False(t, d.Allowed, "removing a limit must not reset the ones that stay")
	require.Equal(t, 100*time.Millisecond, d.RetryAfter)
}

func testTakeLimitNew(t *testing.T, h *harness) {
	key := h.key("new")
	require.Equal(t, int64(10), h.drain(t, key, []store.Limit{store.PerSecond(10)}))
	tighter := []store.Limit{store.PerSecond(5)}
	require.Equal(t, int64(5), h.drain(t, key, tighter))
	d := h.take(t, key, tighter, 1)
	require.Equal(t, 200*time.Millisecond, d.RetryAfter, "the new limit is enforced on its own terms")
	h.clk.Advance(time.Second)
	require.Equal(t, int64(5), h.drain(t, key, tighter))
}

// ceilDiv returns ⌈x/y⌉ for y > 0, and 0 for x ≤ 0.
func ceilDiv(x, y int64) int64 {
	if x <= 0 {
		return 0
	}
	return (x + y - 1) / y
}
