package redis_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
	"github.com/weir-go/weir/pkg/store/storetest"
)

func TestQueueConformance(t *testing.T) {
	storetest.RunQueues(t, func(t *testing.T, clk *clock.Fake) storetest.QueueStore { return newStore(t, clk) })
}

// TestQueueConformanceCluster runs the suite on the Redis Cluster that REDIS_CLUSTER_ADDRS
// names: every script touches the keys of one queue only, all in one slot.
func TestQueueConformanceCluster(t *testing.T) {
	rdb := newClusterClient(t)
	storetest.RunQueues(t, func(t *testing.T, clk *clock.Fake) storetest.QueueStore { return storeOn(t, rdb, clk) })
}

// queueStart is where the queue tests' fake clocks start.
var queueStart = time.Date(2026, time.April, 1, 9, 0, 0, 0, time.UTC)

// qenv is one queue test's store, clock and queue.
type qenv struct {
	s   *weirredis.Store
	clk *clock.Fake
	ctx context.Context
	q   string
}

func newQenv(t *testing.T) *qenv {
	t.Helper()
	clk := clock.NewFake(queueStart)
	return &qenv{s: newStore(t, clk), clk: clk, ctx: t.Context(), q: "jobs"}
}

func (e *qenv) put(t *testing.T, p store.QueuePolicy, nj store.NewJob) string {
	t.Helper()
	id, existed, err := e.s.Enqueue(e.ctx, e.q, p, nj)
	require.NoError(t, err)
	require.False(t, existed)
	return id
}

func (e *qenv) take(t *testing.T, lease time.Duration) store.Lease {
	t.Helper()
	l, ok, err := e.s.Dequeue(e.ctx, e.q, lease)
	require.NoError(t, err)
	require.True(t, ok, "a job is ready")
	return l
}

func (e *qenv) none(t *testing.T) {
	t.Helper()
	l, ok, err := e.s.Dequeue(e.ctx, e.q, time.Minute)
	require.NoError(t, err)
	require.False(t, ok, "got %q, want nothing ready", l.Payload)
}

func (e *qenv) stats(t *testing.T) store.QueueStats {
	t.Helper()
	st, err := e.s.QueueStats(e.ctx, e.q)
	require.NoError(t, err)
	return st
}

func TestQueuePriorityThenFIFO(t *testing.T) {
	e := newQenv(t)
	for _, j := range []struct {
		prio int
		name string
	}{{1, "low-a"}, {7, "high-a"}, {0, "zero"}, {1, "low-b"}, {store.MaxPriority, "max"}, {7, "high-b"}} {
		e.put(t, store.QueuePolicy{}, store.NewJob{Priority: j.prio, Payload: []byte(j.name)})
	}
	var got []string
	for range 6 {
		l := e.take(t, time.Minute)
		got = append(got, string(l.Payload))
		assert.Equal(t, 1, l.Attempt)
		assert.Equal(t, queueStart, l.EnqueuedAt.UTC())
		assert.Equal(t, queueStart.Add(time.Minute), l.Deadline.UTC())
	}
	assert.Equal(t, []string{"max", "high-a", "high-b", "low-a", "low-b", "zero"}, got)
	e.none(t)
}

func TestQueueIDs(t *testing.T) {
	e := newQenv(t)
	seen := map[string]bool{}
	for range 50 {
		id := e.put(t, store.QueuePolicy{}, store.NewJob{})
		require.NotEmpty(t, id)
		require.False(t, seen[id], "id %q twice", id)
		seen[id] = true
	}
	require.Equal(t, "given", e.put(t, store.QueuePolicy{}, store.NewJob{ID: "given"}))
	_, _, err := e.s.Enqueue(e.ctx, e.q, store.QueuePolicy{}, store.NewJob{ID: "given"})
	require.ErrorIs(t, err, store.ErrInvalid)
	assert.Contains(t, err.Error(), `"given"`)
}

