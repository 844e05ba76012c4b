package redis_test

import (
	"strconv"

	goredis "github.com/redis/go-redis/v9"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

// TestQueueEarlierLayout serves a queue written in the layout before job entries held their
// token, last error and (small) payload: "<priority>|<seq>|<attempt>|<enqueued_us>" in the meta
// hash, payloads in the payload hash, tokens in a hash of their own, results as hashes. Jobs
// waiting there are still handed out, payload and all; a lease held across the change is lost,
// and its job runs again once reaped; a result kept as a hash can still be read.
func TestQueueEarlierLayout(t *testing.T) {
	clk := clock.NewFake(queueStart)
	rdb := newClient(t)
	s := storeOn(t, rdb, clk)
	ctx, q := t.Context(), "old"
	key := func(part string) string { return testPrefix(t) + ":{q:" + q + "}:" + part }
	enq := queueStart.Add(-time.Hour).UnixMicro()

	// A ready job of priority 4, one in flight (token 7, its lease until a minute from now), one
	// delayed until a second from now, one dead, and an old result.
	require.NoError(t, rdb.HSet(ctx, key("meta"),
		"ready", "4|12|0|"+itoa(enq), "flying", "2|3|1|"+itoa(enq), "later", "0|20|0|"+itoa(enq),
		"gone", "1|1|5|"+itoa(enq)).Err())
	require.NoError(t, rdb.HSet(ctx, key("payload"), "ready", "r-payload", "flying", "f-payload",
		"later", "l-payload", "gone", "g-payload").Err())
	require.NoError(t, rdb.ZAdd(ctx, key("ready"), zmember(-4, "10000000000000012:ready")).Err())
	require.NoError(t, rdb.ZAdd(ctx, key("inflight"), zmember(float64(queueStart.Add(time.Minute).UnixMicro()), "flying")).Err())
	require.NoError(t, rdb.HSet(ctx, key("tokens"), "flying", "7").Err())
	require.NoError(t, rdb.ZAdd(ctx, key("delayed"), zmember(float64(queueStart.Add(time.Second).UnixMicro()), "later")).Err())
	require.NoError(t, rdb.ZAdd(ctx, key("dead"), zmember(1, "gone")).Err())
	require.NoError(t, rdb.HSet(ctx, key("ctr"), "seq", "20", "token", "7", "dead", "1").Err())
	require.NoError(t, rdb.HSet(ctx, key("result:done"), "d", "0", "b", "body", "r", "", "a", "2", "t", "5",
		"x", itoa(queueStart.Add(time.Hour).UnixMicro())).Err())

	r, err := s.Result(ctx, q, "done")
	require.NoError(t, err)
	assert.Equal(t, store.Result{ID: "done", Body: []byte("body"), Attempts: 2}, r)

	dead, err := s.Dead(ctx, q, 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, store.Job{ID: "gone", Priority: 1, Payload: []byte("g-payload"), Attempt: 5,
		EnqueuedAt: time.UnixMicro(enq)}, dead[0])

	l, ok, err := s.Dequeue(ctx, q, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, store.Job{ID: "ready", Priority: 4, Payload: []byte("r-payload"), Attempt: 1,
		EnqueuedAt: time.UnixMicro(enq)}, l.Job)
	require.NoError(t, s.Ack(ctx, q, store.QueuePolicy{}, l.ID, l.Token, nil))

	// The old lease is lost; once it runs out the job goes back, to the front of its priority.
	require.ErrorIs(t, s.Ack(ctx, q, store.QueuePolicy{}, "flying", 7, nil), store.ErrLeaseLost)
	clk.Advance(time.Minute)
	n, err := s.Reap(ctx, q)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	l, ok, err = s.Dequeue(ctx, q, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, store.Job{ID: "flying", Priority: 2, Payload: []byte("f-payload"), Attempt: 2,
		EnqueuedAt: time.UnixMicro(enq)}, l.Job)
	require.NoError(t, s.Ack(ctx, q, store.QueuePolicy{}, l.ID, l.Token, nil))

	// The delayed job, promoted.
	l, ok, err = s.Dequeue(ctx, q, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, store.Job{ID: "later", Payload: []byte("l-payload"), Attempt: 1, EnqueuedAt: time.UnixMicro(enq)}, l.Job)
	require.NoError(t, s.Ack(ctx, q, store.QueuePolicy{}, l.ID, l.Token, nil))

	// The dead one, requeued.
	require.NoError(t, s.Requeue(ctx, q, store.QueuePolicy{}, "gone"))
	l, ok, err = s.Dequeue(ctx, q, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, store.Job{ID: "gone", Priority: 1, Payload: []byte("g-payload"), Attempt: 1,
		EnqueuedAt: time.UnixMicro(enq)}, l.Job)
	require.NoError(t, s.Ack(ctx, q, store.QueuePolicy{}, l.ID, l.Token, nil))

	assert.Equal(t, store.QueueStats{Ready: map[int]int{}}, stats(t, s, q))
	left, err := rdb.HLen(ctx, key("payload")).Result()
	require.NoError(t, err)
	assert.Zero(t, left, "payloads of finished jobs are deleted")
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func zmember(score float64, member string) goredis.Z { return goredis.Z{Score: score, Member: member} }

func stats(t *testing.T, s store.Queues, q string) store.QueueStats {
	t.Helper()
	st, err := s.QueueStats(t.Context(), q)
	require.NoError(t, err)
	return st
}
