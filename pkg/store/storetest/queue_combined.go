package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

// queueCombinedTests check the calls that do the work of several in one step: AckDequeue must
// answer as Ack then Dequeue would, EnqueueBatch as one Enqueue per job.
var queueCombinedTests = []queueTest{
	{"AckDequeue", testAckDequeue},
	{"AckDequeueBounds", testAckDequeueBounds},
	{"AckDequeueLeasesTheBestDueJob", testAckDequeueBestDue},
	{"EnqueueBatchPerJob", testEnqueueBatchPerJob},
	{"EnqueueBatchIDs", testEnqueueBatchIDs},
	{"EnqueueBatchBounds", testEnqueueBatchBounds},
}

// requireAckError requires err to be an *store.AckError (the ack was not recorded) wrapping
// target.
func requireAckError(tb testing.TB, err, target error, what string) {
	tb.Helper()
	var ackErr *store.AckError
	require.ErrorAs(tb, err, &ackErr, what)
	require.ErrorIs(tb, err, target, what)
}

// testAckDequeue checks that AckDequeue does what Ack then Dequeue would: the ack fenced by its
// token and reported apart from the lease, the lease the best ready job.
func testAckDequeue(t *testing.T, h *qharness) {
	q, p := h.queue("ackdequeue"), store.QueuePolicy{ResultTTL: time.Hour}
	low := h.enqueue(t, q, p, store.NewJob{Payload: []byte("low")})
	first := h.enqueue(t, q, p, store.NewJob{Priority: 5, Payload: []byte("first")})
	second := h.enqueue(t, q, p, store.NewJob{Priority: 5, Payload: []byte("second")})

	l := h.dequeueFor(t, q, time.Minute)
	require.Equal(t, first, l.ID)
	next, ok, err := h.s.AckDequeue(h.ctx, q, p, l.ID, l.Token, []byte("one"), 2*time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, second, next.ID)
	requireBytes(t, []byte("second"), next.Payload, "payload")
	require.Equal(t, 1, next.Attempt)
	require.Greater(t, next.Token, l.Token)
	requireSameTime(t, h.clk.Now().Add(2*time.Minute), next.Deadline, "deadline")
	require.Equal(t, store.Result{ID: first, Body: []byte("one"), Attempts: 1}, h.result(t, q, first))

	// A stale token fails the ack as Ack would, and the lease is handed out all the same.
	last, ok, err := h.s.AckDequeue(h.ctx, q, p, second, next.Token+1, nil, time.Minute)
	requireAckError(t, err, store.ErrLeaseLost, "stale token")
	require.ErrorContains(t, err, "weir/store: ack: lease lost")
	require.True(t, ok, "the lease is the caller's despite the failed ack")
	require.Equal(t, low, last.ID)

	// The same ack twice is no error; nothing is left to lease.
	for _, body := range []string{"two", "again"} {
		_, ok, err = h.s.AckDequeue(h.ctx, q, p, second, next.Token, []byte(body), time.Minute)
		require.NoError(t, err, "ack with %q", body)
		require.False(t, ok)
	}
	requireBytes(t, []byte("two"), h.result(t, q, second).Body, "the first ack's result")
	h.requireStats(t, q, store.QueueStats{InFlight: 1})

	// Bad input fails the whole call, naming the problem, and changes nothing.
	_, _, err = h.s.AckDequeue(h.ctx, q, p, last.ID, last.Token, nil, 0)
	requireAckError(t, err, store.ErrInvalid, "lease 0")
	require.ErrorContains(t, err, "lease")
	_, _, err = h.s.AckDequeue(h.ctx, q, store.QueuePolicy{MaxDead: -1}, last.ID, last.Token, nil, time.Minute)
	requireAckError(t, err, store.ErrInvalid, "bad policy")
	require.ErrorContains(t, err, "MaxDead")
	_, _, err = h.s.AckDequeue(h.ctx, "", p, last.ID, last.Token, nil, time.Minute)
	requireAckError(t, err, store.ErrInvalid, "empty queue name")
	h.requireStats(t, q, store.QueueStats{InFlight: 1})

	require.NoError(t, h.s.Close())
	_, _, err = h.s.AckDequeue(h.ctx, q, p, last.ID, last.Token, nil, time.Minute)
	requireAckError(t, err, store.ErrClosed, "closed store")
}