func TestQueueReapReturnsToTheFront(t *testing.T) {
	e := newQenv(t)
	for _, n := range []string{"a", "b", "c"} {
		e.put(t, store.QueuePolicy{}, store.NewJob{Priority: 3, Payload: []byte(n)})
	}
	e.put(t, store.QueuePolicy{}, store.NewJob{Priority: 9, Payload: []byte("urgent")})
	require.Equal(t, "urgent", string(e.take(t, 10*time.Second).Payload))
	b := e.take(t, 5*time.Second)
	require.Equal(t, "a", string(b.Payload))
	b = e.take(t, 5*time.Second)
	require.Equal(t, "b", string(b.Payload))

	e.clk.Advance(5*time.Second - time.Microsecond)
	n, err := e.s.Reap(e.ctx, e.q)
	require.NoError(t, err)
	require.Equal(t, 0, n, "no lease has run out yet")
	e.clk.Advance(time.Microsecond)
	n, err = e.s.Reap(e.ctx, e.q)
	require.NoError(t, err)
	require.Equal(t, 2, n, "a's and b's leases end now")
	assert.Equal(t, store.QueueStats{Ready: map[int]int{3: 3}, InFlight: 1}, e.stats(t))

	e.put(t, store.QueuePolicy{}, store.NewJob{Priority: 3, Payload: []byte("d")})
	var got []string
	for range 4 {
		l := e.take(t, time.Minute)
		got = append(got, string(l.Payload))
		if l.Payload[0] == 'a' || l.Payload[0] == 'b' {
			assert.Equal(t, 2, l.Attempt, "job %s", l.Payload)
		}
	}
	assert.Equal(t, []string{"a", "b", "c", "d"}, got, "reaped jobs ahead of their priority, in enqueue order")
}

func TestQueueReapManyLeases(t *testing.T) {
	e := newQenv(t)
	const n = 250 // more than one script call returns
	p := store.QueuePolicy{MaxLen: n}
	for range n {
		e.put(t, p, store.NewJob{})
	}
	for range n {
		e.take(t, time.Second)
	}
	e.clk.Advance(time.Second)
	got, err := e.s.Reap(e.ctx, e.q)
	require.NoError(t, err)
	require.Equal(t, n, got)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{0: n}}, e.stats(t))
}

// TestQueuePromotesEveryDueJob makes more delayed jobs due at once than one script call
// promotes: the job handed out is still the best of all of them.
func TestQueuePromotesEveryDueJob(t *testing.T) {
	e := newQenv(t)
	const n = 250
	p := store.QueuePolicy{MaxLen: n + 1}
	for i := range n {
		e.put(t, p, store.NewJob{Delay: time.Duration(i+1) * time.Millisecond})
	}
	id := e.put(t, p, store.NewJob{Priority: 9, Delay: time.Second, Payload: []byte("best, due last")})
	e.none(t)
	e.clk.Advance(time.Second)
	l := e.take(t, time.Minute)
	require.Equal(t, id, l.ID)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{0: n}, InFlight: 1}, e.stats(t))
}

