package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var queueLeaseTests = []queueTest{
	{"Extend", testLeaseExtend},
	{"TokensAreDistinct", testLeaseTokens},
	{"WrongToken", testLeaseWrongToken},
	{"ReapExactlyTheExpired", testLeaseReapExpired},
	{"ReapToFrontOfPriority", testLeaseReapFront},
	{"StaleWorkerCannotOverwrite", testLeaseStaleWorker},
	{"StaleTokenWhileReady", testLeaseStaleWhileReady},
	{"AckTwice", testLeaseAckTwice},
	{"FinishedJobRefusesOtherOutcomes", testLeaseFinished},
}

func testLeaseExtend(t *testing.T, h *qharness) {
	q := h.queue("extend")
	h.put(t, q, 0, "job")
	l := h.dequeueFor(t, q, 10*time.Second)
	requireSameTime(t, Start.Add(10*time.Second), l.Deadline, "first deadline")

	h.clk.Advance(8 * time.Second)
	until, err := h.s.Extend(h.ctx, q, l.ID, l.Token, 20*time.Second)
	require.NoError(t, err)
	requireSameTime(t, h.clk.Now().Add(20*time.Second), until, "Extend returns now + lease")

	h.clk.Advance(20*time.Second - time.Millisecond) // past the first deadline, before the new one
	require.Equal(t, 0, h.reap(t, q), "the extended lease still holds")
	h.clk.Advance(2 * time.Millisecond)
	require.Equal(t, 1, h.reap(t, q), "the extended lease ran out")

	// A shorter extension moves the deadline back as well: it is now + lease, not a maximum.
	l = h.dequeueFor(t, q, time.Hour)
	until, err = h.s.Extend(h.ctx, q, l.ID, l.Token, 5*time.Second)
	require.NoError(t, err)
	requireSameTime(t, h.clk.Now().Add(5*time.Second), until, "Extend to a shorter lease")
	h.clk.Advance(5*time.Second + time.Millisecond)
	require.Equal(t, 1, h.reap(t, q))
}

func testLeaseTokens(t *testing.T, h *qharness) {
	q := h.queue("tokens")
	for i := range 5 {
		h.put(t, q, i, "job")
	}
	seen := map[int64]bool{}
	for range 5 {
		l := h.dequeueFor(t, q, time.Second)
		require.False(t, seen[l.Token], "token %d handed out twice", l.Token)
		seen[l.Token] = true
	}
	h.clk.Advance(2 * time.Second)
	require.Equal(t, 5, h.reap(t, q))
	for range 5 {
		l := h.dequeue(t, q)
		require.False(t, seen[l.Token], "a redelivery reused token %d", l.Token)
		seen[l.Token] = true
	}
}

func testLeaseWrongToken(t *testing.T, h *qharness) {
	q, p := h.queue("wrong-token"), store.QueuePolicy{}
	h.put(t, q, 0, "job")
	l := h.dequeue(t, q)
	for _, tok := range []int64{l.Token + 1, l.Token - 1, 0, -1} {
		if tok == l.Token {
			continue
		}
		_, err := h.s.Extend(h.ctx, q, l.ID, tok, time.Minute)
		requireLeaseLost(t, err, "Extend with a wrong token")
		requireLeaseLost(t, h.s.Ack(h.ctx, q, p, l.ID, tok, []byte("forged")), "Ack with a wrong token")
		requireLeaseLost(t, h.s.Retry(h.ctx, q, l.ID, tok, h.clk.Now(), "forged"), "Retry with a wrong token")
		requireLeaseLost(t, h.s.Bury(h.ctx, q, p, l.ID, tok, "forged"), "Bury with a wrong token")
	}
	// Another job's token holds only that job.
	h.put(t, q, 0, "other")
	o := h.dequeue(t, q)
	_, err := h.s.Extend(h.ctx, q, l.ID, o.Token, time.Minute)
	requireLeaseLost(t, err, "Extend with another job's token")
	requireLeaseLost(t, h.s.Ack(h.ctx, q, p, l.ID, o.Token, []byte("forged")), "Ack with another job's token")
	requireLeaseLost(t, h.s.Retry(h.ctx, q, l.ID, o.Token, h.clk.Now(), "forged"), "Retry with another job's token")
	requireLeaseLost(t, h.s.Bury(h.ctx, q, p, l.ID, o.Token, "forged"), "Bury with another job's token")
	h.ack(t, q, o, nil)

	// An unknown job is not held by anyone.
	_, err = h.s.Extend(h.ctx, q, "no-such-job", l.Token, time.Minute)
	requireLeaseLost(t, err, "Extend of an unknown job")
	requireLeaseLost(t, h.s.Ack(h.ctx, q, p, "no-such-job", l.Token, nil), "Ack of an unknown job")
	requireLeaseLost(t, h.s.Retry(h.ctx, q, "no-such-job", l.Token, h.clk.Now(), ""), "Retry of an unknown job")
	requireLeaseLost(t, h.s.Bury(h.ctx, q, p, "no-such-job", l.Token, ""), "Bury of an unknown job")

	h.requireStats(t, q, store.QueueStats{InFlight: 1})
	h.noResult(t, q, l.ID)
	h.ack(t, q, l, []byte("real"))
	requireBytes(t, []byte("real"), h.result(t, q, l.ID).Body, "the real owner's result")
}

