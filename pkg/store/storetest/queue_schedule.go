package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var queueIdempotencyTests = []queueTest{
	{"SameKeySameJob", testIdemSameKey},
	{"DistinctKeys", testIdemDistinctKeys},
	{"KeyOutlivesTheJob", testIdemAfterFinish},
	{"KeyExpires", testIdemExpires},
	{"RepeatOnFullQueue", testIdemFullQueue},
	{"KeysArePerQueue", testIdemPerQueue},
}

func testIdemSameKey(t *testing.T, h *qharness) {
	q, p := h.queue("idem"), store.QueuePolicy{}
	id := h.enqueue(t, q, p, store.NewJob{Priority: 3, Payload: []byte("first"), IdempotencyKey: "charge-1"})
	for _, nj := range []store.NewJob{
		{Priority: 3, Payload: []byte("first"), IdempotencyKey: "charge-1"},
		{Priority: 9, Payload: []byte("different"), IdempotencyKey: "charge-1", Delay: time.Hour},
		{ID: "explicit", Payload: []byte("x"), IdempotencyKey: "charge-1"},
	} {
		got, existed, err := h.s.Enqueue(h.ctx, q, p, nj)
		require.NoError(t, err)
		require.True(t, existed, "repeat %+v", nj)
		require.Equal(t, id, got, "repeat %+v", nj)
	}
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{3: 1}})
	l := h.dequeue(t, q)
	require.Equal(t, id, l.ID)
	require.Equal(t, "first", string(l.Payload), "the first enqueue's job is the one kept")
	h.dequeueNone(t, q)
}

func testIdemDistinctKeys(t *testing.T, h *qharness) {
	q, p := h.queue("idem-distinct"), store.QueuePolicy{}
	a := h.enqueue(t, q, p, store.NewJob{Payload: []byte("a"), IdempotencyKey: "a"})
	b := h.enqueue(t, q, p, store.NewJob{Payload: []byte("b"), IdempotencyKey: "b"})
	c := h.enqueue(t, q, p, store.NewJob{Payload: []byte("c")})
	d := h.enqueue(t, q, p, store.NewJob{Payload: []byte("d")})
	require.Len(t, map[string]bool{a: true, b: true, c: true, d: true}, 4, "jobs without a key are never merged")
	require.Equal(t, []string{"a", "b", "c", "d"}, h.order(t, q))
}

func testIdemAfterFinish(t *testing.T, h *qharness) {
	q, p := h.queue("idem-finished"), store.QueuePolicy{IdempotencyTTL: time.Hour}
	id := h.enqueue(t, q, p, store.NewJob{Payload: []byte("once"), IdempotencyKey: "k"})
	l := h.dequeue(t, q)
	h.ack(t, q, l, []byte("done"))
	h.clk.Advance(30 * time.Minute)
	got, existed, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("again"), IdempotencyKey: "k"})
	require.NoError(t, err)
	require.True(t, existed, "a producer repeating itself after the job finished gets the finished job")
	require.Equal(t, id, got)
	h.dequeueNone(t, q)
	requireBytes(t, []byte("done"), h.result(t, q, id).Body, "result")
}

func testIdemExpires(t *testing.T, h *qharness) {
	q, p := h.queue("idem-ttl"), store.QueuePolicy{IdempotencyTTL: time.Minute}
	first := h.enqueue(t, q, p, store.NewJob{Payload: []byte("first"), IdempotencyKey: "k"})
	h.clk.Advance(59 * time.Second)
	got, existed, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("x"), IdempotencyKey: "k"})
	require.NoError(t, err)
	require.True(t, existed, "within IdempotencyTTL")
	require.Equal(t, first, got)

	h.clk.Advance(2 * time.Second)
	second, existed, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("second"), IdempotencyKey: "k"})
	require.NoError(t, err)
	require.False(t, existed, "after IdempotencyTTL the key makes a new job")
	require.NotEqual(t, first, second)

	got, existed, err = h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("y"), IdempotencyKey: "k"})
	require.NoError(t, err)
	require.True(t, existed, "the key now names the new job")
	require.Equal(t, second, got)
	require.Equal(t, []string{"first", "second"}, h.order(t, q))
}