func TestQueueFencing(t *testing.T) {
	e := newQenv(t)
	id := e.put(t, store.QueuePolicy{}, store.NewJob{Payload: []byte("x")})
	old := e.take(t, time.Second)
	e.clk.Advance(time.Second)
	n, err := e.s.Reap(e.ctx, e.q)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	cur := e.take(t, time.Minute)
	require.Equal(t, id, cur.ID)
	require.Greater(t, cur.Token, old.Token)

	_, err = e.s.Extend(e.ctx, e.q, id, old.Token, time.Minute)
	require.ErrorIs(t, err, store.ErrLeaseLost)
	require.ErrorIs(t, e.s.Ack(e.ctx, e.q, store.QueuePolicy{}, id, old.Token, []byte("stale")), store.ErrLeaseLost)
	require.ErrorIs(t, e.s.Retry(e.ctx, e.q, id, old.Token, e.clk.Now(), "stale"), store.ErrLeaseLost)
	require.ErrorIs(t, e.s.Bury(e.ctx, e.q, store.QueuePolicy{}, id, old.Token, "stale"), store.ErrLeaseLost)
	_, err = e.s.Extend(e.ctx, e.q, "no-such-job", cur.Token, time.Minute)
	require.ErrorIs(t, err, store.ErrLeaseLost)

	e.clk.Advance(30 * time.Second)
	dl, err := e.s.Extend(e.ctx, e.q, id, cur.Token, time.Minute)
	require.NoError(t, err)
	assert.Equal(t, e.clk.Now().Add(time.Minute), dl.In(time.UTC))
	e.clk.Advance(59 * time.Second)
	n, err = e.s.Reap(e.ctx, e.q)
	require.NoError(t, err)
	require.Equal(t, 0, n, "the extended lease still runs")

	require.NoError(t, e.s.Ack(e.ctx, e.q, store.QueuePolicy{}, id, cur.Token, []byte("done")))
	require.NoError(t, e.s.Ack(e.ctx, e.q, store.QueuePolicy{}, id, cur.Token, []byte("again")), "the same ack again")
	require.ErrorIs(t, e.s.Ack(e.ctx, e.q, store.QueuePolicy{}, id, old.Token, nil), store.ErrLeaseLost)
	require.ErrorIs(t, e.s.Bury(e.ctx, e.q, store.QueuePolicy{}, id, cur.Token, "late"), store.ErrLeaseLost)
	require.ErrorIs(t, e.s.Retry(e.ctx, e.q, id, cur.Token, e.clk.Now(), "late"), store.ErrLeaseLost)
	r, err := e.s.Result(e.ctx, e.q, id)
	require.NoError(t, err)
	assert.Equal(t, store.Result{ID: id, Body: []byte("done"), Attempts: 2}, r)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{}}, e.stats(t))
}

func TestQueueResultExpires(t *testing.T) {
	e := newQenv(t)
	p := store.QueuePolicy{ResultTTL: time.Hour}
	id := e.put(t, p, store.NewJob{})
	l := e.take(t, time.Minute)
	require.NoError(t, e.s.Ack(e.ctx, e.q, p, id, l.Token, nil))
	e.clk.Advance(time.Hour - time.Microsecond)
	r, err := e.s.Result(e.ctx, e.q, id)
	require.NoError(t, err)
	assert.Nil(t, r.Body)
	require.NoError(t, e.s.Ack(e.ctx, e.q, p, id, l.Token, nil), "the same ack, while its result lasts")
	e.clk.Advance(time.Microsecond)
	_, err = e.s.Result(e.ctx, e.q, id)
	require.ErrorIs(t, err, store.ErrNotFound)
	require.ErrorIs(t, e.s.Ack(e.ctx, e.q, p, id, l.Token, nil), store.ErrLeaseLost, "the result, and with it the ack, is forgotten")
}

func TestQueueDelayAndRetryAt(t *testing.T) {
	e := newQenv(t)
	id := e.put(t, store.QueuePolicy{}, store.NewJob{Priority: 2, Delay: 10 * time.Second, Payload: []byte("later")})
	e.none(t)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{}, Delayed: 1}, e.stats(t))
	e.clk.Advance(10*time.Second - time.Microsecond)
	e.none(t)
	e.clk.Advance(time.Microsecond)
	l := e.take(t, time.Minute)
	require.Equal(t, id, l.ID)

	require.NoError(t, e.s.Retry(e.ctx, e.q, id, l.Token, e.clk.Now().Add(5*time.Second), "HTTP 503"))
	assert.Equal(t, store.QueueStats{Ready: map[int]int{}, Delayed: 1}, e.stats(t))
	e.none(t)
	e.clk.Advance(5 * time.Second)
	l = e.take(t, time.Minute)
	assert.Equal(t, 2, l.Attempt)
	assert.Equal(t, "HTTP 503", l.LastError)
	assert.Equal(t, 2, l.Priority)

	// A time already past: ready at once, in its original place.
	e.put(t, store.QueuePolicy{}, store.NewJob{Priority: 2, Payload: []byte("newer")})
	require.NoError(t, e.s.Retry(e.ctx, e.q, id, l.Token, time.Time{}, ""))
	assert.Equal(t, store.QueueStats{Ready: map[int]int{2: 2}}, e.stats(t))
	l = e.take(t, time.Minute)
	assert.Equal(t, id, l.ID)
	assert.Equal(t, 3, l.Attempt)
	assert.Empty(t, l.LastError)
}

