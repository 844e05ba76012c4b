package redis

import (
	"context"
	"math/rand/v2"
	"sync/atomic"

	"github.com/weir-go/weir/pkg/lua"
)

// The queue's calls wait in lines (line.go), two a queue: one for its enqueues, one for
// everything else. When a call returns, the whole line goes in one pipeline, and within it the
// calls share script calls where their scripts allow (queue_calls.go). Every caller still gets
// its own reply or error, as a call of its own would have given it. The lines are per store and
// queue, so that the queues of a Cluster's different nodes never wait for each other.
// docs/combining.md tells what each choice measured.

const (
	// queueInFlight bounds the round trips of one queue's line on their way from one store at
	// once: one, so that everyone who calls while a pipeline is on its way goes in the next.
	queueInFlight = 1
	// enqueueInFlight bounds the round trips of one queue's enqueues on their way at once: two,
	// so that Redis runs one while the store answers the other's callers and sends the next.
	enqueueInFlight = 2
	// queueBatchMax bounds the calls of one pipeline.
	queueBatchMax = 128
)

// lineKey names a line: a queue's enqueues wait in one, its other calls in another.
type lineKey struct {
	name    string
	enqueue bool
}

// queueState is what a store keeps for its queues: their lines, their keys, and what it needs to
// assign job ids.
type queueState struct {
	lines *lines[lineKey, *queueCall]
	keys  keyCache
	ids   atomic.Uint64 // ids assigned so far
	idTag string        // random, 12 base-36 digits
}

// queueStateOf returns s's queueState, made on first use.
func queueStateOf(s *Store) *queueState {
	s.queueOnce.Do(func() {
		s.queueState = &queueState{lines: newLines(s, queueBatchMax, s.runBatch), idTag: idTag()}
	})
	return s.queueState
}

// idTag draws 12 random base-36 digits.
func idTag() string {
	const digits = "0123456789abcdefghijklmnopqrstuvwxyz"
	var b [12]byte
	for i := range b {
		b[i] = digits[rand.IntN(len(digits))]
	}
	return string(b[:])
}

// runQueue runs one script about queue name, combined with the other calls about the queue (see
// above). The reply and error are the script's own, as go-redis reports them; the caller wraps
// errors.
func (s *Store) runQueue(ctx context.Context, name string, sc *lua.Script, keys []string, args ...any) (any, error) {
	return s.queueStep(ctx, name, &queueCall{kind: callScript, sc: sc, keys: keys, args: args})
}

// runLease asks queue_dequeue.lua for one lease of queue name: the reply is the lease's element
// of the script's reply.
func (s *Store) runLease(ctx context.Context, name string, lease int64, promoted bool) (any, error) {
	return s.queueStep(ctx, name, &queueCall{kind: callLease, keys: s.queueKeysOf(name).lease, lease: lease, promoted: promoted})
}

// queueStep runs c, bounded by ctx and the store's timeout: at once when the queue's line has
// room, else in the line's next pipeline. The reply and error are the step's own, as go-redis
// reports them; the caller wraps errors.
func (s *Store) queueStep(ctx context.Context, name string, c *queueCall) (any, error) {
	if err := s.queueSteps(ctx, name, c); err != nil {
		return nil, err
	}
	return c.v, c.err
}

// queueSteps runs calls together, in order, as queueStep runs one: in one pipeline, and in one
// script call where they fit together (an ack and a lease). All calls must go in the same line.
// Each call's reply and error are left in it; the error returned is the caller's own (the store
// closed, or its context ended before every call was answered).
func (s *Store) queueSteps(ctx context.Context, name string, calls ...*queueCall) error {
	ls := queueStateOf(s).lines
	k, most := lineKey{name: name}, queueInFlight
	if calls[0].kind == callEnqueue {
		k.enqueue, most = true, enqueueInFlight
	}
	for _, c := range calls {
		c.ctx = ctx
	}
	ln, alone, err := ls.enter(k, most, calls...)
	if err != nil {
		return err
	}
	if !alone {
		return ls.awaitTurn(ctx, ln, calls...)
	}
	octx, cancel := s.opContext(ctx)
	s.runCalls(octx, calls)
	cancel()
	ls.leave(k, ln)
	return nil
}