func testIdemFullQueue(t *testing.T, h *qharness) {
	q, p := h.queue("idem-full"), store.QueuePolicy{MaxLen: 1}
	id := h.enqueue(t, q, p, store.NewJob{Payload: []byte("a"), IdempotencyKey: "k"})
	got, existed, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("a"), IdempotencyKey: "k"})
	require.NoError(t, err, "a repeat adds nothing, so a full queue does not refuse it")
	require.True(t, existed)
	require.Equal(t, id, got)
	_, _, err = h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("b"), IdempotencyKey: "other"})
	require.ErrorIs(t, err, store.ErrQueueFull)
	// The refused enqueue claimed no key.
	h.ack(t, q, h.dequeue(t, q), nil)
	_, existed, err = h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("b"), IdempotencyKey: "other"})
	require.NoError(t, err)
	require.False(t, existed)
}

func testIdemPerQueue(t *testing.T, h *qharness) {
	q1, q2, p := h.queue("idem-one"), h.queue("idem-two"), store.QueuePolicy{}
	h.enqueue(t, q1, p, store.NewJob{Payload: []byte("one"), IdempotencyKey: "k"})
	h.enqueue(t, q2, p, store.NewJob{Payload: []byte("two"), IdempotencyKey: "k"})
	require.Equal(t, []string{"one"}, h.order(t, q1))
	require.Equal(t, []string{"two"}, h.order(t, q2))
}

var queueDelayTests = []queueTest{
	{"NotBeforeItsTime", testDelayNotBefore},
	{"PriorityOnceDue", testDelayPriority},
	{"FIFOOnceDue", testDelayFIFO},
	{"ZeroDelayIsReady", testDelayZero},
}

func testDelayNotBefore(t *testing.T, h *qharness) {
	q := h.queue("delay")
	id := h.enqueue(t, q, store.QueuePolicy{}, store.NewJob{Payload: []byte("later"), Delay: 10 * time.Second})
	h.put(t, q, 0, "now")
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}, Delayed: 1})
	require.Equal(t, "now", string(h.dequeue(t, q).Payload))
	h.dequeueNone(t, q)
	h.clk.Advance(10*time.Second - time.Millisecond)
	h.dequeueNone(t, q)
	h.requireStats(t, q, store.QueueStats{InFlight: 1, Delayed: 1})
	h.clk.Advance(time.Millisecond)
	l := h.dequeue(t, q)
	require.Equal(t, id, l.ID, "due exactly at enqueue time + delay")
	require.Equal(t, 1, l.Attempt)
	requireSameTime(t, Start, l.EnqueuedAt, "EnqueuedAt is when it was enqueued, not when it became due")
	h.requireStats(t, q, store.QueueStats{InFlight: 2})
}

func testDelayPriority(t *testing.T, h *qharness) {
	q, p := h.queue("delay-priority"), store.QueuePolicy{}
	for _, j := range []struct {
		name  string
		prio  int
		delay time.Duration
	}{
		{"low-5s", 1, 5 * time.Second},
		{"high-5s", 9, 5 * time.Second},
		{"mid-3s", 5, 3 * time.Second},
		{"mid-5s", 5, 5 * time.Second},
		{"ready-3", 3, 0},
		{"high-1h", 9, time.Hour},
	} {
		h.enqueue(t, q, p, store.NewJob{Priority: j.prio, Payload: []byte(j.name), Delay: j.delay})
	}
	h.clk.Advance(6 * time.Second)
	h.put(t, q, 5, "mid-ready-later")
	require.Equal(t, []string{"high-5s", "mid-3s", "mid-5s", "mid-ready-later", "ready-3", "low-5s"}, h.order(t, q))
	h.requireStats(t, q, store.QueueStats{InFlight: 6, Delayed: 1})
}

func testDelayFIFO(t *testing.T, h *qharness) {
	q, p := h.queue("delay-fifo"), store.QueuePolicy{}
	var want []string
	for _, name := range []string{"a", "b", "c", "d", "e"} {
		h.enqueue(t, q, p, store.NewJob{Priority: 2, Payload: []byte(name), Delay: time.Minute})
		want = append(want, name)
	}
	h.clk.Advance(time.Minute)
	require.Equal(t, want, h.order(t, q), "jobs due at the same instant keep their enqueue order")
}

func testDelayZero(t *testing.T, h *qharness) {
	q := h.queue("delay-zero")
	h.enqueue(t, q, store.QueuePolicy{}, store.NewJob{Payload: []byte("x"), Delay: 0})
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}})
	require.Equal(t, "x", string(h.dequeue(t, q).Payload))
}