func TestQueueDeadCapAndRequeue(t *testing.T) {
	e := newQenv(t)
	p := store.QueuePolicy{MaxDead: 2}
	var ids []string
	for _, n := range []string{"a", "b", "c"} {
		ids = append(ids, e.put(t, p, store.NewJob{Priority: 4, Payload: []byte(n)}))
	}
	for i := range 3 {
		l := e.take(t, time.Minute)
		require.NoError(t, e.s.Bury(e.ctx, e.q, p, l.ID, l.Token, "gave up on "+string(l.Payload)))
		e.clk.Advance(time.Duration(i) * time.Second)
	}
	dead, err := e.s.Dead(e.ctx, e.q, 10)
	require.NoError(t, err)
	require.Len(t, dead, 2, "the oldest dead job is dropped")
	assert.Equal(t, store.Job{ID: ids[1], Priority: 4, Payload: []byte("b"), Attempt: 1, EnqueuedAt: queueStart,
		LastError: "gave up on b"}, withUTC(dead[0]))
	assert.Equal(t, ids[2], dead[1].ID)
	dead, err = e.s.Dead(e.ctx, e.q, 1)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, ids[1], dead[0].ID, "oldest first")
	dead, err = e.s.Dead(e.ctx, e.q, 0)
	require.NoError(t, err)
	assert.Empty(t, dead)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{}, Dead: 2}, e.stats(t))

	r, err := e.s.Result(e.ctx, e.q, ids[0])
	require.NoError(t, err, "a dropped dead job's result stays until it expires")
	assert.Equal(t, store.Result{ID: ids[0], Dead: true, Reason: "gave up on a", Attempts: 1}, r)
	require.ErrorIs(t, e.s.Requeue(e.ctx, e.q, p, ids[0]), store.ErrNotFound)

	require.NoError(t, e.s.Requeue(e.ctx, e.q, p, ids[1]))
	require.ErrorIs(t, e.s.Requeue(e.ctx, e.q, p, ids[1]), store.ErrNotFound, "requeued already")
	_, err = e.s.Result(e.ctx, e.q, ids[1])
	require.ErrorIs(t, err, store.ErrNotFound)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{4: 1}, Dead: 1}, e.stats(t))
	l := e.take(t, time.Minute)
	assert.Equal(t, ids[1], l.ID)
	assert.Equal(t, 1, l.Attempt, "attempts start again")
	assert.Equal(t, "gave up on b", l.LastError)
	_, _, err = e.s.Enqueue(e.ctx, e.q, p, store.NewJob{ID: ids[2]})
	require.ErrorIs(t, err, store.ErrInvalid, "a dead job's id is in use")
	e.put(t, p, store.NewJob{ID: ids[0]}) // a dropped one's is not
}

func withUTC(j store.Job) store.Job {
	j.EnqueuedAt = j.EnqueuedAt.UTC()
	return j
}

