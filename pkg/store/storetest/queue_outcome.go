package storetest

import (
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var queueRetryTests = []queueTest{
	{"Later", testRetryLater},
	{"NowOrPast", testRetryNow},
	{"KeepsPriority", testRetryPriority},
	{"LastErrorReplaced", testRetryLastError},
}

func testRetryLater(t *testing.T, h *qharness) {
	q := h.queue("retry-later")
	id := h.put(t, q, 0, "job")
	l := h.dequeue(t, q)
	h.clk.Advance(time.Second)
	require.NoError(t, h.s.Retry(h.ctx, q, id, l.Token, h.clk.Now().Add(30*time.Second), "503 from upstream"))
	h.requireStats(t, q, store.QueueStats{Delayed: 1})
	h.noResult(t, q, id)
	h.dequeueNone(t, q)
	h.clk.Advance(30*time.Second - time.Millisecond)
	h.dequeueNone(t, q)
	h.clk.Advance(time.Millisecond)
	l2 := h.dequeue(t, q)
	require.Equal(t, id, l2.ID, "ready exactly at the retry time")
	require.Equal(t, 2, l2.Attempt)
	require.Equal(t, "503 from upstream", l2.LastError)
	require.Equal(t, "job", string(l2.Payload))
	require.NotEqual(t, l.Token, l2.Token)
	h.ack(t, q, l2, []byte("ok"))
	require.Equal(t, 2, h.result(t, q, id).Attempts)
}

func testRetryNow(t *testing.T, h *qharness) {
	q := h.queue("retry-now")
	id := h.put(t, q, 0, "job")
	for i, at := range []time.Time{h.clk.Now(), h.clk.Now().Add(-time.Hour), h.clk.Now().Add(-time.Millisecond)} {
		l := h.dequeue(t, q)
		require.Equal(t, i+1, l.Attempt)
		require.NoError(t, h.s.Retry(h.ctx, q, id, l.Token, at, fmt.Sprintf("try %d", i+1)))
		h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}})
	}
	l := h.dequeue(t, q)
	require.Equal(t, 4, l.Attempt, "a retry at now or in the past is ready at once")
	require.Equal(t, "try 3", l.LastError)
}

func testRetryPriority(t *testing.T, h *qharness) {
	q := h.queue("retry-priority")
	h.put(t, q, 7, "seven")
	l := h.dequeue(t, q)
	h.put(t, q, 3, "three")
	h.put(t, q, 9, "nine")
	require.NoError(t, h.s.Retry(h.ctx, q, l.ID, l.Token, h.clk.Now().Add(time.Minute), "later"))
	h.clk.Advance(time.Minute)
	require.Equal(t, []string{"nine", "seven", "three"}, h.order(t, q))
}

func testRetryLastError(t *testing.T, h *qharness) {
	q := h.queue("retry-lasterror")
	id := h.put(t, q, 0, "job")
	l := h.dequeue(t, q)
	require.NoError(t, h.s.Retry(h.ctx, q, id, l.Token, h.clk.Now(), "first failure"))
	l = h.dequeue(t, q)
	require.Equal(t, "first failure", l.LastError)
	require.NoError(t, h.s.Retry(h.ctx, q, id, l.Token, h.clk.Now(), "second failure"))
	l = h.dequeue(t, q)
	require.Equal(t, "second failure", l.LastError)
	require.Equal(t, 3, l.Attempt)
}

var queueBuryTests = []queueTest{
	{"DeadResult", testBuryResult},
	{"DeadListOldestFirst", testBuryList},
	{"MaxDead", testBuryMaxDead},
	{"Requeue", testBuryRequeue},
	{"RequeueUnknown", testBuryRequeueUnknown},
}

