package storetest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

// QueueStore is what the queue suite tests: the queue contract, the combined calls a worker and
// a producer use when a store offers them (every store here does), and Close.
type QueueStore interface {
	store.Queues
	store.AckDequeuer
	store.BatchEnqueuer
	Close() error
}

// NewQueueStore returns a fresh, empty queue store that reads time from clk. Like NewStore it
// should register its own cleanup; Close may be called twice.
type NewQueueStore = func(t *testing.T, clk *clock.Fake) QueueStore

// RunQueues runs the queue conformance suite against the stores newStore makes, as Run does (a
// fresh store and fake clock per subtest); it waits in real time only for WaitReady. For example:
//
//	func TestQueueConformance(t *testing.T) {
//		storetest.RunQueues(t, func(t *testing.T, clk *clock.Fake) storetest.QueueStore { return memory.New(memory.Options{Clock: clk}) })
//	}
func RunQueues(t *testing.T, newStore NewQueueStore) {
	groups := []struct {
		name  string
		tests []queueTest
	}{
		{"Order", queueOrderTests},
		{"Bounds", queueBoundsTests},
		{"Names", queueNameTests},
		{"Durations", queueDurationTests},
		{"Idempotency", queueIdempotencyTests},
		{"Delay", queueDelayTests},
		{"Lease", queueLeaseTests},
		{"Retry", queueRetryTests},
		{"Bury", queueBuryTests},
		{"Result", queueResultTests},
		{"Stats", queueStatsTests},
		{"WaitReady", queueWaitTests},
		{"Concurrency", queueConcurrencyTests},
		{"AtLeastOnce", queueAtLeastOnceTests},
		{"Combined", queueCombinedTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, newQueueHarness(t, newStore))
				})
			}
		})
	}
}

// queueTest is one subtest: it receives a fresh store and clock.
type queueTest struct {
	name string
	fn   func(t *testing.T, h *qharness)
}

// qharness is one subtest's queue store, clock and context.
type qharness struct {
	s   QueueStore
	clk *clock.Fake
	ctx context.Context
}

func newQueueHarness(t *testing.T, newStore NewQueueStore) *qharness {
	t.Helper()
	clk := clock.NewFake(Start)
	s := newStore(t, clk)
	require.NotNil(t, s, "newStore returned nil")
	return &qharness{s: s, clk: clk, ctx: t.Context()}
}

// queue returns a queue name no other subtest uses.
func (h *qharness) queue(name string) string {
	return fmt.Sprintf("storetest-q:%s:%016x", name, rand.Uint64())
}

// elapsed is the time the subtest's clock has moved since Start.
func (h *qharness) elapsed() time.Duration { return h.clk.Now().Sub(Start) }

// testLease is the lease the tests dequeue with unless they say otherwise.
const testLease = 30 * time.Second

// enqueue calls Enqueue, requires it to add a new job, and returns its id.
func (h *qharness) enqueue(tb testing.TB, q string, p store.QueuePolicy, nj store.NewJob) string {
	tb.Helper()
	id, existed, err := h.s.Enqueue(h.ctx, q, p, nj)
	require.NoError(tb, err, "Enqueue(%q, %+v) at +%v", q, nj, h.elapsed())
	require.False(tb, existed, "Enqueue(%q, %+v): existed", q, nj)
	require.NotEmpty(tb, id, "Enqueue(%q, %+v): empty id", q, nj)
	return id
}

// put enqueues a job of the given priority whose payload is its name, and returns its id.
func (h *qharness) put(tb testing.TB, q string, priority int, name string) string {
	tb.Helper()
	return h.enqueue(tb, q, store.QueuePolicy{}, store.NewJob{Priority: priority, Payload: []byte(name)})
}

// dequeue calls Dequeue with testLease and requires a job.
func (h *qharness) dequeue(tb testing.TB, q string) store.Lease {
	tb.Helper()
	return h.dequeueFor(tb, q, testLease)
}

// dequeueFor calls Dequeue with the given lease and requires a job.
func (h *qharness) dequeueFor(tb testing.TB, q string, lease time.Duration) store.Lease {
	tb.Helper()
	l, ok, err := h.s.Dequeue(h.ctx, q, lease)
	require.NoError(tb, err, "Dequeue(%q) at +%v", q, h.elapsed())
	require.True(tb, ok, "Dequeue(%q) at +%v: nothing ready", q, h.elapsed())
	return l
}