func TestQueueIdempotentEnqueue(t *testing.T) {
	e := newQenv(t)
	p := store.QueuePolicy{IdempotencyTTL: time.Minute}
	id := e.put(t, p, store.NewJob{IdempotencyKey: "order-1", Payload: []byte("first")})
	again, existed, err := e.s.Enqueue(e.ctx, e.q, p, store.NewJob{IdempotencyKey: "order-1", Payload: []byte("second")})
	require.NoError(t, err)
	assert.True(t, existed)
	assert.Equal(t, id, again)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{0: 1}}, e.stats(t))

	l := e.take(t, time.Minute)
	require.NoError(t, e.s.Ack(e.ctx, e.q, p, l.ID, l.Token, nil))
	e.clk.Advance(time.Minute - time.Microsecond)
	again, existed, err = e.s.Enqueue(e.ctx, e.q, p, store.NewJob{IdempotencyKey: "order-1"})
	require.NoError(t, err)
	assert.True(t, existed, "the key outlives the job")
	assert.Equal(t, id, again)
	e.clk.Advance(time.Microsecond)
	fresh := e.put(t, p, store.NewJob{IdempotencyKey: "order-1"})
	assert.NotEqual(t, id, fresh)
}

func TestQueueMaxLen(t *testing.T) {
	e := newQenv(t)
	p := store.QueuePolicy{MaxLen: 3}
	e.put(t, p, store.NewJob{})
	e.put(t, p, store.NewJob{Delay: time.Hour})
	e.put(t, p, store.NewJob{IdempotencyKey: "k"})
	_, _, err := e.s.Enqueue(e.ctx, e.q, p, store.NewJob{})
	require.ErrorIs(t, err, store.ErrQueueFull)
	_, existed, err := e.s.Enqueue(e.ctx, e.q, p, store.NewJob{IdempotencyKey: "k"})
	require.NoError(t, err, "an idempotent repeat adds nothing, so a full queue does not refuse it")
	require.True(t, existed)

	l := e.take(t, time.Minute)
	_, _, err = e.s.Enqueue(e.ctx, e.q, p, store.NewJob{})
	require.ErrorIs(t, err, store.ErrQueueFull, "a job in flight still counts")
	require.NoError(t, e.s.Bury(e.ctx, e.q, p, l.ID, l.Token, "no"))
	e.put(t, p, store.NewJob{}) // a dead one does not

	_, _, err = e.s.Enqueue(e.ctx, e.q, store.QueuePolicy{MaxPayload: 4}, store.NewJob{Payload: []byte("12345")})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, _, err = e.s.Enqueue(e.ctx, e.q, p, store.NewJob{Priority: store.MaxPriority + 1})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, _, err = e.s.Enqueue(e.ctx, e.q, p, store.NewJob{Priority: -1})
	require.ErrorIs(t, err, store.ErrInvalid)
	_, _, err = e.s.Dequeue(e.ctx, e.q, 0)
	require.ErrorIs(t, err, store.ErrInvalid)
	_, _, err = e.s.Enqueue(e.ctx, "", p, store.NewJob{})
	require.ErrorIs(t, err, store.ErrInvalid)
}

func TestQueueStatsByPriority(t *testing.T) {
	e := newQenv(t)
	for _, prio := range []int{0, 5, 5, store.MaxPriority, 5} {
		e.put(t, store.QueuePolicy{}, store.NewJob{Priority: prio})
	}
	e.put(t, store.QueuePolicy{}, store.NewJob{Priority: 5, Delay: time.Second})
	assert.Equal(t, store.QueueStats{Ready: map[int]int{0: 1, 5: 3, store.MaxPriority: 1}, Delayed: 1}, e.stats(t))
	e.take(t, time.Minute)
	e.take(t, time.Minute)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{0: 1, 5: 2}, InFlight: 2, Delayed: 1}, e.stats(t))
	e.clk.Advance(time.Second)
	e.take(t, time.Minute) // promotes the delayed job, takes a 5
	assert.Equal(t, store.QueueStats{Ready: map[int]int{0: 1, 5: 2}, InFlight: 3}, e.stats(t))
}