// testAckDequeueBounds gives AckDequeue a lease beyond store.MaxLease, a queue name no store
// accepts and an ended context: the whole call fails and the ack is not made.
func testAckDequeueBounds(t *testing.T, h *qharness) {
	q, p := h.queue("ackdequeue-bounds"), store.QueuePolicy{}
	h.put(t, q, 0, "held")
	h.put(t, q, 0, "next")
	l := h.dequeueFor(t, q, time.Minute)
	for _, lease := range []time.Duration{store.MaxLease + time.Nanosecond, math.MaxInt64} {
		_, ok, err := h.s.AckDequeue(h.ctx, q, p, l.ID, l.Token, nil, lease)
		requireAckError(t, err, store.ErrInvalid, fmt.Sprintf("lease %v", lease))
		require.ErrorContains(t, err, "lease")
		require.False(t, ok)
	}
	_, _, err := h.s.AckDequeue(h.ctx, q+"}:x", p, l.ID, l.Token, nil, time.Minute)
	requireAckError(t, err, store.ErrInvalid, "queue name with a brace")
	require.ErrorContains(t, err, "queue name")
	ctx, cancel := context.WithCancel(h.ctx)
	cancel()
	_, _, err = h.s.AckDequeue(ctx, q, p, l.ID, l.Token, nil, time.Minute)
	requireAckError(t, err, context.Canceled, "cancelled context")
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}, InFlight: 1})

	next, ok, err := h.s.AckDequeue(h.ctx, q, p, l.ID, l.Token, nil, store.MaxLease)
	require.NoError(t, err)
	require.True(t, ok)
	requireBytes(t, []byte("next"), next.Payload, "payload")
	requireSameTime(t, h.clk.Now().Add(store.MaxLease), next.Deadline, "deadline")
}

// testAckDequeueBestDue makes more delayed jobs due at once than a store may promote in one step:
// the job AckDequeue leases is still the best of them all.
func testAckDequeueBestDue(t *testing.T, h *qharness) {
	const n = 250
	q, p := h.queue("ackdequeue-due"), store.QueuePolicy{MaxLen: n + 2}
	held := h.enqueue(t, q, p, store.NewJob{})
	l := h.dequeueFor(t, q, time.Minute)
	require.Equal(t, held, l.ID)
	for i := range n {
		h.enqueue(t, q, p, store.NewJob{Delay: time.Duration(i+1) * time.Millisecond})
	}
	best := h.enqueue(t, q, p, store.NewJob{Priority: 9, Delay: time.Second})
	h.clk.Advance(time.Second)
	next, ok, err := h.s.AckDequeue(h.ctx, q, p, l.ID, l.Token, nil, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, best, next.ID)
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: n}, InFlight: 1})
}

// testEnqueueBatchPerJob checks that each job of a batch succeeds or fails on its own, in order,
// as it would enqueued alone.
func testEnqueueBatchPerJob(t *testing.T, h *qharness) {
	q, p := h.queue("batch"), store.QueuePolicy{MaxLen: 5}
	jobs := []store.NewJob{
		{ID: "a", Priority: 1, Payload: []byte("1")},
		{ID: "b", Priority: 9, Payload: []byte("2")},
		{ID: "a", Payload: []byte("dup")},           // duplicate id: this one fails alone
		{Priority: -1},                              // invalid: this one fails alone
		{IdempotencyKey: "k", Payload: []byte("3")}, // assigned id
		{IdempotencyKey: "k", Payload: []byte("4")}, // same key: the same job
	}
	for i := range 4 {
		jobs = append(jobs, store.NewJob{ID: fmt.Sprintf("fill-%d", i)})
	}
	res, err := h.s.EnqueueBatch(h.ctx, q, p, jobs)
	require.NoError(t, err)
	require.Len(t, res, len(jobs))
	require.Equal(t, store.EnqueueResult{ID: "a"}, res[0])
	require.Equal(t, store.EnqueueResult{ID: "b"}, res[1])
	require.ErrorIs(t, res[2].Err, store.ErrInvalid, "duplicate id")
	require.ErrorIs(t, res[3].Err, store.ErrInvalid, "bad priority")
	require.NoError(t, res[4].Err)
	require.NotEmpty(t, res[4].ID)
	require.Equal(t, store.EnqueueResult{ID: res[4].ID, Existed: true}, res[5])
	// a, b, the keyed job, fill-0, fill-1: then the queue is full.
	require.Equal(t, store.EnqueueResult{ID: "fill-0"}, res[6])
	require.Equal(t, store.EnqueueResult{ID: "fill-1"}, res[7])
	require.ErrorIs(t, res[8].Err, store.ErrQueueFull)
	require.ErrorIs(t, res[9].Err, store.ErrQueueFull)
	require.Equal(t, []string{"2", "1", "3", "", ""}, h.order(t, q), "priority, then batch order")
}

