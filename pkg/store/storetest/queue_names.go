package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var queueNameTests = []queueTest{
	{"BadQueueNamesRefused", testQueueBadNames},
	{"BadJobIDsRefused", testQueueBadJobIDs},
	{"BadIdempotencyKeysRefused", testQueueBadIdemKeys},
	{"HugeIdempotencyKeyRefused", testQueueHugeIdemKey},
	{"GoodNamesAccepted", testQueueGoodNames},
	{"ColonNamesStayApart", testQueueColonNames},
}

func testQueueBadNames(t *testing.T, h *qharness) {
	ctx, p := h.ctx, store.QueuePolicy{}
	for _, q := range badNames() {
		invalid := func(err error) {
			t.Helper()
			requireInvalid(t, err, "queue name")
		}
		_, _, err := h.s.Enqueue(ctx, q, p, store.NewJob{Payload: []byte("x")})
		invalid(err)
		_, ok, err := h.s.Dequeue(ctx, q, testLease)
		invalid(err)
		require.False(t, ok, "Dequeue(%q)", quoted(q))
		_, err = h.s.Extend(ctx, q, "id", 1, testLease)
		invalid(err)
		invalid(h.s.Ack(ctx, q, p, "id", 1, nil))
		invalid(h.s.Retry(ctx, q, "id", 1, h.clk.Now(), "e"))
		invalid(h.s.Bury(ctx, q, p, "id", 1, "r"))
		_, err = h.s.Reap(ctx, q)
		invalid(err)
		_, err = h.s.Result(ctx, q, "id")
		invalid(err)
		_, err = h.s.QueueStats(ctx, q)
		invalid(err)
		_, err = h.s.Dead(ctx, q, 10)
		invalid(err)
		invalid(h.s.Requeue(ctx, q, p, "id"))
		invalid(h.s.WaitReady(ctx, q, time.Millisecond))
	}
}

func testQueueBadJobIDs(t *testing.T, h *qharness) {
	q, p := h.queue("bad-ids"), store.QueuePolicy{}
	for _, id := range badNames()[1:] { // an empty id asks the store for one
		_, _, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{ID: id, Payload: []byte("x")})
		requireInvalid(t, err, "job id")
		_, _, err = h.s.Enqueue(h.ctx, q, p, store.NewJob{ID: id, Payload: []byte("x"), IdempotencyKey: "k"})
		requireInvalid(t, err, "job id")
	}
	h.requireStats(t, q, store.QueueStats{})
	_, existed, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("ok"), IdempotencyKey: "k"})
	require.NoError(t, err)
	require.False(t, existed, "the refused enqueues did not claim the idempotency key")
}

func testQueueBadIdemKeys(t *testing.T, h *qharness) {
	q, p := h.queue("bad-idem"), store.QueuePolicy{}
	for _, key := range badNames()[1:] { // an empty key is none
		_, _, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("x"), IdempotencyKey: key})
		requireInvalid(t, err, "idempotency key")
		_, _, err = h.s.Enqueue(h.ctx, q, p, store.NewJob{ID: "chosen", Payload: []byte("x"), IdempotencyKey: key})
		requireInvalid(t, err, "idempotency key")
	}
	h.requireStats(t, q, store.QueueStats{})
	h.enqueue(t, q, p, store.NewJob{ID: "chosen", Payload: []byte("ok")})
}

// testQueueHugeIdemKey is the report that started the bounds: an idempotency key of 8 MiB
// passed a policy whose MaxPayload is 200 bytes.
func testQueueHugeIdemKey(t *testing.T, h *qharness) {
	q, p := h.queue("huge-idem"), store.QueuePolicy{MaxPayload: 200}
	_, _, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("x"), IdempotencyKey: strings.Repeat("k", 8<<20)})
	requireInvalid(t, err, "idempotency key")
	h.requireStats(t, q, store.QueueStats{})
}

// testQueueGoodNames runs a job's whole life under names at the edges of what stores accept.
func testQueueGoodNames(t *testing.T, h *qharness) {
	names := goodNames(h.queue("good"))
	for i, q := range names {
		id, key := names[(i+1)%len(names)], names[(i+2)%len(names)]
		p := store.QueuePolicy{}
		h.enqueue(t, q, p, store.NewJob{ID: id, Payload: []byte("first"), IdempotencyKey: key})
		got, existed, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte("again"), IdempotencyKey: key})
		require.NoError(t, err, "queue %q", q)
		require.True(t, existed, "queue %q, idempotency key %q", q, key)
		require.Equal(t, id, got)

		l := h.dequeue(t, q)
		require.Equal(t, id, l.ID)
		require.NoError(t, h.s.Bury(h.ctx, q, p, id, l.Token, "once"))
		require.NoError(t, h.s.Requeue(h.ctx, q, p, id))
		l = h.dequeue(t, q)
		h.ack(t, q, l, []byte("done"))
		requireBytes(t, []byte("done"), h.result(t, q, id).Body, "result")
		h.requireStats(t, q, store.QueueStats{})
	}
}

// testQueueColonNames checks that a queue whose name holds what follows another queue's name in
// a key (":idem:k", ":result:x", ":ready") shares nothing with it: a name ends at its hash tag's
// closing brace, which no name may hold.
func testQueueColonNames(t *testing.T, h *qharness) {
	a := h.queue("colon")
	idem, result, ready := a+":idem:k", a+":result:x", a+":ready"
	p := store.QueuePolicy{}

	h.enqueue(t, a, p, store.NewJob{ID: "x", Payload: []byte("a"), IdempotencyKey: "k"})
	h.enqueue(t, idem, p, store.NewJob{ID: "x", Payload: []byte("idem"), IdempotencyKey: "k"})
	h.noResult(t, result, "x")
	h.enqueue(t, result, p, store.NewJob{ID: "x", Payload: []byte("result")})
	h.enqueue(t, ready, p, store.NewJob{ID: "x", Payload: []byte("ready"), IdempotencyKey: "k"})

	l := h.dequeue(t, a)
	require.Equal(t, "a", string(l.Payload))
	h.ack(t, a, l, []byte("from a"))
	h.noResult(t, result, "x")
	h.noResult(t, idem, "x")
	for _, q := range []string{idem, result, ready} {
		h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}})
	}
	require.Equal(t, []string{"idem"}, h.order(t, idem))
	require.Equal(t, []string{"result"}, h.order(t, result))
	require.Equal(t, []string{"ready"}, h.order(t, ready))
	requireBytes(t, []byte("from a"), h.result(t, a, "x").Body, "result in a")
}