func TestQueueKeysShareOneHashTag(t *testing.T) {
	clk := clock.NewFake(queueStart)
	rdb := newClient(t)
	s := storeOn(t, rdb, clk)
	ctx := t.Context()
	q := "api.example.com"
	p := store.QueuePolicy{}
	_, _, err := s.Enqueue(ctx, q, p, store.NewJob{IdempotencyKey: "k", Payload: []byte("x")})
	require.NoError(t, err)
	// A payload too large for its meta entry goes to the payload hash.
	_, _, err = s.Enqueue(ctx, q, p, store.NewJob{Delay: time.Hour, Payload: make([]byte, 9<<10)})
	require.NoError(t, err)
	l, _, err := s.Dequeue(ctx, q, time.Minute)
	require.NoError(t, err)
	require.NoError(t, s.Ack(ctx, q, p, l.ID, l.Token, []byte("ok")))
	_, _, err = s.Enqueue(ctx, q, p, store.NewJob{})
	require.NoError(t, err)
	l, _, err = s.Dequeue(ctx, q, time.Minute)
	require.NoError(t, err)
	require.NoError(t, s.Bury(ctx, q, p, l.ID, l.Token, "no"))
	_, _, err = s.Enqueue(ctx, q, p, store.NewJob{})
	require.NoError(t, err)
	_, _, err = s.Dequeue(ctx, q, time.Minute)
	require.NoError(t, err)

	prefix := testPrefix(t)
	keys := keysUnder(t, rdb, prefix)
	require.NotEmpty(t, keys)
	for _, k := range keys {
		require.True(t, strings.HasPrefix(k, prefix+":{q:"+q+"}:"), "key %q", k)
	}
	for _, part := range []string{"meta", "payload", "inflight", "delayed", "dead", "ctr", "wake", "idem:k"} {
		assert.Contains(t, keys, prefix+":{q:"+q+"}:"+part)
	}
}

// TestQueueRedisTime runs leases, delays and expiries on Redis TIME (no clock override), served
// by a miniredis whose time and TTLs follow a fake clock.
func TestQueueRedisTime(t *testing.T) {
	mr := miniredis.RunT(t)
	clk := clock.NewFake(queueStart)
	mr.SetTime(clk.Now())
	mr.ClockTTL(true)
	advance := func(d time.Duration) {
		clk.Advance(d)
		mr.SetTime(clk.Now())
	}
	s := storeOn(t, miniClient(t, mr), nil)
	ctx, q := t.Context(), "timed"
	p := store.QueuePolicy{ResultTTL: time.Minute, IdempotencyTTL: time.Minute}

	id, _, err := s.Enqueue(ctx, q, p, store.NewJob{IdempotencyKey: "k", Delay: time.Second})
	require.NoError(t, err)
	_, ok, err := s.Dequeue(ctx, q, time.Second)
	require.NoError(t, err)
	require.False(t, ok)
	advance(time.Second)
	l, ok, err := s.Dequeue(ctx, q, 2*time.Second)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, queueStart, l.EnqueuedAt.UTC())
	assert.Equal(t, queueStart.Add(3*time.Second), l.Deadline.UTC())
	advance(2 * time.Second)
	n, err := s.Reap(ctx, q)
	require.NoError(t, err)
	require.Equal(t, 1, n)
	l, ok, err = s.Dequeue(ctx, q, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.NoError(t, s.Ack(ctx, q, p, id, l.Token, []byte("r")))
	advance(time.Minute - 3*time.Second - time.Millisecond)
	_, existed, err := s.Enqueue(ctx, q, p, store.NewJob{IdempotencyKey: "k"})
	require.NoError(t, err)
	require.True(t, existed)
	_, err = s.Result(ctx, q, id)
	require.NoError(t, err)
	advance(time.Minute)
	_, err = s.Result(ctx, q, id)
	require.ErrorIs(t, err, store.ErrNotFound)
	_, existed, err = s.Enqueue(ctx, q, p, store.NewJob{IdempotencyKey: "k"})
	require.NoError(t, err)
	require.False(t, existed)
}