func testBuryResult(t *testing.T, h *qharness) {
	q, p := h.queue("bury"), store.QueuePolicy{}
	id := h.enqueue(t, q, p, store.NewJob{Priority: 6, Payload: []byte("poison\x00pill")})
	l := h.dequeueFor(t, q, time.Second)
	h.clk.Advance(2 * time.Second)
	require.Equal(t, 1, h.reap(t, q))
	l = h.dequeue(t, q)
	require.NoError(t, h.s.Bury(h.ctx, q, p, id, l.Token, "400 Bad Request: malformed"))
	r := h.result(t, q, id)
	require.True(t, r.Dead)
	require.Equal(t, "400 Bad Request: malformed", r.Reason)
	require.Equal(t, 2, r.Attempts)
	require.Empty(t, r.Body)
	h.requireStats(t, q, store.QueueStats{Dead: 1})
	h.dequeueNone(t, q)

	dead, err := h.s.Dead(h.ctx, q, 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, id, dead[0].ID)
	require.Equal(t, 6, dead[0].Priority)
	requireBytes(t, []byte("poison\x00pill"), dead[0].Payload, "dead job's payload")
	requireSameTime(t, Start, dead[0].EnqueuedAt, "dead job's EnqueuedAt")
}

func testBuryList(t *testing.T, h *qharness) {
	q, p := h.queue("bury-list"), store.QueuePolicy{}
	for i := range 5 {
		h.put(t, q, 5-i, fmt.Sprintf("j%d", i)) // dequeued j0 first: priorities fall
	}
	var ls []store.Lease
	for range 5 {
		ls = append(ls, h.dequeue(t, q))
	}
	// Buried in another order than enqueued or dequeued, some at one instant.
	for _, i := range []int{3, 0, 4, 1, 2} {
		require.NoError(t, h.s.Bury(h.ctx, q, p, ls[i].ID, ls[i].Token, "r"))
		if i != 4 {
			h.clk.Advance(time.Second)
		}
	}
	require.Equal(t, []string{"j3", "j0", "j4", "j1", "j2"}, h.dead(t, q, 10), "oldest buried first")
	require.Equal(t, []string{"j3", "j0"}, h.dead(t, q, 2))
	require.Equal(t, []string{"j3", "j0", "j4", "j1", "j2"}, h.dead(t, q, 5))
	require.Empty(t, h.dead(t, q, 0))
}

func testBuryMaxDead(t *testing.T, h *qharness) {
	q, p := h.queue("bury-max"), store.QueuePolicy{MaxDead: 3}
	var ids []string
	for i := range 5 {
		ids = append(ids, h.put(t, q, 0, fmt.Sprintf("j%d", i)))
	}
	for i := range 5 {
		l := h.dequeue(t, q)
		require.NoError(t, h.s.Bury(h.ctx, q, p, l.ID, l.Token, fmt.Sprintf("r%d", i)))
		h.clk.Advance(time.Second)
		want := min(i+1, 3)
		require.Equal(t, want, h.stats(t, q).Dead, "after %d buried", i+1)
	}
	require.Equal(t, []string{"j2", "j3", "j4"}, h.dead(t, q, 10), "the oldest dead jobs were dropped")
	require.ErrorIs(t, h.s.Requeue(h.ctx, q, p, ids[0]), store.ErrNotFound, "a dropped dead job cannot be requeued")
	require.ErrorIs(t, h.s.Requeue(h.ctx, q, p, ids[1]), store.ErrNotFound)
	h.requireStats(t, q, store.QueueStats{Dead: 3})
	// Dead jobs, kept or dropped, take no place under MaxLen.
	for i := range 3 {
		_, _, err := h.s.Enqueue(h.ctx, q, store.QueuePolicy{MaxLen: 3, MaxDead: 3}, store.NewJob{Payload: []byte(fmt.Sprint(i))})
		require.NoError(t, err)
	}
}

