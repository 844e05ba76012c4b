package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var blockTests = []test{
	{"RefusesUntil", testBlockRefusesUntil},
	{"ShorterLaterBlockDoesNotShorten", testBlockNoShorten},
	{"LongerLaterBlockExtends", testBlockExtends},
	{"PastTimeIsNoOp", testBlockPast},
	{"PauseChargesNothing", testBlockChargesNothing},
	{"SubMicrosecondUntil", testBlockSubMicrosecond},
	{"WaitIsLongestOfPauseAndBuckets", testBlockLongestWait},
	{"KeysAreIndependent", testBlockPerKey},
	{"BeyondMaxDelay", testBlockBeyondMax},
}

func testBlockRefusesUntil(t *testing.T, h *harness) {
	key, limits := h.key("block"), []store.Limit{store.PerSecond(10)}
	until := h.clk.Now().Add(5 * time.Second)
	h.block(t, key, until)

	for range 3 {
		d := h.take(t, key, limits, 1)
		require.False(t, d.Allowed)
		require.Equal(t, 5*time.Second, d.RetryAfter)
	}
	h.clk.Advance(5*time.Second - time.Microsecond)
	d := h.take(t, key, limits, 1)
	require.False(t, d.Allowed, "1µs before the pause ends")
	require.Equal(t, time.Microsecond, d.RetryAfter)

	h.clk.Advance(time.Microsecond)
	require.Equal(t, int64(10), h.drain(t, key, limits), "the pause is over and the bucket is full")
}

func testBlockNoShorten(t *testing.T, h *harness) {
	key, limits := h.key("no-shorten"), []store.Limit{store.PerSecond(10)}
	h.block(t, key, h.clk.Now().Add(10*time.Second))
	h.block(t, key, h.clk.Now().Add(2*time.Second))
	require.Equal(t, 10*time.Second, h.take(t, key, limits, 1).RetryAfter)
	h.clk.Advance(2 * time.Second)
	d := h.take(t, key, limits, 1)
	require.False(t, d.Allowed)
	require.Equal(t, 8*time.Second, d.RetryAfter)
}

func testBlockExtends(t *testing.T, h *harness) {
	key, limits := h.key("extend"), []store.Limit{store.PerSecond(10)}
	h.block(t, key, h.clk.Now().Add(2*time.Second))
	h.block(t, key, h.clk.Now().Add(10*time.Second))
	require.Equal(t, 10*time.Second, h.take(t, key, limits, 1).RetryAfter)
	h.clk.Advance(10 * time.Second)
	require.True(t, h.take(t, key, limits, 1).Allowed)
}

func testBlockPast(t *testing.T, h *harness) {
	key, limits := h.key("past"), []store.Limit{store.PerSecond(10)}
	h.take(t, key, limits, 3)
	h.block(t, key, h.clk.Now().Add(-time.Second))
	h.block(t, key, h.clk.Now())
	h.block(t, key, Start.Add(-24*time.Hour))
	d := h.take(t, key, limits, 1)
	require.True(t, d.Allowed)
	require.Equal(t, int64(6), d.Remaining)

	// A pause that has ended is gone too.
	h.block(t, key, h.clk.Now().Add(time.Second))
	h.clk.Advance(time.Second)
	require.Equal(t, int64(10), h.drain(t, key, limits))
}

func testBlockChargesNothing(t *testing.T, h *harness) {
	key, limits := h.key("pause"), []store.Limit{store.PerMinute(60)} // one token a second
	d := h.take(t, key, limits, 50)
	require.Equal(t, int64(10), d.Remaining)

	h.block(t, key, h.clk.Now().Add(2*time.Second))
	for range 20 {
		require.False(t, h.take(t, key, limits, 1).Allowed)
		require.False(t, h.take(t, key, limits, 5).Allowed)
	}
	h.clk.Advance(time.Second)
	require.False(t, h.take(t, key, limits, 1).Allowed)
	h.clk.Advance(time.Second)
	d = h.take(t, key, limits, 1)
	require.True(t, d.Allowed)
	require.Equal(t, int64(11), d.Remaining, "10 left + 2 refilled during the pause − 1 taken")
}

func testBlockSubMicrosecond(t *testing.T, h *harness) {
	key, limits := h.key("sub-µs"), []store.Limit{store.PerSecond(10)}
	until := h.clk.Now().Add(1500 * time.Nanosecond)
	h.block(t, key, until)
	d := h.take(t, key, limits, 1)
	require.False(t, d.Allowed)
	require.False(t, h.clk.Now().Add(d.RetryAfter).Before(until), "RetryAfter %v falls short of the pause", d.RetryAfter)
	require.LessOrEqual(t, d.RetryAfter, 2*time.Microsecond)
	h.clk.Advance(d.RetryAfter)
	require.True(t, h.take(t, key, limits, 1).Allowed)
}

func testBlockLongestWait(t *testing.T, h *harness) {
	key, limits := h.key("longest"), []store.Limit{store.PerSecond(10)}
	require.Equal(t, int64(10), h.drain(t, key, limits))

	h.block(t, key, h.clk.Now().Add(50*time.Millisecond))
	require.Equal(t, 100*time.Millisecond, h.take(t, key, limits, 1).RetryAfter, "the bucket's wait is longer")

	h.block(t, key, h.clk.Now().Add(300*time.Millisecond))
	require.Equal(t, 300*time.Millisecond, h.take(t, key, limits, 1).RetryAfter, "the pause is longer")
	h.clk.Advance(300 * time.Millisecond)
	require.Equal(t, int64(3), h.drain(t, key, limits))
}

func testBlockPerKey(t *testing.T, h *harness) {
	limits := []store.Limit{store.PerSecond(10)}
	a, b := h.key("a"), h.key("b")
	h.block(t, a, h.clk.Now().Add(time.Minute))
	require.False(t, h.take(t, a, limits, 1).Allowed)
	require.Equal(t, int64(10), h.drain(t, b, limits))
}

// testBlockBeyondMax blocks until instants as far as time.Time reaches: the pause ends MaxDelay
// from now, and every take until then is refused with the wait to that end.
func testBlockBeyondMax(t *testing.T, h *harness) {
	limits := []store.Limit{store.PerSecond(10)}
	for i := range farFuture(Start) {
		key, until := h.key("far"), farFuture(h.clk.Now())[i]
		h.block(t, key, until)
		d := h.take(t, key, limits, 1)
		require.False(t, d.Allowed, "Block until %v", until)
		require.Equal(t, store.MaxDelay, d.RetryAfter, "Block until %v", until)
		h.clk.Advance(store.MaxDelay - time.Microsecond)
		require.Equal(t, time.Microsecond, h.take(t, key, limits, 1).RetryAfter, "Block until %v", until)
		h.clk.Advance(time.Microsecond)
		require.Equal(t, int64(10), h.drain(t, key, limits), "Block until %v: over", until)
	}
}