func TestQueueWaitReady(t *testing.T) {
	e := newQenv(t)

	t.Run("TimesOut", func(t *testing.T) {
		start := time.Now()
		require.NoError(t, e.s.WaitReady(e.ctx, e.q, 300*time.Millisecond))
		took := time.Since(start)
		assert.GreaterOrEqual(t, took, 300*time.Millisecond)
		assert.Less(t, took, 900*time.Millisecond, "a timeout under a second is kept, not rounded up")
	})

	t.Run("WakesOnEnqueue", func(t *testing.T) {
		done := make(chan error, 1)
		start := time.Now()
		go func() { done <- e.s.WaitReady(e.ctx, e.q, time.Minute) }()
		time.Sleep(200 * time.Millisecond)
		e.put(t, store.QueuePolicy{}, store.NewJob{})
		select {
		case err := <-done:
			require.NoError(t, err)
			assert.Less(t, time.Since(start), 5*time.Second)
		case <-time.After(10 * time.Second):
			t.Fatal("WaitReady did not wake on enqueue")
		}
	})

	t.Run("ReadyAtOnce", func(t *testing.T) {
		start := time.Now()
		require.NoError(t, e.s.WaitReady(e.ctx, e.q, time.Minute))
		assert.Less(t, time.Since(start), time.Second)
		e.take(t, time.Minute)
	})

	t.Run("OneJobWakesOneWorker", func(t *testing.T) {
		const workers = 3
		woke := make(chan error, workers)
		ctx, cancel := context.WithCancel(e.ctx)
		defer cancel()
		for range workers {
			go func() { woke <- e.s.WaitReady(ctx, e.q, time.Minute) }()
		}
		time.Sleep(300 * time.Millisecond)
		e.put(t, store.QueuePolicy{}, store.NewJob{})
		require.NoError(t, <-woke)
		select {
		case err := <-woke:
			t.Fatalf("a second worker woke for one job: %v", err)
		case <-time.After(1500 * time.Millisecond):
		}
		cancel()
		for range workers - 1 {
			require.ErrorIs(t, <-woke, context.Canceled)
		}
		e.take(t, time.Minute)
	})

	t.Run("HonoursContext", func(t *testing.T) {
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() { done <- e.s.WaitReady(ctx, e.q, time.Hour) }()
		time.Sleep(100 * time.Millisecond)
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			require.ErrorIs(t, err, context.Canceled)
			assert.Less(t, time.Since(start), 200*time.Millisecond)
		case <-time.After(5 * time.Second):
			t.Fatal("WaitReady ignored its context")
		}
		dctx, dcancel := context.WithTimeout(e.ctx, 150*time.Millisecond)
		defer dcancel()
		err := e.s.WaitReady(dctx, e.q, time.Hour)
		require.ErrorIs(t, err, context.DeadlineExceeded)
	})

	t.Run("MarkerOfAnAbandonedWaitIsHandedOn", func(t *testing.T) {
		ctx, cancel := context.WithCancel(e.ctx)
		done := make(chan error, 1)
		go func() { done <- e.s.WaitReady(ctx, e.q, time.Hour) }()
		time.Sleep(100 * time.Millisecond)
		cancel()
		require.ErrorIs(t, <-done, context.Canceled)
		// The abandoned BLPOP may still be blocked: the marker this enqueue leaves must reach
		// the next waiter all the same.
		e.put(t, store.QueuePolicy{}, store.NewJob{Delay: time.Hour})
		start := time.Now()
		require.NoError(t, e.s.WaitReady(e.ctx, e.q, 10*time.Second))
		assert.Less(t, time.Since(start), 3*time.Second)
	})
}