func testBuryRequeue(t *testing.T, h *qharness) {
	q, p := h.queue("requeue"), store.QueuePolicy{}
	a := h.put(t, q, 4, "a")
	b := h.put(t, q, 4, "b")
	for range 2 {
		h.dequeueFor(t, q, time.Second)
	}
	h.clk.Advance(2 * time.Second)
	require.Equal(t, 2, h.reap(t, q))
	for range 2 { // buried on their second attempt
		l := h.dequeue(t, q)
		require.Equal(t, 2, l.Attempt)
		require.NoError(t, h.s.Bury(h.ctx, q, p, l.ID, l.Token, "bad "+string(l.Payload)))
	}
	h.requireStats(t, q, store.QueueStats{Dead: 2})
	h.put(t, q, 4, "c")
	h.put(t, q, 2, "low")

	require.NoError(t, h.s.Requeue(h.ctx, q, p, b))
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{4: 2, 2: 1}, Dead: 1})
	require.Equal(t, []string{"a"}, h.dead(t, q, 10))
	h.noResult(t, q, b) // the job runs again: its dead result no longer stands
	require.ErrorIs(t, h.s.Requeue(h.ctx, q, p, b), store.ErrNotFound, "requeued already")

	var got []store.Lease
	for range 2 {
		got = append(got, h.dequeue(t, q))
	}
	var requeued store.Lease
	for _, l := range got {
		if l.ID == b {
			requeued = l
		}
		require.NotEqual(t, "low", string(l.Payload), "the requeued job keeps its priority")
		require.NotEqual(t, a, l.ID, "the other dead job stays dead")
	}
	require.Equal(t, b, requeued.ID, "the requeued job is ready again")
	require.Equal(t, 1, requeued.Attempt, "Requeue resets the attempts")
	require.Equal(t, "b", string(requeued.Payload))
	h.ack(t, q, requeued, []byte("fixed"))
	r := h.result(t, q, b)
	require.False(t, r.Dead)
	requireBytes(t, []byte("fixed"), r.Body, "result after requeue")
	require.Equal(t, 1, r.Attempts)
	require.True(t, h.result(t, q, a).Dead, "the other dead job is untouched")
}

func testBuryRequeueUnknown(t *testing.T, h *qharness) {
	q, p := h.queue("requeue-unknown"), store.QueuePolicy{}
	require.ErrorIs(t, h.s.Requeue(h.ctx, q, p, "no-such-job"), store.ErrNotFound)
	ready := h.put(t, q, 0, "ready")
	held := h.put(t, q, 0, "held")
	require.Equal(t, ready, h.dequeue(t, q).ID)
	require.ErrorIs(t, h.s.Requeue(h.ctx, q, p, held), store.ErrNotFound, "a ready job is not dead")
	require.ErrorIs(t, h.s.Requeue(h.ctx, q, p, ready), store.ErrNotFound, "a job in flight is not dead")
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}, InFlight: 1})
}

var queueResultTests = []queueTest{
	{"NotBeforeFinished", testResultNotBefore},
	{"ExpiresAfterResultTTL", testResultTTL},
	{"DeadResultExpires", testResultDeadTTL},
	{"Attempts", testResultAttempts},
	{"LargeBody", testResultLargeBody},
	{"ManyFinished", testResultMany},
}

func testResultNotBefore(t *testing.T, h *qharness) {
	q := h.queue("result-before")
	h.noResult(t, q, "unknown")
	ready := h.put(t, q, 0, "ready")
	delayed := h.enqueue(t, q, store.QueuePolicy{}, store.NewJob{Payload: []byte("delayed"), Delay: time.Hour})
	h.noResult(t, q, ready)
	h.noResult(t, q, delayed)
	l := h.dequeue(t, q)
	h.noResult(t, q, ready)
	require.NoError(t, h.s.Retry(h.ctx, q, l.ID, l.Token, h.clk.Now().Add(time.Minute), "e"))
	h.noResult(t, q, ready)
	h.clk.Advance(time.Minute)
	l = h.dequeue(t, q)
	h.ack(t, q, l, []byte("body"))
	requireBytes(t, []byte("body"), h.result(t, q, ready).Body, "result")
}

func testResultTTL(t *testing.T, h *qharness) {
	q, p := h.queue("result-ttl"), store.QueuePolicy{ResultTTL: time.Minute}
	id := h.put(t, q, 0, "job")
	l := h.dequeue(t, q)
	h.clk.Advance(10 * time.Minute) // the lease's length has nothing to do with the result's life
	require.NoError(t, h.s.Ack(h.ctx, q, p, id, l.Token, []byte("body")))
	h.clk.Advance(59 * time.Second)
	requireBytes(t, []byte("body"), h.result(t, q, id).Body, "result within ResultTTL")
	h.clk.Advance(2 * time.Second)
	h.noResult(t, q, id)
	requireLeaseLost(t, h.s.Ack(h.ctx, q, p, id, l.Token, []byte("body")), "Ack after the result expired")
	h.noResult(t, q, id)
}

