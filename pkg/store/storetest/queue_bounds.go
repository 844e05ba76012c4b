package storetest

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var queueBoundsTests = []queueTest{
	{"MaxLen", testQueueMaxLen},
	{"MaxLenCountsRetriedAndReaped", testQueueMaxLenRetried},
	{"MaxLenBoundsRequeue", testQueueMaxLenRequeue},
	{"MaxPayload", testQueueMaxPayload},
	{"DefaultMaxPayload", testQueueDefaultMaxPayload},
	{"PriorityRange", testQueuePriorityRange},
	{"NegativeDelay", testQueueNegativeDelay},
	{"InvalidPolicy", testQueueInvalidPolicy},
	{"EmptyQueueName", testQueueEmptyName},
	{"NonPositiveLease", testQueueBadLease},
	{"ClosedStore", testQueueClosed},
	{"CancelledContext", testQueueCancelled},
}

func testQueueMaxLen(t *testing.T, h *qharness) {
	q, p := h.queue("maxlen"), store.QueuePolicy{MaxLen: 3}
	put := func(name string, delay time.Duration) error {
		_, _, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte(name), Delay: delay})
		return err
	}
	require.NoError(t, put("a", 0))
	require.NoError(t, put("delayed", time.Hour))
	require.NoError(t, put("b", 0))
	require.ErrorIs(t, put("c", 0), store.ErrQueueFull, "ready and delayed jobs count")
	require.ErrorIs(t, put("c", time.Minute), store.ErrQueueFull, "a delayed enqueue is bounded too")

	a := h.dequeue(t, q)
	require.Equal(t, "a", string(a.Payload))
	require.ErrorIs(t, put("c", 0), store.ErrQueueFull, "a job in flight counts")
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}, InFlight: 1, Delayed: 1})

	require.NoError(t, h.s.Bury(h.ctx, q, p, a.ID, a.Token, "poison"))
	require.NoError(t, put("c", 0), "a dead job does not count")
	require.ErrorIs(t, put("d", 0), store.ErrQueueFull)

	b := h.dequeue(t, q)
	require.NoError(t, h.s.Ack(h.ctx, q, p, b.ID, b.Token, nil))
	require.NoError(t, put("d", 0), "an acked job frees its place")
	require.ErrorIs(t, put("e", 0), store.ErrQueueFull)
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 2}, Delayed: 1, Dead: 1})
	require.Equal(t, []string{"c", "d"}, h.order(t, q), "the refused enqueues added nothing")
}

func testQueueMaxLenRetried(t *testing.T, h *qharness) {
	q, p := h.queue("maxlen-retry"), store.QueuePolicy{MaxLen: 2}
	for _, name := range []string{"a", "b"} {
		_, _, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte(name)})
		require.NoError(t, err)
	}
	a := h.dequeueFor(t, q, 10*time.Second)
	b := h.dequeueFor(t, q, time.Minute)
	require.NoError(t, h.s.Retry(h.ctx, q, a.ID, a.Token, h.clk.Now().Add(time.Hour), "later"))
	h.clk.Advance(2 * time.Minute)
	require.Equal(t, 1, h.reap(t, q))
	_, _, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("c")})
	require.ErrorIs(t, err, store.ErrQueueFull, "a retried job waiting and a reaped job ready still count")
	require.Equal(t, b.ID, h.dequeue(t, q).ID)
}

