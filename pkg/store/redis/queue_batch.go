package redis

import (
	"context"

	goredis "github.com/redis/go-redis/v9"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
)

// EnqueueBatch enqueues many jobs in one pipelined round trip, in order, up to 64 jobs to a
// script call (a job with an idempotency key or a large payload in a call of its own): each job
// still succeeds or fails on its own (a full queue, a duplicate id), as it would alone. It
// implements store.BatchEnqueuer.
func (s *Store) EnqueueBatch(ctx context.Context, name string, p store.QueuePolicy, jobs []store.NewJob) ([]store.EnqueueResult, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := s.checkName(ctx, "queue name", name); err != nil {
		return nil, err
	}
	out := make([]store.EnqueueResult, len(jobs))
	calls := make([]*queueCall, 0, len(jobs))
	at := make([]int, 0, len(jobs)) // the job of each call
	for i, nj := range jobs {
		if err := contract.ValidateJob(p, nj); err != nil {
			out[i].Err = err
			continue
		}
		calls = append(calls, s.enqueueStep(name, p, nj))
		at = append(at, i)
	}
	gs := groups(calls)
	cmds := make([]*goredis.Cmd, len(gs))
	octx, cancel := s.opContext(ctx)
	defer cancel()
	_, err := s.rdb.Pipelined(octx, func(pipe goredis.Pipeliner) error {
		for i, g := range gs {
			sc, keys, args := s.script(g)
			cmds[i] = pipe.EvalSha(octx, sc.SHA(), keys, args...)
		}
		return nil
	})
	if err != nil && !lua.IsNoScript(err) && !isReply(err) {
		return nil, s.wrap(ctx, err) // the round trip itself failed
	}
	for i, g := range gs {
		if lua.IsNoScript(cmds[i].Err()) {
			// The server did not know the script: this call loads it and enqueues the jobs.
			s.runGroup(octx, g)
			continue
		}
		g.answer(cmds[i].Result())
	}
	for k, c := range calls {
		i := at[k]
		out[i].ID, out[i].Existed, out[i].Err = s.enqueueReply(ctx, name, c, c.v, c.err)
	}
	return out, nil
}

// isReply reports whether err is an error reply from the server (about one command), rather
// than a failure of the connection.
func isReply(err error) bool {
	code, _ := replyCode(err)
	return code != ""
}