func testLeaseReapExpired(t *testing.T, h *qharness) {
	q, p := h.queue("reap"), store.QueuePolicy{}
	for _, name := range []string{"a", "b", "c", "d"} {
		h.put(t, q, 0, name)
	}
	a := h.dequeueFor(t, q, 10*time.Second)
	b := h.dequeueFor(t, q, 30*time.Second)
	c := h.dequeueFor(t, q, 10*time.Second)
	d := h.dequeueFor(t, q, 5*time.Second)
	_, err := h.s.Extend(h.ctx, q, c.ID, c.Token, time.Minute)
	require.NoError(t, err)
	h.ack(t, q, d, nil) // finished before its lease ran out: nothing to reap

	h.clk.Advance(10*time.Second - time.Millisecond)
	require.Equal(t, 0, h.reap(t, q), "no lease has run out yet")
	h.clk.Advance(5 * time.Second)
	require.Equal(t, 1, h.reap(t, q), "only a's lease ran out")
	require.Equal(t, 0, h.reap(t, q), "reaping again finds nothing")
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}, InFlight: 2})

	a2 := h.dequeue(t, q)
	require.Equal(t, a.ID, a2.ID)
	require.Equal(t, 2, a2.Attempt, "a redelivery is the next attempt")
	require.Equal(t, "a", string(a2.Payload))
	require.NotEqual(t, a.Token, a2.Token)
	requireSameTime(t, Start, a2.EnqueuedAt, "EnqueuedAt survives a redelivery")

	// b and c still hold their jobs.
	_, err = h.s.Extend(h.ctx, q, b.ID, b.Token, 30*time.Second)
	require.NoError(t, err)
	require.NoError(t, h.s.Ack(h.ctx, q, p, c.ID, c.Token, []byte("c-done")))
	requireLeaseLost(t, h.s.Ack(h.ctx, q, p, a.ID, a.Token, []byte("stale")), "a's first lease is gone")
	h.ack(t, q, a2, []byte("a-done"))
	r := h.result(t, q, a.ID)
	requireBytes(t, []byte("a-done"), r.Body, "a's result")
	require.Equal(t, 2, r.Attempts)
}

func testLeaseReapFront(t *testing.T, h *qharness) {
	q, p := h.queue("reap-front"), store.QueuePolicy{}
	// "older" was enqueued before "taken" but only became due after "taken" was handed out.
	h.enqueue(t, q, p, store.NewJob{Priority: 1, Payload: []byte("older"), Delay: 5 * time.Second})
	h.put(t, q, 1, "taken")
	taken := h.dequeueFor(t, q, 10*time.Second)
	require.Equal(t, "taken", string(taken.Payload))
	h.put(t, q, 1, "newer")
	h.put(t, q, 2, "higher")
	h.put(t, q, 0, "lower")
	h.clk.Advance(10*time.Second + time.Millisecond)
	require.Equal(t, 1, h.reap(t, q))
	h.put(t, q, 1, "after-reap")
	require.Equal(t, []string{"higher", "taken", "older", "newer", "after-reap", "lower"}, h.order(t, q),
		"a reaped job goes to the front of its own priority, behind higher priorities")
}

