package client

import (
	"container/heap"
	"context"
	"sort"
	"sync"
	"time"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

// waitLine is one key's line of callers waiting for a token. A caller that finds the line empty
// asks the store itself; one that must wait joins the line, ordered by priority and then by
// arrival, behind a single dispatcher goroutine that asks the store on behalf of whoever is first.
// So there is no thundering herd: one sleeping timer per key, however many wait.
type waitLine struct {
	key      string
	limits   []store.Limit
	st       store.Limiter
	clock    clock.Clock
	maxQueue int
	// paced, when set, hears the request pace in force after each decision (store.Decision.Paced).
	paced func(time.Duration)

	mu      sync.Mutex
	waiters waiterHeap
	seq     uint64
	running bool // a dispatcher goroutine is alive
	closed  bool
	wake    chan struct{} // closed on Close
	wg      sync.WaitGroup
}

type waiter struct {
	ctx      context.Context // the caller's: it bounds the store call made on its behalf
	priority int
	seq      uint64
	cost     int64
	index    int // in the heap; -1 once out of it
	done     chan error
}

func newWaitLine(key string, limits []store.Limit, st store.Limiter, clk clock.Clock, maxQueue int) *waitLine {
	return &waitLine{key: key, limits: limits, st: st, clock: clk, maxQueue: maxQueue, wake: make(chan struct{})}
}

// wait returns once cost tokens were taken for the caller, reporting whether it had to wait.
func (l *waitLine) wait(ctx context.Context, priority int, cost int64) (waited bool, err error) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false, ErrClosed
	}
	var hint time.Duration
	if len(l.waiters) == 0 {
		l.mu.Unlock()
		d, err := l.st.Take(ctx, l.key, l.limits, cost)
		if err != nil {
			return false, err
		}
		if l.paced != nil {
			l.paced(d.Paced)
		}
		if d.Allowed {
			return false, nil
		}
		if err := l.fits(ctx, d.RetryAfter); err != nil {
			return false, err
		}
		hint = d.RetryAfter
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return false, ErrClosed
		}
	}
	if len(l.waiters) >= l.maxQueue {
		l.mu.Unlock()
		return false, ErrLineFull
	}
	w := &waiter{ctx: ctx, priority: priority, seq: l.seq, cost: cost, done: make(chan error, 1)}
	l.seq++
	heap.Push(&l.waiters, w)
	if !l.running {
		l.running = true
		l.wg.Add(1)
		go l.dispatch(hint)
	}
	l.mu.Unlock()

	select {
	case err := <-w.done:
		return true, err
	case <-ctx.Done():
		l.mu.Lock()
		if w.index >= 0 {
			heap.Remove(&l.waiters, w.index)
		}
		l.mu.Unlock()
		select {
		case err := <-w.done: // served while we were leaving: the token is ours
			if err == nil {
				return true, nil
			}
		default:
		}
		return true, context.Cause(ctx)
	}
}

// fits fails fast when a wait of d cannot end before ctx's deadline.
func (l *waitLine) fits(ctx context.Context, d time.Duration) error {
	if dl, ok := ctx.Deadline(); ok && l.clock.Now().Add(d).After(dl) {
		return &RateLimitError{Key: l.key, RetryAfter: d}
	}
	return nil
}

