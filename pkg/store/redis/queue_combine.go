package redis

import (
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"sync/atomic"

	goredis "github.com/redis/go-redis/v9"

	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
)

// The queue's script calls are combined per queue, in two lines: one for its enqueues, one for
// everything else. A caller that finds its line not full (no call of the line on its way to
// Redis; for enqueues, fewer than two) sends its own at once, on its own goroutine and under its
// own context, exactly as if nothing were combined. Callers that arrive while the line is full
// wait in it, and when a call returns the whole line goes in one pipeline: one write and one read
// for all of them instead of a round trip each. Within the pipeline, the enqueues share script
// calls (up to 64 jobs to queue_enqueue.lua), and so do the dequeues and acks: queue_dequeue.lua
// acks up to 32 jobs and then leases any number, so that a line of up to 32 acks and any number
// of dequeues takes one script call instead of one each (AckDequeue puts a worker's ack and its
// next lease in the line together). Every caller still gets its own reply or error, exactly as a
// call of its own would have given it: the scripts run each caller's step as it would have run
// alone, and nothing about what a step does changes, only how many round trips and script calls
// the steps of one process share. A step that returned before another began ran first. The lines
// are per store and queue, so that the queues of a Cluster's different nodes never wait for each
// other.

const (
	// queueInFlight bounds the round trips one queue has on their way from one store at once:
	// the callers beyond wait in line. One, so that everyone who calls while a pipeline is on
	// its way goes in the next one: with two, the callers of a busy queue split into two
	// smaller pipelines, and each took more round trips and script calls per job
	// (BenchmarkQueueDequeueAck: 0.5 round trips a job instead of 0.27) for less throughput.
	queueInFlight = 1
	// enqueueInFlight bounds the round trips of one queue's enqueues on their way from one store
	// at once. Enqueues wait in a line of their own, apart from the dequeues and acks: a
	// producer never waits behind a consumer's call, and two pipelines of enqueues may be on
	// their way at once, so that Redis runs one while the store answers the other's callers and
	// sends the next (BenchmarkQueueEnqueueConcurrent: with one, Redis sat idle about 30% of
	// the time, with two about 17%, and the jobs/s rose by a sixth; three did no better).
	enqueueInFlight = 2
	// queueBatchMax bounds the calls of one pipeline.
	queueBatchMax = 128
)

// callKind tells what a queueCall asks.
type callKind uint8

const (
	callScript  callKind = iota // a script of its own: sc, keys, args
	callLease                   // a dequeue's lease: lease, promoted
	callAck                     // an ack: ack, resultKey
	callEnqueue                 // a job enqueued: keys, args (the job's), alone
)

// queueCall is one caller's step, alone or waiting in line.
type queueCall struct {
	ctx  context.Context
	kind callKind
	sc   *lua.Script
	keys []string // callScript: the script's; callLease and callAck: the queue's lease keys
	args []any
	argv [8]any // callEnqueue: where args lives: id, priority, delay, MaxLen, payload, place, ...

	assigned bool // callEnqueue: the store assigned the job's id

	lease     int64 // µs
	promoted  bool  // an earlier call of the dequeue promoted a full batch
	ack       [5]any
	resultKey string
	alone     bool // callEnqueue: a script call of its own (an idempotency key, a large payload)

	v    any // the step's reply: the script's; a lease's element; an ack's code; a job's outcome
	err  error
	done chan struct{}
}

// queueLine is one queue's line: busy counts the calls or pipelines of the queue on their way,
// pending are the calls waiting for one of them to return.
type queueLine struct {
	busy    int
	pending []*queueCall
}

// lineKey names a line: a queue's enqueues wait in one, its other calls in another.
type lineKey struct {
	name    string
	enqueue bool
}

// queueLines holds one store's lines.
type queueLines struct {
	mu    sync.Mutex
	lines map[lineKey]*queueLine
}

// queueState is what a store keeps for its queues: their lines, their keys, and what it needs to
// assign job ids.
type queueState struct {
	queueLines
	keys  keyCache
	ids   atomic.Uint64 // ids assigned so far
	idTag string        // random, 12 base-36 digits
}

