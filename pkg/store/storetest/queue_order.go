package storetest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var queueOrderTests = []queueTest{
	{"EmptyQueue", testQueueEmpty},
	{"StrictPriority", testQueueStrictPriority},
	{"FIFOWithinPriority", testQueueFIFO},
	{"ManyPriorities", testQueueManyPriorities},
	{"InterleavedEnqueueDequeue", testQueueInterleaved},
	{"AssignedIDs", testQueueAssignedIDs},
	{"GivenID", testQueueGivenID},
	{"DuplicateGivenID", testQueueDuplicateID},
	{"PayloadRoundTrip", testQueuePayload},
	{"PayloadIsCopied", testQueuePayloadIsCopied},
	{"FirstDelivery", testQueueFirstDelivery},
	{"EnqueuedAtOnStoreClock", testQueueEnqueuedAt},
	{"QueuesAreSeparate", testQueuesSeparate},
}

func testQueueEmpty(t *testing.T, h *qharness) {
	q := h.queue("empty")
	h.dequeueNone(t, q)
	h.requireStats(t, q, store.QueueStats{})
	require.Empty(t, h.dead(t, q, 10))
	require.Equal(t, 0, h.reap(t, q))
	h.noResult(t, q, "no-such-job")
}

func testQueueStrictPriority(t *testing.T, h *qharness) {
	q := h.queue("priority")
	for _, j := range []struct {
		prio int
		name string
	}{
		{0, "zero-a"}, {5, "five-a"}, {store.MaxPriority, "max-a"}, {1, "one-a"}, {5, "five-b"},
		{0, "zero-b"}, {3, "three-a"}, {store.MaxPriority - 1, "max-1"}, {1000, "thousand"},
		{store.MaxPriority, "max-b"}, {1, "one-b"}, {5, "five-c"},
	} {
		h.put(t, q, j.prio, j.name)
	}
	require.Equal(t, []string{
		"max-a", "max-b", "max-1", "thousand", "five-a", "five-b", "five-c", "three-a",
		"one-a", "one-b", "zero-a", "zero-b",
	}, h.order(t, q), "higher priority first, then oldest first")
}

func testQueueFIFO(t *testing.T, h *qharness) {
	q := h.queue("fifo")
	var want []string
	for i := range 60 {
		name := fmt.Sprintf("job-%02d", i)
		want = append(want, name)
		h.put(t, q, 7, name)
		if i%20 == 19 {
			h.clk.Advance(time.Second) // FIFO holds both within one instant and across instants
		}
	}
	require.Equal(t, want, h.order(t, q))
}

func testQueueManyPriorities(t *testing.T, h *qharness) {
	q := h.queue("many")
	rng := rand.New(rand.NewPCG(propertySeed, 7))
	// A few distinct priorities spread over the whole range, so that both ties and the
	// extremes occur.
	prios := []int{0, 1, 2, 10, 99, 100, 4_096, 65_535, 65_536, 500_000, store.MaxPriority - 1, store.MaxPriority}
	type job struct {
		prio int
		seq  int
		name string
	}
	var jobs []job
	for i := range 300 {
		j := job{prios[rng.IntN(len(prios))], i, fmt.Sprintf("j%03d", i)}
		jobs = append(jobs, j)
		h.put(t, q, j.prio, j.name)
	}
	slices.SortFunc(jobs, func(a, b job) int {
		if c := cmp.Compare(b.prio, a.prio); c != 0 {
			return c
		}
		return cmp.Compare(a.seq, b.seq)
	})
	want := make([]string, len(jobs))
	for i, j := range jobs {
		want[i] = j.name
	}
	require.Equal(t, want, h.order(t, q))
}

func testQueueInterleaved(t *testing.T, h *qharness) {
	q := h.queue("interleaved")
	h.put(t, q, 1, "low-a")
	h.put(t, q, 2, "mid-a")
	require.Equal(t, "mid-a", string(h.dequeue(t, q).Payload))
	h.put(t, q, 1, "low-b")
	h.put(t, q, 3, "high-a")
	require.Equal(t, "high-a", string(h.dequeue(t, q).Payload), "a later, higher job overtakes waiting lower ones")
	h.put(t, q, 2, "mid-b")
	require.Equal(t, []string{"mid-b", "low-a", "low-b"}, h.order(t, q))
}

func testQueueAssignedIDs(t *testing.T, h *qharness) {
	q := h.queue("ids")
	seen := map[string]bool{}
	var ids []string
	for i := range 200 {
		id := h.put(t, q, i%3, fmt.Sprint(i))
		require.False(t, seen[id], "id %q assigned twice", id)
		seen[id] = true
		ids = append(ids, id)
	}
	// Each id names its own job.
	byPayload := map[string]string{}
	for i, id := range ids {
		byPayload[fmt.Sprint(i)] = id
	}
	for range 200 {
		l := h.dequeue(t, q)
		require.Equal(t, byPayload[string(l.Payload)], l.ID, "job %q", l.Payload)
	}
}