// testQueueMaxLenRequeue requeues a dead job into a full queue: it stays dead, with
// ErrQueueFull, until a place is free.
func testQueueMaxLenRequeue(t *testing.T, h *qharness) {
	q, p := h.queue("maxlen-requeue"), store.QueuePolicy{MaxLen: 2}
	h.enqueue(t, q, p, store.NewJob{Payload: []byte("poison")})
	a := h.dequeue(t, q)
	require.NoError(t, h.s.Bury(h.ctx, q, p, a.ID, a.Token, "bad"))
	h.enqueue(t, q, p, store.NewJob{Payload: []byte("b"), Delay: time.Hour})
	h.enqueue(t, q, p, store.NewJob{Payload: []byte("c")})
	require.ErrorIs(t, h.s.Requeue(h.ctx, q, p, a.ID), store.ErrQueueFull, "ready and delayed jobs fill the queue")
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}, Delayed: 1, Dead: 1})
	require.Equal(t, []string{"poison"}, h.dead(t, q, 10), "the job stays dead")

	c := h.dequeue(t, q)
	require.ErrorIs(t, h.s.Requeue(h.ctx, q, p, a.ID), store.ErrQueueFull, "a job in flight counts")
	h.ack(t, q, c, nil)
	require.NoError(t, h.s.Requeue(h.ctx, q, p, a.ID), "an acked job frees its place")
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}, Delayed: 1})
	l := h.dequeue(t, q)
	require.Equal(t, a.ID, l.ID)
	require.Equal(t, 1, l.Attempt, "attempts start again")
}

func testQueueMaxPayload(t *testing.T, h *qharness) {
	q, p := h.queue("maxpayload"), store.QueuePolicy{MaxPayload: 10}
	_, _, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("0123456789")})
	require.NoError(t, err, "exactly MaxPayload bytes fit")
	_, _, err = h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("0123456789A")})
	requireInvalid(t, err)
	require.NotErrorIs(t, err, store.ErrQueueFull)
	_, _, err = h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("0123456789A"), IdempotencyKey: "k"})
	requireInvalid(t, err)
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}})
	// The rejected enqueue did not claim its idempotency key.
	_, existed, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("ok"), IdempotencyKey: "k"})
	require.NoError(t, err)
	require.False(t, existed)
}

func testQueueDefaultMaxPayload(t *testing.T, h *qharness) {
	q := h.queue("default-maxpayload")
	_, _, err := h.s.Enqueue(h.ctx, q, store.QueuePolicy{}, store.NewJob{Payload: make([]byte, store.DefaultMaxPayload+1)})
	requireInvalid(t, err)
	h.requireStats(t, q, store.QueueStats{})
}

func testQueuePriorityRange(t *testing.T, h *qharness) {
	q := h.queue("priority-range")
	for _, prio := range []int{-1, store.MaxPriority + 1, math.MinInt, math.MaxInt, -store.MaxPriority} {
		_, _, err := h.s.Enqueue(h.ctx, q, store.QueuePolicy{}, store.NewJob{Priority: prio, Payload: []byte("x")})
		requireInvalid(t, err)
	}
	h.requireStats(t, q, store.QueueStats{})
	h.put(t, q, 0, "lowest")
	h.put(t, q, store.MaxPriority, "highest")
	require.Equal(t, []string{"highest", "lowest"}, h.order(t, q), "both ends of the range are valid")
}

func testQueueNegativeDelay(t *testing.T, h *qharness) {
	q := h.queue("negative-delay")
	for _, d := range []time.Duration{-time.Nanosecond, -time.Second, math.MinInt64} {
		_, _, err := h.s.Enqueue(h.ctx, q, store.QueuePolicy{}, store.NewJob{Payload: []byte("x"), Delay: d})
		requireInvalid(t, err)
	}
	h.requireStats(t, q, store.QueueStats{})
}

