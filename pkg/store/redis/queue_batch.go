package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"

	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
)

// EnqueueBatch enqueues many jobs in one pipelined round trip: each job is still one atomic
// script call, so each succeeds or fails on its own (a full queue, a duplicate id), in order.
// It implements queue.BatchEnqueuer.
func (s *Store) EnqueueBatch(ctx context.Context, name string, p store.QueuePolicy, jobs []store.NewJob) ([]store.EnqueueResult, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := s.check(ctx, name); err != nil {
		return nil, err
	}
	out := make([]store.EnqueueResult, len(jobs))
	cmds := make([]*goredis.Cmd, len(jobs))
	octx, cancel := s.opContext(ctx)
	defer cancel()
	_, err := s.rdb.Pipelined(octx, func(pipe goredis.Pipeliner) error {
		for i, nj := range jobs {
			if err := store.ValidateJob(p, nj); err != nil {
				out[i].Err = err
				continue
			}
			keys, args := s.enqueueCall(name, p, nj)
			cmds[i] = pipe.EvalSha(octx, lua.QueueEnqueue.SHA(), keys, append([]any{s.nowArg(), 1}, args...)...)
		}
		return nil
	})
	if err != nil && !lua.IsNoScript(err) && !isReply(err) {
		return nil, s.wrap(ctx, err) // the round trip itself failed
	}
	for i, cmd := range cmds {
		if cmd == nil {
			continue
		}
		v, err := cmd.Result()
		if lua.IsNoScript(err) {
			// The server did not know the script: this one call loads it and enqueues the job.
			out[i].ID, out[i].Existed, out[i].Err = s.Enqueue(ctx, name, p, jobs[i])
			continue
		}
		v, err = only(v, err)
		out[i].ID, out[i].Existed, out[i].Err = s.enqueueReply(ctx, name, jobs[i], v, err)
	}
	return out, nil
}

// only returns the one outcome of a script's reply about one job ({outcome}), an error reply
// among them as an error.
func only(v any, err error) (any, error) {
	if err != nil {
		return nil, err
	}
	arr, ok := v.([]any)
	if !ok || len(arr) != 1 {
		return nil, unexpected(v)
	}
	if err, ok := arr[0].(error); ok {
		return nil, err
	}
	return arr[0], nil
}

// isReply reports whether err is an error reply from the server (about one command), rather
// than a failure of the connection.
func isReply(err error) bool {
	code, _ := replyCode(err)
	return code != ""
}
