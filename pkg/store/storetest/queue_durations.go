package storetest

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var queueDurationTests = []queueTest{
	{"DelayBeyondMax", testDurDelayBeyondMax},
	{"MaxDelay", testDurMaxDelay},
	{"LeaseBeyondMax", testDurLeaseBeyondMax},
	{"MaxLease", testDurMaxLease},
	{"MaxTTL", testDurMaxTTL},
	{"RetryBeyondMaxDelay", testDurRetryBeyondMax},
}

// farFuture are instants beyond MaxDelay from now, up to the latest a time.Time holds (past what
// int64 Unix microseconds hold): each must count as MaxDelay from now.
func farFuture(now time.Time) []time.Time {
	const unixToInternal = 62135596800 // seconds from year 1 to 1970, as package time counts
	return []time.Time{
		now.Add(store.MaxDelay + time.Nanosecond),
		now.Add(math.MaxInt64),
		time.Unix(1<<62, 0),
		time.Unix(math.MaxInt64-unixToInternal, 999_999_999),
	}
}

func testDurDelayBeyondMax(t *testing.T, h *qharness) {
	q := h.queue("delay-beyond-max")
	for _, d := range []time.Duration{store.MaxDelay + time.Nanosecond, store.MaxDelay + time.Microsecond, math.MaxInt64} {
		_, _, err := h.s.Enqueue(h.ctx, q, store.QueuePolicy{}, store.NewJob{Payload: []byte("x"), Delay: d})
		requireInvalid(t, err, "delay")
	}
	h.requireStats(t, q, store.QueueStats{})
}

func testDurMaxDelay(t *testing.T, h *qharness) {
	q := h.queue("max-delay")
	id := h.enqueue(t, q, store.QueuePolicy{}, store.NewJob{Payload: []byte("x"), Delay: store.MaxDelay})
	h.dequeueNone(t, q)
	h.requireStats(t, q, store.QueueStats{Delayed: 1})
	h.clk.Advance(store.MaxDelay - time.Microsecond)
	h.dequeueNone(t, q)
	h.clk.Advance(time.Microsecond)
	require.Equal(t, id, h.dequeue(t, q).ID)
}

func testDurLeaseBeyondMax(t *testing.T, h *qharness) {
	q := h.queue("lease-beyond-max")
	h.put(t, q, 0, "job")
	bad := []time.Duration{store.MaxLease + time.Nanosecond, math.MaxInt64}
	for _, lease := range bad {
		_, ok, err := h.s.Dequeue(h.ctx, q, lease)
		requireInvalid(t, err, "lease")
		require.False(t, ok)
	}
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}})

	l := h.dequeueFor(t, q, 10*time.Second)
	for _, lease := range bad {
		_, err := h.s.Extend(h.ctx, q, l.ID, l.Token, lease)
		requireInvalid(t, err, "lease")
	}
	h.clk.Advance(10 * time.Second)
	require.Equal(t, 1, h.reap(t, q), "the refused Extends left the deadline alone")
}

func testDurMaxLease(t *testing.T, h *qharness) {
	q := h.queue("max-lease")
	h.put(t, q, 0, "job")
	l := h.dequeueFor(t, q, store.MaxLease)
	requireSameTime(t, h.clk.Now().Add(store.MaxLease), l.Deadline, "deadline")
	h.clk.Advance(store.MaxLease - time.Microsecond)
	require.Equal(t, 0, h.reap(t, q))
	h.dequeueNone(t, q)

	deadline, err := h.s.Extend(h.ctx, q, l.ID, l.Token, store.MaxLease)
	require.NoError(t, err)
	requireSameTime(t, h.clk.Now().Add(store.MaxLease), deadline, "extended deadline")
	h.clk.Advance(store.MaxLease - time.Microsecond)
	require.Equal(t, 0, h.reap(t, q))
	h.clk.Advance(time.Microsecond)
	require.Equal(t, 1, h.reap(t, q))
	require.Equal(t, 2, h.dequeue(t, q).Attempt)
}

func testDurMaxTTL(t *testing.T, h *qharness) {
	q, p := h.queue("max-ttl"), store.QueuePolicy{ResultTTL: store.MaxTTL, IdempotencyTTL: store.MaxTTL}
	acked := h.enqueue(t, q, p, store.NewJob{Payload: []byte("acked"), IdempotencyKey: "k"})
	buried := h.enqueue(t, q, p, store.NewJob{Payload: []byte("buried")})
	l := h.dequeue(t, q)
	require.NoError(t, h.s.Ack(h.ctx, q, p, acked, l.Token, []byte("body")))
	l = h.dequeue(t, q)
	require.NoError(t, h.s.Bury(h.ctx, q, p, buried, l.Token, "why"))

	h.clk.Advance(store.MaxTTL - time.Second)
	requireBytes(t, []byte("body"), h.result(t, q, acked).Body, "result within ResultTTL")
	require.True(t, h.result(t, q, buried).Dead)
	got, existed, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("again"), IdempotencyKey: "k"})
	require.NoError(t, err)
	require.True(t, existed, "within IdempotencyTTL")
	require.Equal(t, acked, got)

	h.clk.Advance(2 * time.Second)
	h.noResult(t, q, acked)
	h.noResult(t, q, buried)
	_, existed, err = h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("new"), IdempotencyKey: "k"})
	require.NoError(t, err)
	require.False(t, existed, "after IdempotencyTTL the key makes a new job")
}

func testDurRetryBeyondMax(t *testing.T, h *qharness) {
	q := h.queue("retry-beyond-max")
	id := h.put(t, q, 0, "job")
	l := h.dequeue(t, q)
	for i := range farFuture(Start) {
		at := farFuture(h.clk.Now())[i]
		require.NoError(t, h.s.Retry(h.ctx, q, id, l.Token, at, "far"))
		h.requireStats(t, q, store.QueueStats{Delayed: 1})
		h.dequeueNone(t, q)
		h.clk.Advance(store.MaxDelay - time.Microsecond)
		h.dequeueNone(t, q)
		h.clk.Advance(time.Microsecond)
		l = h.dequeue(t, q)
		require.Equal(t, i+2, l.Attempt, "retry at %v: due MaxDelay from then", at)
	}
	for _, at := range []time.Time{time.Unix(-1<<62, 0), time.Unix(math.MinInt64, 0), {}} {
		require.NoError(t, h.s.Retry(h.ctx, q, id, l.Token, at, "past"))
		h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}})
		l = h.dequeue(t, q)
	}
}