// queueStateOf returns s's queueState, made on first use.
func queueStateOf(s *Store) *queueState {
	s.queueOnce.Do(func() {
		s.queueState = &queueState{queueLines: queueLines{lines: make(map[lineKey]*queueLine)}, idTag: idTag()}
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

// enqueueStep is the step that asks queue_enqueue.lua to add a job to queue name, alone or with
// other jobs: its reply is the job's outcome, an error reply about the job its error. A job with
// an idempotency key, or a payload too large for its meta entry, goes in a call of its own.
func (s *Store) enqueueStep(name string, p store.QueuePolicy, nj store.NewJob) *queueCall {
	c := &queueCall{kind: callEnqueue, alone: nj.IdempotencyKey != "" || len(nj.Payload) > inlinePayload}
	s.enqueueCall(c, name, p, nj)
	return c
}

// queueStep runs c, bounded by ctx and the store's timeout: at once when no call of queue name is
// on its way, else in the next pipeline of the queue's line.
func (s *Store) queueStep(ctx context.Context, name string, c *queueCall) (any, error) {
	if err := s.queueSteps(ctx, name, c); err != nil {
		return nil, err
	}
	return c.v, c.err
}

// queueSteps runs calls together, in order, as queueStep runs one: in one pipeline, and in one
// script call where groups puts them together (an ack and a lease). All calls must go in the same
// line. Each call's reply and error are left in it; the error returned is the caller's own
// (its context ended before every call was answered).
func (s *Store) queueSteps(ctx context.Context, name string, calls ...*queueCall) error {
	ql := &queueStateOf(s).queueLines
	lk, most := lineKey{name: name}, queueInFlight
	if calls[0].kind == callEnqueue {
		lk.enqueue, most = true, enqueueInFlight
	}
	for _, c := range calls {
		c.ctx = ctx
	}
	ql.mu.Lock()
	line := ql.lines[lk]
	if line == nil {
		line = &queueLine{}
		ql.lines[lk] = line
	}
	if line.busy < most {
		// Few enough calls about this queue are on their way: call on our own goroutine, under
		// our own context. Callers that arrive while the line is full wait in it, and a serving
		// goroutine sends them.
		line.busy++
		ql.mu.Unlock()
		octx, cancel := s.opContext(ctx)
		s.runCalls(octx, calls)
		cancel()
		ql.mu.Lock()
		s.handOn(ql, lk, line)
		ql.mu.Unlock()
		return nil
	}
	for _, c := range calls {
		c.done = make(chan struct{})
	}
	line.pending = append(line.pending, calls...)
	ql.mu.Unlock()

	for i, c := range calls {
		if !awaitTurn(ctx, c.done, &ql.mu, &line.pending, c) {
			ql.mu.Lock()
			withdraw(&line.pending, calls[i+1:]...)
			ql.mu.Unlock()
			return callerDone(ctx)
		}
	}
	return nil
}

// handOn is called, under ql.mu, when a call of name's line has returned: it frees the call's
// place in the line if nobody waits, or starts a goroutine that sends the waiting calls in it.
func (s *Store) handOn(ql *queueLines, name lineKey, line *queueLine) {
	if len(line.pending) == 0 {
		line.leave(ql, name)
		return
	}
	batch := nextBatch(line)
	if s.closed.Load() {
		// Close is waiting for the store's goroutines: start no more; these callers learn that
		// the store closed.
		for _, c := range append(batch, line.pending...) {
			c.err = store.ErrClosed
			close(c.done)
		}
		line.pending = nil
		line.leave(ql, name)
		return
	}
	s.wg.Add(1)
	go s.serveQueue(ql, name, line, batch)
}

// leave frees a place of the line, and retires the line once nothing of it is on its way.
func (line *queueLine) leave(ql *queueLines, name lineKey) {
	line.busy--
	if line.busy == 0 {
		delete(ql.lines, name)
	}
}

// nextBatch takes the first calls waiting in line, at most queueBatchMax.
func nextBatch(line *queueLine) []*queueCall {
	k := min(len(line.pending), queueBatchMax)
	batch := append([]*queueCall(nil), line.pending[:k]...)
	line.pending = append(line.pending[:0:0], line.pending[k:]...)
	return batch
}

// serveQueue sends batches of name's line until nobody waits, then retires the line.
func (s *Store) serveQueue(ql *queueLines, name lineKey, line *queueLine, batch []*queueCall) {
	defer s.wg.Done()
	for {
		s.runBatch(batch)
		// The callers just answered are runnable, most of them on this P: let them run first,
		// so that those who call again at once (a worker's ack after its dequeue, its next
		// dequeue after its ack) join the next pipeline rather than trail it in one of their own.
		runtime.Gosched()
		ql.mu.Lock()
		if len(line.pending) == 0 {
			line.leave(ql, name)
			ql.mu.Unlock()
			return
		}
		batch = nextBatch(line)
		ql.mu.Unlock()
	}
}

// queueGroup is the calls that one script call serves: a callScript alone, up to
// maxAcksPerCall acks followed by any number of leases, or up to maxEnqueuesPerCall enqueues.
type queueGroup struct {
	calls []*queueCall
}

// maxAcksPerCall is how many acks queue_dequeue.lua takes in one call: each passes a key (its
// result) and five arguments.
const maxAcksPerCall = 32

// maxEnqueuesPerCall is how many jobs queue_enqueue.lua takes in one call: four arguments each.
const maxEnqueuesPerCall = 64

// groups sorts a batch into script calls: each callScript alone; the acks up to maxAcksPerCall to
// a call, the first also carrying every lease; the leases in a call of their own when there is
// no ack; the enqueues in the order they came, up to maxEnqueuesPerCall to a call, each that
// goes alone in a call of its own.
func groups(batch []*queueCall) []queueGroup {
	var out []queueGroup
	var acks, leases, enqueues []*queueCall
	flush := func() {
		if enqueues != nil {
			out = append(out, queueGroup{calls: enqueues})
			enqueues = nil
		}
	}
	for _, c := range batch {
		switch c.kind {
		case callScript:
			out = append(out, queueGroup{calls: []*queueCall{c}})
		case callEnqueue:
			if c.alone || len(enqueues) == maxEnqueuesPerCall || len(enqueues) > 0 && enqueues[0].argv[3] != c.argv[3] {
				flush() // (the jobs of one call share MaxLen)
			}
			if c.alone {
				out = append(out, queueGroup{calls: []*queueCall{c}})
				continue
			}
			enqueues = append(enqueues, c)
		case callAck:
			acks = append(acks, c)
		case callLease:
			leases = append(leases, c)
		}
	}
	for len(acks) > 0 {
		k := min(len(acks), maxAcksPerCall)
		g := queueGroup{calls: acks[:k:k]}
		acks = acks[k:]
		if leases != nil {
			g.calls = append(g.calls, leases...)
			leases = nil
		}
		out = append(out, g)
	}
	if leases != nil {
		out = append(out, queueGroup{calls: leases})
	}
	flush()
	return out
}

// script returns the group's script, keys and arguments.
func (s *Store) script(g queueGroup) (*lua.Script, []string, []any) {
	c := g.calls[0]
	switch c.kind {
	case callScript:
		return c.sc, c.keys, c.args
	case callEnqueue:
		if len(g.calls) == 1 {
			return lua.QueueEnqueue, c.keys, append([]any{s.nowArg(), 1}, c.args...)
		}
		// Several jobs: MaxLen once, whose ids are the store's, then four arguments a job.
		chosen := make([]byte, len(g.calls))
		args := make([]any, 4, 4+4*len(g.calls))
		args[0], args[1], args[2] = s.nowArg(), len(g.calls), c.argv[3]
		for i, e := range g.calls {
			chosen[i] = 'c'
			if e.assigned {
				chosen[i] = 's'
			}
			args = append(args, e.argv[0], e.argv[1], e.argv[2], e.argv[4])
		}
		args[3] = string(chosen)
		return lua.QueueEnqueue, c.keys, args
	}
	acks := 0
	for acks < len(g.calls) && g.calls[acks].kind == callAck {
		acks++
	}
	leases := g.calls[acks:]
	var keys []string
	switch {
	case acks == 0:
		keys = c.keys
	case acks == 1 && len(leases) == 0:
		keys = []string{c.keys[0], c.keys[1], c.keys[2], c.resultKey}
	default:
		keys = make([]string, len(c.keys), len(c.keys)+acks-1)
		copy(keys, c.keys)
		keys[3] = c.resultKey
		for _, a := range g.calls[1:acks] {
			keys = append(keys, a.resultKey)
		}
	}
	args := make([]any, 0, 3+5*acks+2*len(leases))
	args = append(args, s.nowArg(), acks)
	for _, a := range g.calls[:acks] {
		args = append(args, a.ack[:]...)
	}
	args = append(args, len(leases))
	for _, l := range leases {
		promoted := "0"
		if l.promoted {
			promoted = "1"
		}
		args = append(args, l.lease, promoted)
	}
	return lua.QueueDequeue, keys, args
}

// answer hands the reply of the group's script call, or its error, to each of its calls.
func (g queueGroup) answer(v any, err error) {
	first := g.calls[0]
	// One job alone gets its outcome itself; the other groups get an array, one element a call,
	// except several jobs that were all added: their number.
	several := first.kind != callScript && (first.kind != callEnqueue || len(g.calls) > 1)
	switch {
	case err != nil:
	case first.kind == callEnqueue && several && v == any(int64(len(g.calls))):
		for _, c := range g.calls {
			c.v = int64(0)
		}
	case several:
		arr, ok := v.([]any)
		if !ok || len(arr) != len(g.calls) {
			err = unexpected(v)
			break
		}
		for i, c := range g.calls {
			if e, ok := arr[i].(error); ok { // an error reply about this call's job alone
				c.err = e
			} else {
				c.v = arr[i]
			}
		}
	default:
		first.v = v
	}
	for _, c := range g.calls {
		if err != nil {
			c.v, c.err = nil, err
		}
		if c.done != nil {
			close(c.done)
		}
	}
}

// runGroup runs one group's script call on ctx and answers its calls.
func (s *Store) runGroup(ctx context.Context, g queueGroup) {
	sc, keys, args := s.script(g)
	g.answer(sc.Run(ctx, s.rdb, keys, args...).Result())
}

// runBatch sends a batch in one pipeline and answers each call. Its context lasts as long as the
// most patient caller (each caller still returns at its own deadline), bounded by the store's
// timeout. A script call that the server does not know (it restarted or was flushed) is sent
// again on its own, which loads the script.
func (s *Store) runBatch(batch []*queueCall) {
	ctx, cancel := batchContext(s, batch, func(c *queueCall) context.Context { return c.ctx })
	defer cancel()
	s.runCalls(ctx, batch)
}

// runCalls sends calls on ctx, in one pipeline when they take more than one script call, and
// answers each. The errors are go-redis's: each caller judges them against its own context.
func (s *Store) runCalls(ctx context.Context, batch []*queueCall) {
	gs := groups(batch)
	if len(gs) == 1 {
		s.runGroup(ctx, gs[0])
		return
	}
	cmds := make([]*goredis.Cmd, len(gs))
	_, err := s.rdb.Pipelined(ctx, func(pipe goredis.Pipeliner) error {
		for i, g := range gs {
			sc, keys, args := s.script(g)
			cmds[i] = pipe.EvalSha(ctx, sc.SHA(), keys, args...)
		}
		return nil
	})
	for i, g := range gs {
		if lua.IsNoScript(cmds[i].Err()) {
			s.runGroup(ctx, g)
			continue
		}
		v, cerr := cmds[i].Result()
		if v == nil && cerr == nil {
			// Never sent: go-redis leaves the commands of a pipeline without an error when the
			// connection failed with an error it would retry (a new connection's handshake timing
			// out) and it has no retry left.
			cerr = err
		}
		g.answer(v, cerr)
	}
}