// badQueuePolicies are policies that Validate rejects, each with the field its error must name.
var badQueuePolicies = []struct {
	p     store.QueuePolicy
	field string
}{
	{store.QueuePolicy{MaxLen: -1}, "MaxLen"},
	{store.QueuePolicy{MaxPayload: -1}, "MaxPayload"},
	{store.QueuePolicy{ResultTTL: -time.Second}, "ResultTTL"},
	{store.QueuePolicy{ResultTTL: 500 * time.Microsecond}, "ResultTTL"},
	{store.QueuePolicy{IdempotencyTTL: -time.Second}, "IdempotencyTTL"},
	{store.QueuePolicy{IdempotencyTTL: time.Nanosecond}, "IdempotencyTTL"},
	{store.QueuePolicy{MaxDead: -1}, "MaxDead"},
	// Beyond what a store can count a TTL in (defect: Redis refused the ack, memory took it).
	{store.QueuePolicy{ResultTTL: store.MaxTTL + time.Nanosecond}, "ResultTTL"},
	{store.QueuePolicy{ResultTTL: math.MaxInt64}, "ResultTTL"},
	{store.QueuePolicy{IdempotencyTTL: store.MaxTTL + time.Millisecond}, "IdempotencyTTL"},
	{store.QueuePolicy{IdempotencyTTL: math.MaxInt64}, "IdempotencyTTL"},
}

func testQueueInvalidPolicy(t *testing.T, h *qharness) {
	q := h.queue("bad-policy")
	for _, c := range badQueuePolicies {
		requireInvalid(t, c.p.WithDefaults().Validate(), c.field)
		_, _, err := h.s.Enqueue(h.ctx, q, c.p, store.NewJob{Payload: []byte("x"), IdempotencyKey: "k"})
		requireInvalid(t, err, c.field)
	}
	h.requireStats(t, q, store.QueueStats{})

	h.put(t, q, 0, "job")
	l := h.dequeue(t, q)
	for _, c := range badQueuePolicies {
		requireInvalid(t, h.s.Ack(h.ctx, q, c.p, l.ID, l.Token, []byte("r")), c.field)
		requireInvalid(t, h.s.Bury(h.ctx, q, c.p, l.ID, l.Token, "why"), c.field)
		requireInvalid(t, h.s.Requeue(h.ctx, q, c.p, l.ID), c.field)
	}
	h.requireStats(t, q, store.QueueStats{InFlight: 1})
	h.noResult(t, q, l.ID)
	h.ack(t, q, l, []byte("r")) // the lease survived the rejected calls
	requireBytes(t, []byte("r"), h.result(t, q, l.ID).Body, "result")
}

func testQueueEmptyName(t *testing.T, h *qharness) {
	ctx, p := h.ctx, store.QueuePolicy{}
	_, _, err := h.s.Enqueue(ctx, "", p, store.NewJob{Payload: []byte("x")})
	requireInvalid(t, err)
	_, _, err = h.s.Dequeue(ctx, "", testLease)
	requireInvalid(t, err)
	_, err = h.s.Extend(ctx, "", "id", 1, testLease)
	requireInvalid(t, err)
	requireInvalid(t, h.s.Ack(ctx, "", p, "id", 1, nil))
	requireInvalid(t, h.s.Retry(ctx, "", "id", 1, h.clk.Now(), "e"))
	requireInvalid(t, h.s.Bury(ctx, "", p, "id", 1, "r"))
	_, err = h.s.Reap(ctx, "")
	requireInvalid(t, err)
	_, err = h.s.Result(ctx, "", "id")
	requireInvalid(t, err)
	_, err = h.s.QueueStats(ctx, "")
	requireInvalid(t, err)
	_, err = h.s.Dead(ctx, "", 10)
	requireInvalid(t, err)
	requireInvalid(t, h.s.Requeue(ctx, "", p, "id"))
	requireInvalid(t, h.s.WaitReady(ctx, "", time.Millisecond))
}

func testQueueBadLease(t *testing.T, h *qharness) {
	q := h.queue("bad-lease")
	h.put(t, q, 0, "job")
	for _, lease := range []time.Duration{0, -time.Second} {
		_, ok, err := h.s.Dequeue(h.ctx, q, lease)
		requireInvalid(t, err)
		require.False(t, ok)
	}
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}})

	l := h.dequeueFor(t, q, 10*time.Second)
	for _, lease := range []time.Duration{0, -time.Second} {
		_, err := h.s.Extend(h.ctx, q, l.ID, l.Token, lease)
		requireInvalid(t, err)
	}
	h.clk.Advance(10*time.Second + time.Millisecond)
	require.Equal(t, 1, h.reap(t, q), "the rejected Extends left the deadline alone")
}