// dequeueNone requires Dequeue to find nothing ready.
func (h *qharness) dequeueNone(tb testing.TB, q string) {
	tb.Helper()
	l, ok, err := h.s.Dequeue(h.ctx, q, testLease)
	require.NoError(tb, err, "Dequeue(%q) at +%v", q, h.elapsed())
	require.False(tb, ok, "Dequeue(%q) at +%v: got job %q (payload %q), want none", q, h.elapsed(), l.ID, l.Payload)
}

// order dequeues every ready job and returns their payloads in the order handed out.
func (h *qharness) order(tb testing.TB, q string) []string {
	tb.Helper()
	var got []string
	for {
		l, ok, err := h.s.Dequeue(h.ctx, q, testLease)
		require.NoError(tb, err, "Dequeue(%q) at +%v", q, h.elapsed())
		if !ok {
			return got
		}
		got = append(got, string(l.Payload))
		require.Less(tb, len(got), 100_000, "Dequeue never runs dry")
	}
}

// ack calls Ack and requires it to succeed.
func (h *qharness) ack(tb testing.TB, q string, l store.Lease, body []byte) {
	tb.Helper()
	require.NoError(tb, h.s.Ack(h.ctx, q, store.QueuePolicy{}, l.ID, l.Token, body),
		"Ack(%q, %q, token %d) at +%v", q, l.ID, l.Token, h.elapsed())
}

// reap calls Reap and returns how many leases it returned.
func (h *qharness) reap(tb testing.TB, q string) int {
	tb.Helper()
	n, err := h.s.Reap(h.ctx, q)
	require.NoError(tb, err, "Reap(%q) at +%v", q, h.elapsed())
	return n
}

// result calls Result and requires one.
func (h *qharness) result(tb testing.TB, q, id string) store.Result {
	tb.Helper()
	r, err := h.s.Result(h.ctx, q, id)
	require.NoError(tb, err, "Result(%q, %q) at +%v", q, id, h.elapsed())
	require.Equal(tb, id, r.ID, "Result(%q, %q).ID", q, id)
	return r
}

// noResult requires Result to report ErrNotFound.
func (h *qharness) noResult(tb testing.TB, q, id string) {
	tb.Helper()
	r, err := h.s.Result(h.ctx, q, id)
	require.ErrorIs(tb, err, store.ErrNotFound, "Result(%q, %q) at +%v = %+v", q, id, h.elapsed(), r)
}

// stats calls QueueStats and returns it with Ready normalised: no zero entries, never nil.
func (h *qharness) stats(tb testing.TB, q string) store.QueueStats {
	tb.Helper()
	st, err := h.s.QueueStats(h.ctx, q)
	require.NoError(tb, err, "QueueStats(%q) at +%v", q, h.elapsed())
	ready := map[int]int{}
	for p, n := range st.Ready {
		if n != 0 {
			ready[p] = n
		}
	}
	st.Ready = ready
	return st
}

// requireStats requires the queue's stats to be exactly want (Ready compared without zero
// entries).
func (h *qharness) requireStats(tb testing.TB, q string, want store.QueueStats) {
	tb.Helper()
	if want.Ready == nil {
		want.Ready = map[int]int{}
	}
	require.Equal(tb, want, h.stats(tb, q), "QueueStats(%q) at +%v", q, h.elapsed())
}

// dead calls Dead and returns the dead jobs' payloads, oldest first.
func (h *qharness) dead(tb testing.TB, q string, n int) []string {
	tb.Helper()
	jobs, err := h.s.Dead(h.ctx, q, n)
	require.NoError(tb, err, "Dead(%q, %d) at +%v", q, n, h.elapsed())
	out := []string{}
	for _, j := range jobs {
		out = append(out, string(j.Payload))
	}
	return out
}

// requireLeaseLost requires err to wrap store.ErrLeaseLost.
func requireLeaseLost(tb testing.TB, err error, what string) {
	tb.Helper()
	require.ErrorIs(tb, err, store.ErrLeaseLost, what)
}

// requireSameTime requires two instants on the store's clock to agree to the millisecond, the
// coarsest resolution a store may keep.
func requireSameTime(tb testing.TB, want, got time.Time, what string) {
	tb.Helper()
	d := got.Sub(want)
	require.True(tb, d > -time.Millisecond && d < time.Millisecond, "%s: got %v, want %v (off by %v)", what, got, want, d)
}

// requireBytes requires two byte strings to be equal, treating nil and empty alike.
func requireBytes(tb testing.TB, want, got []byte, what string) {
	tb.Helper()
	require.True(tb, bytes.Equal(want, got), "%s: got %q, want %q", what, got, want)
}
