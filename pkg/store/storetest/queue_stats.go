package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var queueStatsTests = []queueTest{
	{"Scripted", testStatsScripted},
}

// testStatsScripted walks one queue through every state a job can be in and checks the stats
// after each step. It reads them only where no delayed job is due without a Dequeue since, so
// that the answer does not depend on when a store promotes due jobs.
func testStatsScripted(t *testing.T, h *qharness) {
	q, p := h.queue("stats"), store.QueuePolicy{}
	type ready = map[int]int
	h.requireStats(t, q, store.QueueStats{})

	h.put(t, q, 0, "zero-a")
	h.put(t, q, 0, "zero-b")
	h.put(t, q, 5, "five")
	h.enqueue(t, q, p, store.NewJob{Priority: 0, Payload: []byte("zero-delayed"), Delay: time.Minute})
	h.enqueue(t, q, p, store.NewJob{Priority: 9, Payload: []byte("nine-delayed"), Delay: time.Hour})
	h.requireStats(t, q, store.QueueStats{Ready: ready{0: 2, 5: 1}, Delayed: 2})

	five := h.dequeue(t, q)
	require.Equal(t, "five", string(five.Payload))
	h.requireStats(t, q, store.QueueStats{Ready: ready{0: 2}, InFlight: 1, Delayed: 2})

	require.NoError(t, h.s.Bury(h.ctx, q, p, five.ID, five.Token, "bad"))
	h.requireStats(t, q, store.QueueStats{Ready: ready{0: 2}, Delayed: 2, Dead: 1})

	za := h.dequeue(t, q)
	h.requireStats(t, q, store.QueueStats{Ready: ready{0: 1}, InFlight: 1, Delayed: 2, Dead: 1})
	require.NoError(t, h.s.Retry(h.ctx, q, za.ID, za.Token, h.clk.Now().Add(30*time.Second), "again"))
	h.requireStats(t, q, store.QueueStats{Ready: ready{0: 1}, Delayed: 3, Dead: 1})

	zb := h.dequeueFor(t, q, 2*time.Minute)
	h.requireStats(t, q, store.QueueStats{InFlight: 1, Delayed: 3, Dead: 1})
	h.ack(t, q, zb, []byte("ok"))
	h.requireStats(t, q, store.QueueStats{Delayed: 3, Dead: 1})

	h.clk.Advance(time.Minute)
	first := h.dequeueFor(t, q, 10*time.Second) // promotes the retried and the delayed zero
	require.Equal(t, 0, first.Priority)
	h.requireStats(t, q, store.QueueStats{Ready: ready{0: 1}, InFlight: 1, Delayed: 1, Dead: 1})

	require.NoError(t, h.s.Requeue(h.ctx, q, p, five.ID))
	h.requireStats(t, q, store.QueueStats{Ready: ready{0: 1, 5: 1}, InFlight: 1, Delayed: 1})

	h.clk.Advance(10*time.Second + time.Millisecond)
	require.Equal(t, 1, h.reap(t, q))
	h.requireStats(t, q, store.QueueStats{Ready: ready{0: 2, 5: 1}, Delayed: 1})

	require.Equal(t, []string{"five"}, h.order(t, q)[:1])
	h.requireStats(t, q, store.QueueStats{InFlight: 3, Delayed: 1})
	h.clk.Advance(time.Hour)
	require.Equal(t, "nine-delayed", string(h.dequeue(t, q).Payload))
	h.requireStats(t, q, store.QueueStats{InFlight: 4})
}
