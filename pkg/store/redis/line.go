package redis

import (
	"context"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/weir-go/weir/pkg/store"
)

// A line combines the calls that one store makes about one thing at the same moment: the takes of
// a limiter key (take.go), the calls about a queue (queue_line.go). A caller that finds fewer
// than the line's calls on their way sends its own at once, on its own goroutine and under its
// own context, as if nothing were combined. Callers that arrive while the line is full wait in
// it, and each call that returns takes the waiting ones, up to a batch, into the next call: one
// round trip for all of them. Every caller still gets its own answer. docs/combining.md tells why
// and what it measured.

// maxSpares bounds the retired lines a store keeps for reuse.
const maxSpares = 64

// turn is a caller's place in a line: its context, its answer's error, and done, sent on once
// when the answer is in. done is buffered so that answering never waits for the caller.
type turn struct {
	ctx  context.Context
	err  error
	done chan struct{}
}

func (t *turn) place() *turn { return t }

// answered tells a waiting caller that its answer is in: the last touch of the item, which its
// caller may reuse from then on.
func (t *turn) answered() {
	if t.done != nil {
		t.done <- struct{}{}
	}
}

// waiter is what waits in a line: a pointer to a struct that embeds turn.
type waiter interface {
	comparable
	place() *turn
}

// lines are a store's lines of one kind, by key. send sends a batch of waiting items in one call
// and answers every item of it.
type lines[K comparable, T waiter] struct {
	s        *Store
	maxBatch int
	send     func(k K, batch []T)

	mu     sync.Mutex
	byKey  map[K]*line[T]
	spares []*line[T]
}

// line is one key's line: busy counts its calls on their way, pending the items waiting.
type line[T waiter] struct {
	busy    int
	pending []T
}

func newLines[K comparable, T waiter](s *Store, maxBatch int, send func(K, []T)) *lines[K, T] {
	return &lines[K, T]{s: s, maxBatch: maxBatch, send: send, byKey: make(map[K]*line[T])}
}

// enter joins line k. When fewer than most calls of the line are on their way, the caller's call
// becomes one of them and enter reports alone: the caller sends it and then calls leave. Else the
// items wait in the line, and the caller waits for them with awaitTurn.
func (ls *lines[K, T]) enter(k K, most int, items ...T) (ln *line[T], alone bool, err error) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if ls.s.closed.Load() {
		return nil, false, store.ErrClosed
	}
	ln = ls.byKey[k]
	if ln == nil {
		if n := len(ls.spares); n > 0 {
			ln, ls.spares = ls.spares[n-1], ls.spares[:n-1]
		} else {
			ln = &line[T]{}
		}
		ls.byKey[k] = ln
	}
	if ln.busy < most {
		ln.busy++
		return ln, true, nil
	}
	for _, it := range items {
		if t := it.place(); t.done == nil {
			t.done = make(chan struct{}, 1)
		}
	}
	ln.pending = append(ln.pending, items...)
	return ln, false, nil
}

// leave is called by a caller that sent its own call, once the call returned: the items waiting
// meanwhile go to a goroutine that serves the line, or the caller's place is freed.
func (ls *lines[K, T]) leave(k K, ln *line[T]) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	if batch := ls.next(k, ln, nil); batch != nil {
		ls.s.wg.Add(1)
		go ls.serve(k, ln, batch)
	}
}

// serve sends batches of line k until nobody waits, then leaves the line.
func (ls *lines[K, T]) serve(k K, ln *line[T], batch []T) {
	defer ls.s.wg.Done()
	for batch != nil {
		ls.send(k, batch)
		clear(batch) // answered: the items may be reused by now
		// The callers just answered are runnable, most of them queued behind this goroutine. Let
		// them run first: those that call again at once (a loop, a worker's ack after its
		// dequeue) join the next batch instead of trailing it in a call of their own.
		runtime.Gosched()
		ls.mu.Lock()
		batch = ls.next(k, ln, batch)
		ls.mu.Unlock()
	}
}

// next is called under ls.mu when a call of line k has returned. If items wait, it moves up to
// maxBatch of them into buf (a new slice when buf is nil) and returns it: the caller, still
// counted in busy, sends them. Else it frees the call's place, retires the line once nothing of
// it is on its way, and returns nil. Once the store is closed it starts nothing more: the waiting
// items are answered ErrClosed.
func (ls *lines[K, T]) next(k K, ln *line[T], buf []T) []T {
	if len(ln.pending) > 0 && ls.s.closed.Load() {
		for _, it := range ln.pending {
			t := it.place()
			t.err = store.ErrClosed
			t.answered()
		}
		clear(ln.pending)
		ln.pending = ln.pending[:0]
	}
	if len(ln.pending) == 0 {
		ln.busy--
		if ln.busy == 0 {
			delete(ls.byKey, k)
			if len(ls.spares) < maxSpares && cap(ln.pending) <= ls.maxBatch {
				ls.spares = append(ls.spares, ln) // a line for the next key, without an allocation
			}
		}
		return nil
	}
	n := min(len(ln.pending), ls.maxBatch)
	batch := append(buf[:0], ln.pending[:n]...)
	m := copy(ln.pending, ln.pending[n:])
	clear(ln.pending[m:])
	ln.pending = ln.pending[:m]
	return batch
}

// barrier returns once every goroutine the lines started is counted in the store's wait group:
// Close calls it after marking the store closed, before it waits for them.
func (ls *lines[K, T]) barrier() {
	ls.mu.Lock()
	//lint:ignore SA2001 an empty critical section is the barrier
	ls.mu.Unlock()
}

// awaitTurn waits until each of items, in order, is answered, or ctx ends. Then it withdraws the
// items still waiting in line and returns the caller's error; an item already in a call on its
// way is lost to the caller (never reuse it).
func (ls *lines[K, T]) awaitTurn(ctx context.Context, ln *line[T], items ...T) error {
	for i, it := range items {
		select {
		case <-it.place().done:
		case <-ctx.Done():
			ls.mu.Lock()
			withdraw(&ln.pending, items[i:]...)
			ls.mu.Unlock()
			return callerDone(ctx)
		}
	}
	return nil
}

// withdraw takes items out of *pending, those that still wait there.
func withdraw[T comparable](pending *[]T, items ...T) {
	for _, item := range items {
		if i := slices.Index(*pending, item); i >= 0 {
			*pending = slices.Delete(*pending, i, i+1)
		}
	}
}

// batchContext is the context of one call made for a batch: bounded by the store's timeout and by
// the latest deadline among the callers, so that no caller's deadline cuts short the call of
// another. It carries the first caller's values but none of their cancellations (each caller
// still returns at its own deadline). A call that fails is judged against each caller's own
// context (wrap).
func batchContext[T waiter](s *Store, batch []T) (context.Context, context.CancelFunc) {
	deadline := time.Now().Add(s.timeout)
	latest := time.Time{}
	for _, it := range batch {
		dl, ok := it.place().ctx.Deadline()
		if !ok {
			latest = deadline
			break
		}
		if dl.After(latest) {
			latest = dl
		}
	}
	if latest.Before(deadline) {
		deadline = latest
	}
	return context.WithDeadline(context.WithoutCancel(batch[0].place().ctx), deadline)
}