// TestQueueWaitReadyOutlastsReadTimeout blocks longer than the client's ReadTimeout: go-redis
// extends a blocking command's read deadline by its block time.
func TestQueueWaitReadyOutlastsReadTimeout(t *testing.T) {
	var o *goredis.Options
	if url := redisURL(t); url != "" {
		var err error
		o, err = goredis.ParseURL(url)
		require.NoError(t, err)
	} else {
		o = &goredis.Options{Addr: miniredis.RunT(t).Addr()}
	}
	o.ReadTimeout = 100 * time.Millisecond
	o.ContextTimeoutEnabled = true
	rdb := goredis.NewClient(o)
	t.Cleanup(func() { _ = rdb.Close() })
	s := storeOn(t, rdb, clock.NewFake(queueStart))
	ctx, q := t.Context(), "slow"

	start := time.Now()
	require.NoError(t, s.WaitReady(ctx, q, 1500*time.Millisecond))
	assert.GreaterOrEqual(t, time.Since(start), 1500*time.Millisecond)

	done := make(chan error, 1)
	go func() { done <- s.WaitReady(ctx, q, 10*time.Second) }()
	time.Sleep(1200 * time.Millisecond)
	_, _, err := s.Enqueue(ctx, q, store.QueuePolicy{}, store.NewJob{})
	require.NoError(t, err)
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(5 * time.Second):
		t.Fatal("WaitReady did not wake")
	}
}

func TestQueueClosed(t *testing.T) {
	e := newQenv(t)
	require.NoError(t, e.s.Close())
	_, _, err := e.s.Enqueue(e.ctx, e.q, store.QueuePolicy{}, store.NewJob{})
	require.ErrorIs(t, err, store.ErrClosed)
	_, _, err = e.s.Dequeue(e.ctx, e.q, time.Second)
	require.ErrorIs(t, err, store.ErrClosed)
	require.ErrorIs(t, e.s.WaitReady(e.ctx, e.q, time.Second), store.ErrClosed)
}

// TestQueueConcurrentWorkers drains a queue with several workers at once, each acking a job then
// dequeueing the next, or doing both in one AckDequeue: every job is handed out and acked exactly
// once while no lease runs out, and its result is kept.
func TestQueueConcurrentWorkers(t *testing.T) {
	for _, both := range []bool{false, true} {
		t.Run(map[bool]string{false: "Ack", true: "AckDequeue"}[both], func(t *testing.T) {
			e := newQenv(t)
			const jobs, workers = 300, 8
			p := store.QueuePolicy{ResultTTL: time.Hour}
			for range jobs {
				e.put(t, p, store.NewJob{})
			}
			var (
				mu   sync.Mutex
				seen = map[string]int{}
				errs []error
				wg   sync.WaitGroup
			)
			for range workers {
				wg.Go(func() {
					l, ok, err := e.s.Dequeue(e.ctx, e.q, time.Minute)
					for err == nil && ok {
						id, acked := l.ID, false
						if both {
							l, ok, err = e.s.AckDequeue(e.ctx, e.q, p, id, l.Token, []byte(id), time.Minute)
							acked = !errors.As(err, new(*store.AckError))
						} else if err = e.s.Ack(e.ctx, e.q, p, id, l.Token, []byte(id)); err == nil {
							acked = true
							l, ok, err = e.s.Dequeue(e.ctx, e.q, time.Minute)
						}
						if acked {
							mu.Lock()
							seen[id]++
							mu.Unlock()
						}
					}
					mu.Lock()
					errs = append(errs, err)
					mu.Unlock()
				})
			}
			wg.Wait()
			require.NoError(t, errors.Join(errs...))
			require.Len(t, seen, jobs)
			for id, n := range seen {
				require.Equal(t, 1, n, "job %q", id)
				r, err := e.s.Result(e.ctx, e.q, id)
				require.NoError(t, err)
				require.Equal(t, id, string(r.Body))
			}
			assert.Equal(t, store.QueueStats{Ready: map[int]int{}}, e.stats(t))
		})
	}
}