func testLeaseStaleWorker(t *testing.T, h *qharness) {
	q, p := h.queue("stale-worker"), store.QueuePolicy{}
	id := h.put(t, q, 0, "job")
	old := h.dequeueFor(t, q, 10*time.Second)
	h.clk.Advance(11 * time.Second)
	require.Equal(t, 1, h.reap(t, q))
	cur := h.dequeueFor(t, q, 10*time.Second)
	require.Equal(t, id, cur.ID)
	require.Equal(t, 2, cur.Attempt)

	// The old worker wakes up and tries everything; none of it touches the new owner's lease.
	_, err := h.s.Extend(h.ctx, q, id, old.Token, time.Hour)
	requireLeaseLost(t, err, "stale Extend")
	requireLeaseLost(t, h.s.Ack(h.ctx, q, p, id, old.Token, []byte("old")), "stale Ack")
	requireLeaseLost(t, h.s.Retry(h.ctx, q, id, old.Token, h.clk.Now(), "old"), "stale Retry")
	requireLeaseLost(t, h.s.Bury(h.ctx, q, p, id, old.Token, "old"), "stale Bury")
	h.requireStats(t, q, store.QueueStats{InFlight: 1})
	h.noResult(t, q, id)

	h.ack(t, q, cur, []byte("new"))
	requireLeaseLost(t, h.s.Ack(h.ctx, q, p, id, old.Token, []byte("old")), "stale Ack after the new owner's")
	requireLeaseLost(t, h.s.Bury(h.ctx, q, p, id, old.Token, "old"), "stale Bury after the new owner's Ack")
	requireLeaseLost(t, h.s.Retry(h.ctx, q, id, old.Token, h.clk.Now(), "old"), "stale Retry after the new owner's Ack")
	r := h.result(t, q, id)
	requireBytes(t, []byte("new"), r.Body, "the new owner's result")
	require.False(t, r.Dead)
	require.Equal(t, 2, r.Attempts)
	h.requireStats(t, q, store.QueueStats{})
	h.dequeueNone(t, q)
}

func testLeaseStaleWhileReady(t *testing.T, h *qharness) {
	q, p := h.queue("stale-ready"), store.QueuePolicy{}
	id := h.put(t, q, 4, "job")
	old := h.dequeueFor(t, q, time.Second)
	h.clk.Advance(2 * time.Second)
	require.Equal(t, 1, h.reap(t, q))
	// Back in the queue, held by no one: the old token can do nothing with it.
	requireLeaseLost(t, h.s.Ack(h.ctx, q, p, id, old.Token, []byte("old")), "stale Ack")
	requireLeaseLost(t, h.s.Bury(h.ctx, q, p, id, old.Token, "old"), "stale Bury")
	requireLeaseLost(t, h.s.Retry(h.ctx, q, id, old.Token, h.clk.Now().Add(time.Hour), "old"), "stale Retry")
	_, err := h.s.Extend(h.ctx, q, id, old.Token, time.Hour)
	requireLeaseLost(t, err, "stale Extend")
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{4: 1}})
	h.noResult(t, q, id)
	require.Empty(t, h.dead(t, q, 10))
}

func testLeaseAckTwice(t *testing.T, h *qharness) {
	q, p := h.queue("ack-twice"), store.QueuePolicy{}
	h.put(t, q, 0, "job")
	l := h.dequeue(t, q)
	h.ack(t, q, l, []byte("first"))
	require.NoError(t, h.s.Ack(h.ctx, q, p, l.ID, l.Token, []byte("first")), "the same ack again is harmless")
	require.NoError(t, h.s.Ack(h.ctx, q, p, l.ID, l.Token, []byte("second")), "a repeated ack is harmless")
	r := h.result(t, q, l.ID)
	requireBytes(t, []byte("first"), r.Body, "a repeated ack does not change the result")
	require.Equal(t, 1, r.Attempts)
	h.requireStats(t, q, store.QueueStats{})
}

func testLeaseFinished(t *testing.T, h *qharness) {
	q, p := h.queue("finished"), store.QueuePolicy{}
	h.put(t, q, 0, "acked")
	h.put(t, q, 0, "buried")
	a, b := h.dequeue(t, q), h.dequeue(t, q)
	h.ack(t, q, a, []byte("ok"))
	require.NoError(t, h.s.Bury(h.ctx, q, p, b.ID, b.Token, "poison"))

	// Once finished, a job is held by no one: only a repeated Ack of an acked job is let through.
	_, err := h.s.Extend(h.ctx, q, a.ID, a.Token, time.Minute)
	requireLeaseLost(t, err, "Extend after Ack")
	requireLeaseLost(t, h.s.Retry(h.ctx, q, a.ID, a.Token, h.clk.Now(), "e"), "Retry after Ack")
	requireLeaseLost(t, h.s.Bury(h.ctx, q, p, a.ID, a.Token, "r"), "Bury after Ack")
	_, err = h.s.Extend(h.ctx, q, b.ID, b.Token, time.Minute)
	requireLeaseLost(t, err, "Extend after Bury")
	requireLeaseLost(t, h.s.Ack(h.ctx, q, p, b.ID, b.Token, []byte("late")), "Ack after Bury")
	requireLeaseLost(t, h.s.Retry(h.ctx, q, b.ID, b.Token, h.clk.Now(), "e"), "Retry after Bury")

	ra, rb := h.result(t, q, a.ID), h.result(t, q, b.ID)
	require.False(t, ra.Dead)
	requireBytes(t, []byte("ok"), ra.Body, "acked result")
	require.True(t, rb.Dead)
	require.Equal(t, "poison", rb.Reason)
	h.requireStats(t, q, store.QueueStats{Dead: 1})
	h.dequeueNone(t, q)
}