// dispatch serves the line until it is empty. It sleeps exactly as long as the store says the
// first waiter must wait, then asks again for whoever is first by then.
func (l *waitLine) dispatch(delay time.Duration) {
	defer l.wg.Done()
	for {
		if delay > 0 {
			l.expire(delay)
			if !clock.Sleep(l.clock, delay, l.wake) {
				return // closed: Close has failed the waiters
			}
		}
		l.mu.Lock()
		if len(l.waiters) == 0 || l.closed {
			l.running = false
			l.mu.Unlock()
			return
		}
		// Ask for the first waiters in line order, in one call: everyone a token is ready for is
		// served at once, and nobody overtakes an earlier waiter.
		batch := l.firstWaiters(maxServe)
		l.mu.Unlock()

		costs := make([]int64, len(batch))
		callers := make([]context.Context, len(batch))
		for i, w := range batch {
			costs[i], callers[i] = w.cost, w.ctx
		}
		ds, err := l.st.TakeOrdered(store.WithCallers(batch[0].ctx, callers), l.key, l.limits, costs)
		if err == nil && len(ds) > 0 && l.paced != nil {
			l.paced(ds[len(ds)-1].Paced)
		}
		delay = 0
		l.mu.Lock()
		for i, w := range batch {
			switch {
			case err != nil:
				if i == 0 && w.index >= 0 { // the first waiter's answer; the rest ask again
					heap.Remove(&l.waiters, w.index)
					w.done <- err
				}
			case ds[i].Allowed:
				if w.index >= 0 {
					heap.Remove(&l.waiters, w.index)
					w.done <- nil
				}
				// A waiter that left while its token was taken loses it: the store has no refunds.
			default:
				if delay == 0 {
					delay = ds[i].RetryAfter
				}
			}
		}
		l.mu.Unlock()
	}
}

// maxServe bounds the waiters one store call may serve.
const maxServe = 64

// firstWaiters returns up to n waiters in line order: priority, then arrival. The line is
// locked.
func (l *waitLine) firstWaiters(n int) []*waiter {
	if len(l.waiters) <= n {
		out := append([]*waiter(nil), l.waiters...)
		sort.Slice(out, func(i, j int) bool { return l.waiters.less(out[i], out[j]) })
		return out
	}
	// Pop n and push them back: O(n log len), and the heap is left as it was in content.
	out := make([]*waiter, 0, n)
	for range n {
		out = append(out, heap.Pop(&l.waiters).(*waiter))
	}
	for _, w := range out {
		heap.Push(&l.waiters, w)
	}
	return out
}

// expire fails, at once, every waiter whose deadline comes before the line can move again:
// nobody is served before delay has passed.
func (l *waitLine) expire(delay time.Duration) {
	next := l.clock.Now().Add(delay)
	l.mu.Lock()
	defer l.mu.Unlock()
	for i := 0; i < len(l.waiters); {
		w := l.waiters[i]
		if dl, ok := w.ctx.Deadline(); ok && next.After(dl) {
			heap.Remove(&l.waiters, i)
			w.done <- &RateLimitError{Key: l.key, RetryAfter: delay}
			i = 0 // the heap moved; start over (lines are short and this is rare)
			continue
		}
		i++
	}
}

// len reports how many callers wait.
func (l *waitLine) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.waiters)
}

// close fails every waiter with ErrClosed and waits for the dispatcher to stop.
func (l *waitLine) close() {
	l.mu.Lock()
	if !l.closed {
		l.closed = true
		close(l.wake)
		for len(l.waiters) > 0 {
			w := heap.Pop(&l.waiters).(*waiter)
			w.done <- ErrClosed
		}
	}
	l.mu.Unlock()
	l.wg.Wait()
}

// waiterHeap orders waiters by priority, highest first, then by arrival.
type waiterHeap []*waiter

func (h waiterHeap) Len() int           { return len(h) }
func (h waiterHeap) Less(i, j int) bool { return h.less(h[i], h[j]) }

func (waiterHeap) less(a, b *waiter) bool {
	if a.priority != b.priority {
		return a.priority > b.priority
	}
	return a.seq < b.seq
}
func (h waiterHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *waiterHeap) Push(x any) {
	w := x.(*waiter)
	w.index = len(*h)
	*h = append(*h, w)
}
func (h *waiterHeap) Pop() any {
	old := *h
	w := old[len(old)-1]
	old[len(old)-1] = nil
	w.index = -1
	*h = old[:len(old)-1]
	return w
}