// testEnqueueBatchIDs mixes ids of the caller's choosing (one held already, one repeated in the
// batch) with ids the store assigns, and small payloads with large ones: only the ids of the
// caller's choosing can be taken.
func testEnqueueBatchIDs(t *testing.T, h *qharness) {
	q, p := h.queue("batch-ids"), store.QueuePolicy{}
	h.enqueue(t, q, p, store.NewJob{ID: "held", Payload: []byte("first")})
	big := bytes.Repeat([]byte("x"), 9<<10)
	jobs := []store.NewJob{
		{Payload: []byte("assigned")},
		{ID: "held", Payload: []byte("second")}, // held already
		{ID: "new", Payload: big},
		{Payload: big},
		{ID: "new", Payload: []byte("again")}, // repeated in the batch
		{ID: "held-not", Payload: []byte("mine")},
	}
	res, err := h.s.EnqueueBatch(h.ctx, q, p, jobs)
	require.NoError(t, err)
	require.Len(t, res, len(jobs))
	want := map[string][]byte{"held": []byte("first")}
	for i, r := range res {
		switch i {
		case 1, 4:
			require.ErrorIs(t, r.Err, store.ErrInvalid, "job %d", i)
			require.ErrorContains(t, r.Err, "already in use", "job %d", i)
		default:
			require.NoError(t, r.Err, "job %d", i)
			require.NotEmpty(t, r.ID, "job %d", i)
			want[r.ID] = jobs[i].Payload
		}
	}
	require.Equal(t, "new", res[2].ID)
	require.Equal(t, "held-not", res[5].ID)
	require.NotEqual(t, res[0].ID, res[3].ID)
	got := map[string][]byte{}
	for range want {
		l := h.dequeue(t, q)
		got[l.ID] = l.Payload
	}
	require.Equal(t, want, got)
	h.dequeueNone(t, q)
}

// testEnqueueBatchBounds checks a batch's jobs as Enqueue checks one: a job id, an idempotency
// key or a delay out of bounds fails that job alone; a bad policy or queue name, a closed store
// or an ended context fails the whole batch.
func testEnqueueBatchBounds(t *testing.T, h *qharness) {
	q, p := h.queue("batch-bounds"), store.QueuePolicy{}
	jobs := []store.NewJob{
		{ID: "a}:ready", Payload: []byte("1")},
		{IdempotencyKey: "k\n", Payload: []byte("2")},
		{IdempotencyKey: string(bytes.Repeat([]byte("k"), 8<<20)), Payload: []byte("3")},
		{Delay: store.MaxDelay + time.Nanosecond, Payload: []byte("4")},
		{ID: "ok", Payload: []byte("5")},
	}
	res, err := h.s.EnqueueBatch(h.ctx, q, p, jobs)
	require.NoError(t, err)
	require.Len(t, res, len(jobs))
	for i, what := range []string{"job id", "idempotency key", "idempotency key", "delay"} {
		require.ErrorIs(t, res[i].Err, store.ErrInvalid, "job %d", i)
		require.ErrorContains(t, res[i].Err, what, "job %d", i)
	}
	require.Equal(t, store.EnqueueResult{ID: "ok"}, res[4])
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}})

	good := jobs[4:]
	_, err = h.s.EnqueueBatch(h.ctx, "x}:idem:k", p, good)
	requireInvalid(t, err, "queue name")
	_, err = h.s.EnqueueBatch(h.ctx, q, store.QueuePolicy{MaxDead: -1}, good)
	requireInvalid(t, err, "MaxDead")
	ctx, cancel := context.WithCancel(h.ctx)
	cancel()
	_, err = h.s.EnqueueBatch(ctx, q, p, []store.NewJob{{Payload: []byte("6")}})
	require.ErrorIs(t, err, context.Canceled)
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}})
	require.NoError(t, h.s.Close())
	_, err = h.s.EnqueueBatch(h.ctx, q, p, []store.NewJob{{Payload: []byte("6")}})
	require.ErrorIs(t, err, store.ErrClosed)
}
