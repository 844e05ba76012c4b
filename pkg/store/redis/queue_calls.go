package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"

	"github.com/weir-go/weir/pkg/lua"
)

// A batch of queue calls goes to Redis in one pipeline, and within it the calls share script
// calls: up to maxEnqueuesPerCall jobs to one queue_enqueue.lua call, and up to maxAcksPerCall
// acks followed by any number of leases to one queue_dequeue.lua call (AckDequeue puts a worker's
// ack and its next lease in the line together). The scripts run each caller's step as it would
// have run alone: only the round trips and script calls are shared.

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
	turn
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

	v any // the step's reply: the script's; a lease's element; an ack's code; a job's outcome
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
		c.answered()
	}
}

// runGroup runs one group's script call on ctx and answers its calls.
func (s *Store) runGroup(ctx context.Context, g queueGroup) {
	sc, keys, args := s.script(g)
	g.answer(sc.Run(ctx, s.rdb, keys, args...).Result())
}

// runBatch sends a batch of a line in one pipeline and answers each call, under a context that
// lasts as long as the most patient caller, bounded by the store's timeout.
func (s *Store) runBatch(_ lineKey, batch []*queueCall) {
	ctx, cancel := batchContext(s, batch)
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