func testResultDeadTTL(t *testing.T, h *qharness) {
	q, p := h.queue("result-dead-ttl"), store.QueuePolicy{ResultTTL: time.Minute}
	id := h.put(t, q, 0, "job")
	l := h.dequeue(t, q)
	require.NoError(t, h.s.Bury(h.ctx, q, p, id, l.Token, "why"))
	h.clk.Advance(59 * time.Second)
	require.True(t, h.result(t, q, id).Dead)
	h.clk.Advance(2 * time.Second)
	h.noResult(t, q, id)
	require.Equal(t, []string{"job"}, h.dead(t, q, 10), "the dead job outlives its result")
}

func testResultAttempts(t *testing.T, h *qharness) {
	q := h.queue("result-attempts")
	id := h.put(t, q, 0, "job")
	l := h.dequeueFor(t, q, time.Second) // 1: lease runs out
	h.clk.Advance(2 * time.Second)
	require.Equal(t, 1, h.reap(t, q))
	l = h.dequeue(t, q) // 2: retried
	require.NoError(t, h.s.Retry(h.ctx, q, id, l.Token, h.clk.Now().Add(time.Second), "e"))
	h.clk.Advance(time.Second)
	l = h.dequeue(t, q) // 3: acked
	require.Equal(t, 3, l.Attempt)
	h.ack(t, q, l, nil)
	r := h.result(t, q, id)
	require.Equal(t, 3, r.Attempts)
	require.False(t, r.Dead)
	require.Empty(t, r.Body)
	require.Empty(t, r.Reason)
}

func testResultLargeBody(t *testing.T, h *qharness) {
	q := h.queue("result-large")
	body := make([]byte, 256<<10)
	for i := range body {
		body[i] = byte(i * 31)
	}
	id := h.put(t, q, 0, "job")
	h.ack(t, q, h.dequeue(t, q), body)
	requireBytes(t, body, h.result(t, q, id).Body, "a large result body")
}

// testResultMany finishes jobs by the thousand, so that a store which forgets expired results and
// idempotency keys in bulk does so: the expired ones go, the live ones stay. (The memory store
// sweeps every 1024 finished jobs: two batches of n cross that.)
func testResultMany(t *testing.T, h *qharness) {
	q := h.queue("result-many")
	p := store.QueuePolicy{ResultTTL: time.Minute, IdempotencyTTL: time.Minute}
	const n = 550
	batch := func(prefix string) []string {
		var ids []string
		for i := range n {
			ids = append(ids, h.enqueue(t, q, p, store.NewJob{Payload: []byte("x"), IdempotencyKey: fmt.Sprint(prefix, i)}))
		}
		for range n {
			l := h.dequeue(t, q)
			require.NoError(t, h.s.Ack(h.ctx, q, p, l.ID, l.Token, []byte(l.ID)))
		}
		return ids
	}
	old := batch("old-")
	h.clk.Advance(2 * time.Minute)
	fresh := batch("fresh-")
	for i := range n {
		h.noResult(t, q, old[i])
		requireBytes(t, []byte(fresh[i]), h.result(t, q, fresh[i]).Body, "fresh result")
	}
	for i := 0; i < n; i += 7 {
		id, existed, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("x"), IdempotencyKey: fmt.Sprint("fresh-", i)})
		require.NoError(t, err)
		require.True(t, existed, "fresh key %d", i)
		require.Equal(t, fresh[i], id)
		id, existed, err = h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("x"), IdempotencyKey: fmt.Sprint("old-", i)})
		require.NoError(t, err)
		require.False(t, existed, "expired key %d", i)
		require.NotEqual(t, old[i], id)
	}
}
