package storetest

import (
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var queueConcurrencyTests = []queueTest{
	{"EnqueueThenDequeueAck", testConcurrentQueue},
	{"SameIdempotencyKey", testConcurrentIdem},
	{"AckRacesReap", testConcurrentAckReap},
	{"MaxLen", testConcurrentMaxLen},
}

const (
	queueWorkers = 8
	queueJobs    = 1000
)

// together runs f(g) on n goroutines released at once, and waits. f must not call t.Fatal or
// require: it records what it saw for the test goroutine.
func together(n int, f func(g int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range n {
		wg.Go(func() {
			<-start
			f(g)
		})
	}
	close(start)
	wg.Wait()
}

// testConcurrentQueue enqueues queueJobs jobs from queueWorkers goroutines, then drains them
// with queueWorkers goroutines that dequeue and ack. The clock stands still, so no lease runs
// out: every job must be delivered exactly once, and each worker must see any one producer's
// jobs of one priority in the order they were enqueued.
func testConcurrentQueue(t *testing.T, h *qharness) {
	q, p := h.queue("concurrent"), store.QueuePolicy{}
	const perProducer = queueJobs / queueWorkers
	var (
		ids     [queueWorkers][perProducer]string
		enqErrs [queueWorkers][perProducer]error
	)
	together(queueWorkers, func(g int) {
		for i := range perProducer {
			pl := fmt.Sprintf("%d/%d", g, i)
			id, existed, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Priority: i % 3, Payload: []byte(pl)})
			if err == nil && existed {
				err = errors.New("existed without an idempotency key")
			}
			ids[g][i], enqErrs[g][i] = id, err
		}
	})
	byID := map[string]string{}
	for g := range queueWorkers {
		for i := range perProducer {
			require.NoError(t, enqErrs[g][i], "producer %d, job %d", g, i)
			pl := fmt.Sprintf("%d/%d", g, i)
			require.NotContains(t, byID, ids[g][i], "id %q assigned twice", ids[g][i])
			byID[ids[g][i]] = pl
		}
	}
	st := h.stats(t, q)
	require.Equal(t, queueJobs, st.Ready[0]+st.Ready[1]+st.Ready[2])

	type delivery struct {
		l   store.Lease
		err error
	}
	var got [queueWorkers][]delivery
	together(queueWorkers, func(g int) {
		for range queueJobs + 1 {
			l, ok, err := h.s.Dequeue(h.ctx, q, time.Minute)
			if err != nil || !ok {
				if err != nil {
					got[g] = append(got[g], delivery{err: err})
				}
				return
			}
			err = h.s.Ack(h.ctx, q, p, l.ID, l.Token, l.Payload)
			got[g] = append(got[g], delivery{l: l, err: err})
		}
	})

	seen := map[string]int{}
	for g := range queueWorkers {
		last := map[[2]int]int{} // producer, priority -> last index this worker saw
		prio := store.MaxPriority
		for _, d := range got[g] {
			require.NoError(t, d.err, "worker %d", g)
			seen[d.l.ID]++
			require.Equal(t, byID[d.l.ID], string(d.l.Payload), "job %q", d.l.ID)
			require.Equal(t, 1, d.l.Attempt, "job %q", d.l.ID)
			require.LessOrEqual(t, d.l.Priority, prio, "worker %d got a higher priority after a lower one", g)
			prio = d.l.Priority
			var pg, pi int
			_, err := fmt.Sscanf(string(d.l.Payload), "%d/%d", &pg, &pi)
			require.NoError(t, err)
			k := [2]int{pg, pi % 3}
			if prev, ok := last[k]; ok {
				require.Less(t, prev, pi, "worker %d got producer %d's priority-%d jobs out of order", g, pg, pi%3)
			}
			last[k] = pi
		}
	}
	require.Len(t, seen, queueJobs, "every job delivered")
	for id, n := range seen {
		require.Equal(t, 1, n, "job %q delivered %d times", id, n)
	}
	h.requireStats(t, q, store.QueueStats{})
	for id, pl := range byID {
		r := h.result(t, q, id)
		requireBytes(t, []byte(pl), r.Body, "result of "+id)
		require.Equal(t, 1, r.Attempts)
	}
}

