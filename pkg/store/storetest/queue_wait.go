package storetest

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

// WaitReady is the one place where the suite waits in real time: a store may time its wait on
// its own clock (the fake) or on a server's (Redis BLPOP), and its wake-up on enqueue is real
// either way. The tests below hold for both; the margins are generous.
var queueWaitTests = []queueTest{
	{"AtOnceWhenReady", testWaitReadyNow},
	{"WakesOnEnqueue", testWaitWakesOnEnqueue},
	{"WakesOnRetry", testWaitWakesOnRetry},
	{"HonoursCancellation", testWaitCancelled},
	{"TimesOut", testWaitTimesOut},
}

const (
	// waitLong is a WaitReady timeout that no test should ever reach.
	waitLong = time.Minute
	// waitPrompt bounds how long a WaitReady that should return may take in real time.
	waitPrompt = 5 * time.Second
	// waitSettle is how long a waiter is given to fall asleep when the store does not time it
	// on the fake clock (so that the clock cannot tell).
	waitSettle = 100 * time.Millisecond
)

// waiter runs WaitReady on its own goroutine.
type waiter struct {
	done  chan struct{}
	err   error
	start time.Time
}

func (h *qharness) startWaiter(ctx context.Context, q string, timeout time.Duration) *waiter {
	w := &waiter{done: make(chan struct{}), start: time.Now()}
	go func() {
		defer close(w.done)
		w.err = h.s.WaitReady(ctx, q, timeout)
	}()
	return w
}

// asleep waits until the waiter has gone to sleep: it has set a timer on the fake clock, or
// it has returned, or waitSettle has passed (a store timing its wait elsewhere).
func (h *qharness) asleep(w *waiter) {
	settle := time.Now().Add(waitSettle)
	for h.clk.Timers() == 0 && time.Now().Before(settle) {
		select {
		case <-w.done:
			return
		case <-time.After(time.Millisecond):
		}
	}
}

// returned reports whether the waiter returns within d of real time.
func (w *waiter) returned(d time.Duration) bool {
	select {
	case <-w.done:
		return true
	case <-time.After(d):
		return false
	}
}

// requireReturns requires the waiter to return promptly.
func (w *waiter) requireReturns(tb testing.TB, what string) {
	tb.Helper()
	require.True(tb, w.returned(waitPrompt), "%s: WaitReady still blocked after %v", what, time.Since(w.start))
}

func testWaitReadyNow(t *testing.T, h *qharness) {
	q := h.queue("wait-now")
	h.put(t, q, 0, "job")
	w := h.startWaiter(h.ctx, q, waitLong)
	w.requireReturns(t, "a job is ready")
	require.NoError(t, w.err)
}

func testWaitWakesOnEnqueue(t *testing.T, h *qharness) {
	q := h.queue("wait-enqueue")
	w := h.startWaiter(h.ctx, q, waitLong)
	h.asleep(w)
	h.put(t, q, 3, "job")
	w.requireReturns(t, "after an enqueue")
	require.NoError(t, w.err)
	require.Equal(t, "job", string(h.dequeue(t, q).Payload))
}

func testWaitWakesOnRetry(t *testing.T, h *qharness) {
	q := h.queue("wait-retry")
	h.put(t, q, 0, "job")
	l := h.dequeue(t, q)
	// A fresh store may have a wake-up pending from the enqueue: drain it, then wait for real.
	if w := h.startWaiter(h.ctx, q, waitLong); !w.returned(waitSettle) {
		h.put(t, q, 0, "unblock") // a store with nothing pending: release the drain
		w.requireReturns(t, "drain")
		require.Equal(t, "unblock", string(h.dequeue(t, q).Payload))
	}
	w := h.startWaiter(h.ctx, q, waitLong)
	h.asleep(w)
	require.NoError(t, h.s.Retry(h.ctx, q, l.ID, l.Token, h.clk.Now(), "again"))
	w.requireReturns(t, "after a retry")
	require.NoError(t, w.err)
	require.Equal(t, l.ID, h.dequeue(t, q).ID)
}

func testWaitCancelled(t *testing.T, h *qharness) {
	q := h.queue("wait-cancel")
	h.enqueue(t, q, store.QueuePolicy{}, store.NewJob{Payload: []byte("later"), Delay: time.Hour})
	ctx, cancel := context.WithCancel(h.ctx)
	defer cancel()
	// Any wake-up the delayed enqueue left behind may end a first wait early: drain it.
	if w := h.startWaiter(h.ctx, q, waitLong); !w.returned(waitSettle) {
		h.put(t, q, 0, "unblock")
		w.requireReturns(t, "drain")
		require.Equal(t, "unblock", string(h.dequeue(t, q).Payload))
	}
	w := h.startWaiter(ctx, q, waitLong)
	h.asleep(w)
	require.False(t, w.returned(0), "WaitReady returned before anything happened: %v", w.err)
	cancel()
	w.requireReturns(t, "after its context was cancelled")
	require.ErrorIs(t, w.err, context.Canceled)
}

func testWaitTimesOut(t *testing.T, h *qharness) {
	q := h.queue("wait-timeout")
	w := h.startWaiter(h.ctx, q, waitSettle)
	h.asleep(w)
	// A store timing its wait on its clock returns once the clock has moved; one timing it on
	// a server returns after waitSettle of real time.
	h.clk.Advance(waitSettle)
	w.requireReturns(t, "after its timeout")
	require.NoError(t, w.err)
}