func testQueueClosed(t *testing.T, h *qharness) {
	q, p := h.queue("closed"), store.QueuePolicy{}
	h.put(t, q, 0, "job")
	l := h.dequeue(t, q)
	require.NoError(t, h.s.Close())

	ctx := h.ctx
	_, _, err := h.s.Enqueue(ctx, q, p, store.NewJob{Payload: []byte("x")})
	require.ErrorIs(t, err, store.ErrClosed, "Enqueue")
	_, _, err = h.s.Dequeue(ctx, q, testLease)
	require.ErrorIs(t, err, store.ErrClosed, "Dequeue")
	_, err = h.s.Extend(ctx, q, l.ID, l.Token, testLease)
	require.ErrorIs(t, err, store.ErrClosed, "Extend")
	require.ErrorIs(t, h.s.Ack(ctx, q, p, l.ID, l.Token, nil), store.ErrClosed, "Ack")
	require.ErrorIs(t, h.s.Retry(ctx, q, l.ID, l.Token, h.clk.Now(), "e"), store.ErrClosed, "Retry")
	require.ErrorIs(t, h.s.Bury(ctx, q, p, l.ID, l.Token, "r"), store.ErrClosed, "Bury")
	_, err = h.s.Reap(ctx, q)
	require.ErrorIs(t, err, store.ErrClosed, "Reap")
	_, err = h.s.Result(ctx, q, l.ID)
	require.ErrorIs(t, err, store.ErrClosed, "Result")
	_, err = h.s.QueueStats(ctx, q)
	require.ErrorIs(t, err, store.ErrClosed, "QueueStats")
	_, err = h.s.Dead(ctx, q, 10)
	require.ErrorIs(t, err, store.ErrClosed, "Dead")
	require.ErrorIs(t, h.s.Requeue(ctx, q, p, l.ID), store.ErrClosed, "Requeue")
	require.ErrorIs(t, h.s.WaitReady(ctx, q, time.Millisecond), store.ErrClosed, "WaitReady")
}

func testQueueCancelled(t *testing.T, h *qharness) {
	q, p := h.queue("cancelled"), store.QueuePolicy{}
	h.put(t, q, 0, "held")
	h.put(t, q, 0, "ready")
	held := h.dequeueFor(t, q, 10*time.Second)
	// Let the held job's lease run out, so that a Reap would have something to do.
	h.clk.Advance(11 * time.Second)

	ctx, cancel := context.WithCancel(h.ctx)
	cancel()
	_, _, err := h.s.Enqueue(ctx, q, p, store.NewJob{Payload: []byte("x")})
	require.Error(t, err, "Enqueue")
	_, _, err = h.s.Dequeue(ctx, q, testLease)
	require.Error(t, err, "Dequeue")
	_, err = h.s.Extend(ctx, q, held.ID, held.Token, testLease)
	require.Error(t, err, "Extend")
	require.Error(t, h.s.Ack(ctx, q, p, held.ID, held.Token, nil), "Ack")
	require.Error(t, h.s.Retry(ctx, q, held.ID, held.Token, h.clk.Now(), "e"), "Retry")
	require.Error(t, h.s.Bury(ctx, q, p, held.ID, held.Token, "r"), "Bury")
	_, err = h.s.Reap(ctx, q)
	require.Error(t, err, "Reap")
	require.Error(t, h.s.WaitReady(ctx, q, time.Hour), "WaitReady")

	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}, InFlight: 1})
	h.noResult(t, q, held.ID)
	require.Equal(t, []string{"ready"}, h.order(t, q), "the cancelled calls changed nothing")
}