func testQueueGivenID(t *testing.T, h *qharness) {
	q := h.queue("given-id")
	id := h.enqueue(t, q, store.QueuePolicy{}, store.NewJob{ID: "order-42", Payload: []byte("x")})
	require.Equal(t, "order-42", id)
	l := h.dequeue(t, q)
	require.Equal(t, "order-42", l.ID)
	h.ack(t, q, l, []byte("done"))
	require.Equal(t, "order-42", h.result(t, q, "order-42").ID)
}

func testQueueDuplicateID(t *testing.T, h *qharness) {
	q, p := h.queue("dup-id"), store.QueuePolicy{}
	h.enqueue(t, q, p, store.NewJob{ID: "same", Payload: []byte("first")})
	_, _, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{ID: "same", Payload: []byte("second")})
	requireInvalid(t, err)
	l := h.dequeue(t, q)
	_, _, err = h.s.Enqueue(h.ctx, q, p, store.NewJob{ID: "same", Payload: []byte("third")})
	requireInvalid(t, err)
	require.Equal(t, "first", string(l.Payload), "the rejected enqueues changed nothing")
	h.dequeueNone(t, q)
	h.requireStats(t, q, store.QueueStats{InFlight: 1})
}

func testQueuePayload(t *testing.T, h *qharness) {
	q := h.queue("payload")
	all := make([]byte, 256)
	for i := range all {
		all[i] = byte(i)
	}
	big := make([]byte, 64<<10)
	for i := range big {
		big[i] = byte(i*7 + i>>8)
	}
	payloads := [][]byte{
		nil, {}, {0}, []byte("hello"), all, []byte("\xff\xfe\x00\x00nul and invalid UTF-8 \xc3\x28"),
		[]byte("  spaces and\r\nnewlines\t"), big,
	}
	ids := make([]string, len(payloads))
	for i, pl := range payloads {
		ids[i] = h.enqueue(t, q, store.QueuePolicy{}, store.NewJob{Payload: pl})
	}
	for i, pl := range payloads {
		l := h.dequeue(t, q)
		require.Equal(t, ids[i], l.ID)
		requireBytes(t, pl, l.Payload, fmt.Sprintf("payload %d", i))
		// The result body round-trips the same way.
		h.ack(t, q, l, pl)
		requireBytes(t, pl, h.result(t, q, l.ID).Body, fmt.Sprintf("result body %d", i))
	}
}

func testQueuePayloadIsCopied(t *testing.T, h *qharness) {
	q, p := h.queue("payload-copied"), store.QueuePolicy{}
	buf := []byte("original")
	id := h.enqueue(t, q, p, store.NewJob{Payload: buf})
	copy(buf, "CHANGED!")
	l := h.dequeueFor(t, q, time.Second)
	require.Equal(t, "original", string(l.Payload), "the store keeps its own copy of the payload")
	copy(l.Payload, "CHANGED!")
	h.clk.Advance(2 * time.Second)
	require.Equal(t, 1, h.reap(t, q))
	l = h.dequeue(t, q)
	require.Equal(t, "original", string(l.Payload), "a lease's payload is the caller's own")

	body := []byte("result")
	h.ack(t, q, l, body)
	copy(body, "CHANGE")
	r := h.result(t, q, id)
	require.Equal(t, "result", string(r.Body), "the store keeps its own copy of the result")
	copy(r.Body, "CHANGE")
	require.Equal(t, "result", string(h.result(t, q, id).Body), "a result's body is the caller's own")
}

func testQueueFirstDelivery(t *testing.T, h *qharness) {
	q := h.queue("first")
	h.clk.Advance(90 * time.Minute)
	id := h.enqueue(t, q, store.QueuePolicy{}, store.NewJob{Priority: 42, Payload: []byte("p")})
	h.clk.Advance(3 * time.Second)
	l := h.dequeueFor(t, q, 45*time.Second)
	require.Equal(t, id, l.ID)
	require.Equal(t, 42, l.Priority)
	require.Equal(t, 1, l.Attempt, "the first delivery is attempt 1")
	require.Empty(t, l.LastError)
	requireSameTime(t, h.clk.Now().Add(45*time.Second), l.Deadline, "lease deadline")
	requireSameTime(t, Start.Add(90*time.Minute), l.EnqueuedAt, "EnqueuedAt")
}

func testQueueEnqueuedAt(t *testing.T, h *qharness) {
	q := h.queue("enqueued-at")
	h.put(t, q, 0, "a")
	h.clk.Advance(26*time.Hour + 1234*time.Millisecond)
	h.put(t, q, 0, "b")
	a, b := h.dequeue(t, q), h.dequeue(t, q)
	requireSameTime(t, Start, a.EnqueuedAt, "a.EnqueuedAt")
	requireSameTime(t, h.clk.Now(), b.EnqueuedAt, "b.EnqueuedAt")
}

func testQueuesSeparate(t *testing.T, h *qharness) {
	q1, q2 := h.queue("one"), h.queue("two")
	h.put(t, q1, 1, "in-one")
	h.dequeueNone(t, q2)
	h.put(t, q2, 9, "in-two")
	h.requireStats(t, q1, store.QueueStats{Ready: map[int]int{1: 1}})
	h.requireStats(t, q2, store.QueueStats{Ready: map[int]int{9: 1}})
	require.Equal(t, "in-one", string(h.dequeue(t, q1).Payload))
	require.Equal(t, "in-two", string(h.dequeue(t, q2).Payload))
}
