// Package lua holds Weir's Redis scripts, one .lua file each, embedded in the binary: each is a
// Script variable (Take, Learn, QueueDequeue...) that runs by EVALSHA. Run and RunInts load the
// script again when the server has forgotten it; Cmd makes the command for a pipeline, whose
// caller retries on NOSCRIPT (see IsNoScript). A Script is safe for concurrent use.
//
// Every script opens with its contract: the keys it touches (all passed in KEYS, never built
// inside the script, so that it runs on Redis Cluster and behind proxies), its arguments and what
// it returns.
package lua

import (
	"context"
	"crypto/sha1"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/redis/go-redis/v9"
)

//go:embed *.lua
var files embed.FS

// Script is one embedded script. It is safe for concurrent use.
type Script struct {
	name string
	src  string
	sha  string
}

// Scripter is the part of a go-redis client that runs scripts; every redis.UniversalClient is one.
type Scripter interface {
	EvalSha(ctx context.Context, sha1 string, keys []string, args ...any) *redis.Cmd
	ScriptLoad(ctx context.Context, script string) *redis.StringCmd
}

func load(name string) *Script {
	src, err := files.ReadFile(name)
	if err != nil {
		panic(fmt.Sprintf("weir/lua: missing embedded script %s: %v", name, err))
	}
	sum := sha1.Sum(src)
	return &Script{name: name, src: string(src), sha: hex.EncodeToString(sum[:])}
}

// The scripts.
var (
	// Take is take.lua: GCRA over every limit of a key, all or nothing, for one or more takes.
	Take = load("take.lua")
	// Block is block.lua: a pause on a key.
	Block = load("block.lua")
	// Learn is learn.lua: a key's learned paces, from what a server said.
	Learn = load("learn.lua")
	// Backoff is backoff.lua: a rejection without quota cuts a key's request pace and pauses it.
	Backoff = load("backoff.lua")
	// Learned is learned.lua: read a key's learned paces and pause.
	Learned = load("learned.lua")
	// Breaker is breaker.lua: a circuit breaker's transitions.
	Breaker = load("breaker.lua")
	// QueueEnqueue is queue_enqueue.lua: add a job, or several (the combined enqueues of one
	// process), or find the one an idempotency key names.
	QueueEnqueue = load("queue_enqueue.lua")
	// QueueDequeue is queue_dequeue.lua: ack up to 32 held jobs, promote due delayed jobs, then
	// lease out the best ready jobs to one or more callers (the combined calls of one process).
	QueueDequeue = load("queue_dequeue.lua")
	// QueueExtend is queue_extend.lua: extend a held lease.
	QueueExtend = load("queue_extend.lua")
	// QueueFinish is queue_finish.lua: retry or bury a held job (acks go through queue_dequeue.lua).
	QueueFinish = load("queue_finish.lua")
	// QueueReap is queue_reap.lua: return expired leases to the front of their priority.
	QueueReap = load("queue_reap.lua")
	// QueueStats is queue_stats.lua: a queue's depth by priority and its set sizes.
	QueueStats = load("queue_stats.lua")
	// QueueDead is queue_dead.lua: list dead jobs, or requeue one.
	QueueDead = load("queue_dead.lua")
	// QueueResult is queue_result.lua: read a finished job's result.
	QueueResult = load("queue_result.lua")
)

// Name returns the script's file name.
func (s *Script) Name() string { return s.name }

// Source returns the script's text.
func (s *Script) Source() string { return s.src }

// SHA returns the script's SHA-1, by which EVALSHA names it.
func (s *Script) SHA() string { return s.sha }

// Run runs the script by EVALSHA. When the server answers that it does not know the script (it
// restarted, was flushed, or a cluster node never saw it), Run loads it and tries once more.
func (s *Script) Run(ctx context.Context, c Scripter, keys []string, args ...any) *redis.Cmd {
	cmd := c.EvalSha(ctx, s.sha, keys, args...)
	if !IsNoScript(cmd.Err()) {
		return cmd
	}
	if err := c.ScriptLoad(ctx, s.src).Err(); err != nil {
		failed := redis.NewCmd(ctx)
		failed.SetErr(fmt.Errorf("weir/lua: loading %s: %w", s.name, err))
		return failed
	}
	return c.EvalSha(ctx, s.sha, keys, args...)
}

// RunInts runs a script whose reply is an array of integers, as Run does (NOSCRIPT reloads and
// retries once), and reads the reply straight into []int64: no interface value per element. The
// rate-limit decision, the fleet's most frequent call, is read this way.
func (s *Script) RunInts(ctx context.Context, c interface {
	Scripter
	Process(ctx context.Context, cmd redis.Cmder) error
}, keys []string, args ...any) *redis.IntSliceCmd {
	cmd := s.intsCmd(ctx, keys, args)
	if !IsNoScript(c.Process(ctx, cmd)) {
		return cmd
	}
	if err := c.ScriptLoad(ctx, s.src).Err(); err != nil {
		failed := redis.NewIntSliceCmd(ctx)
		failed.SetErr(fmt.Errorf("weir/lua: loading %s: %w", s.name, err))
		return failed
	}
	cmd = s.intsCmd(ctx, keys, args)
	_ = c.Process(ctx, cmd)
	return cmd
}

// intsCmd is EVALSHA of the script as an IntSliceCmd.
func (s *Script) intsCmd(ctx context.Context, keys []string, args []any) *redis.IntSliceCmd {
	a := make([]any, 0, 3+len(keys)+len(args))
	a = append(a, "evalsha", s.sha, len(keys))
	for _, k := range keys {
		a = append(a, k)
	}
	return redis.NewIntSliceCmd(ctx, append(a, args...)...)
}

// IsNoScript reports whether err is the server's NOSCRIPT error: a Redis error reply whose error
// code, the reply's first word, is NOSCRIPT. Network errors and other replies are not.
func IsNoScript(err error) bool {
	if err == nil {
		return false
	}
	var rerr redis.Error
	if !errors.As(err, &rerr) {
		return false
	}
	code, _, _ := strings.Cut(rerr.Error(), " ")
	return code == "NOSCRIPT"
}