func testConcurrentIdem(t *testing.T, h *qharness) {
	q, p := h.queue("concurrent-idem"), store.QueuePolicy{}
	const n = 32
	var (
		ids     [n]string
		existed [n]bool
		errs    [n]error
	)
	together(n, func(g int) {
		ids[g], existed[g], errs[g] = h.s.Enqueue(h.ctx, q, p,
			store.NewJob{Payload: []byte(fmt.Sprint(g)), IdempotencyKey: "the-one"})
	})
	created := -1
	for g := range n {
		require.NoError(t, errs[g], "goroutine %d", g)
		require.Equal(t, ids[0], ids[g], "goroutine %d got another job", g)
		if !existed[g] {
			require.Equal(t, -1, created, "goroutines %d and %d both created the job", created, g)
			created = g
		}
	}
	require.NotEqual(t, -1, created, "no goroutine created the job")
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 1}})
	l := h.dequeue(t, q)
	require.Equal(t, ids[0], l.ID)
	require.Equal(t, fmt.Sprint(created), string(l.Payload), "the job is the creator's")
	h.dequeueNone(t, q)
}

// testConcurrentAckReap lets every lease run out and then races the workers' acks against
// reapers: each job must end up either acked (its worker's ack won) or back in the queue (a
// reaper won, and the ack was refused), never both and never neither.
func testConcurrentAckReap(t *testing.T, h *qharness) {
	q, p := h.queue("ack-reap"), store.QueuePolicy{}
	const n = 400
	for i := range n {
		h.put(t, q, i%2, fmt.Sprint(i))
	}
	var ls []store.Lease
	for range n {
		ls = append(ls, h.dequeueFor(t, q, time.Second))
	}
	h.clk.Advance(2 * time.Second)

	var (
		ackErrs [n]error
		reaped  [queueWorkers][]int
		reapErr [queueWorkers]error
	)
	together(2*queueWorkers, func(g int) {
		if g < queueWorkers { // an acker
			for i := g; i < n; i += queueWorkers {
				ackErrs[i] = h.s.Ack(h.ctx, q, p, ls[i].ID, ls[i].Token, []byte("won"))
			}
			return
		}
		r := g - queueWorkers
		for range n / queueWorkers {
			k, err := h.s.Reap(h.ctx, q)
			if err != nil {
				reapErr[r] = err
				return
			}
			reaped[r] = append(reaped[r], k)
		}
	})
	totalReaped := 0
	for r := range queueWorkers {
		require.NoError(t, reapErr[r], "reaper %d", r)
		for _, k := range reaped[r] {
			totalReaped += k
		}
	}
	lost := 0
	for i, err := range ackErrs {
		switch {
		case err == nil:
			r := h.result(t, q, ls[i].ID)
			requireBytes(t, []byte("won"), r.Body, "acked job")
		case errors.Is(err, store.ErrLeaseLost):
			lost++
			h.noResult(t, q, ls[i].ID)
		default:
			require.NoError(t, err, "ack %d", i)
		}
	}
	require.Equal(t, totalReaped, lost, "every reaped job's ack was refused, and only those")
	st := h.stats(t, q)
	require.Equal(t, 0, st.InFlight)
	require.Equal(t, lost, st.Ready[0]+st.Ready[1], "every reaped job is back in the queue")
	for range lost {
		l := h.dequeue(t, q)
		require.Equal(t, 2, l.Attempt)
		h.noResult(t, q, l.ID)
	}
	h.dequeueNone(t, q)
}

func testConcurrentMaxLen(t *testing.T, h *qharness) {
	q, p := h.queue("concurrent-maxlen"), store.QueuePolicy{MaxLen: 50}
	const n = 16
	var added, full [n]int
	var errs [n]error
	together(n, func(g int) {
		for i := range 10 {
			_, _, err := h.s.Enqueue(h.ctx, q, p, store.NewJob{Payload: []byte(fmt.Sprint(g, i))})
			switch {
			case err == nil:
				added[g]++
			case errors.Is(err, store.ErrQueueFull):
				full[g]++
			default:
				errs[g] = err
			}
		}
	})
	total, refused := 0, 0
	for g := range n {
		require.NoError(t, errs[g])
		total += added[g]
		refused += full[g]
	}
	require.Equal(t, 50, total, "exactly MaxLen enqueues succeed")
	require.Equal(t, n*10-50, refused)
	h.requireStats(t, q, store.QueueStats{Ready: map[int]int{0: 50}})
}
