package redis_test

import (
	"math"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

var _ store.AckDequeuer = (*weirredis.Store)(nil)

// TestQueueAckDequeue checks that AckDequeue does what Ack then Dequeue would: the ack fenced by
// its token and kept apart from the lease, the lease the best ready job.
func TestQueueAckDequeue(t *testing.T) {
	e := newQenv(t)
	p := store.QueuePolicy{ResultTTL: time.Hour}
	low := e.put(t, p, store.NewJob{Payload: []byte("low")})
	first := e.put(t, p, store.NewJob{Priority: 5, Payload: []byte("first")})
	second := e.put(t, p, store.NewJob{Priority: 5, Payload: []byte("second")})

	l := e.take(t, time.Minute)
	require.Equal(t, first, l.ID)
	next, ok, err := e.s.AckDequeue(e.ctx, e.q, p, l.ID, l.Token, []byte("one"), 2*time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, second, next.ID)
	assert.Equal(t, "second", string(next.Payload))
	assert.Equal(t, 1, next.Attempt)
	assert.Greater(t, next.Token, l.Token)
	assert.Equal(t, e.clk.Now().Add(2*time.Minute), next.Deadline.In(time.UTC))
	r, err := e.s.Result(e.ctx, e.q, first)
	require.NoError(t, err)
	assert.Equal(t, store.Result{ID: first, Body: []byte("one"), Attempts: 1}, r)

	// A stale token: the ack fails as Ack would, and the lease is handed out all the same.
	last, ok, err := e.s.AckDequeue(e.ctx, e.q, p, second, next.Token+1, nil, time.Minute)
	var ackErr *store.AckError
	require.ErrorAs(t, err, &ackErr)
	require.ErrorIs(t, err, store.ErrLeaseLost)
	require.True(t, ok)
	assert.Equal(t, low, last.ID)

	// The same ack twice is no error; nothing left to lease.
	_, ok, err = e.s.AckDequeue(e.ctx, e.q, p, second, next.Token, []byte("two"), time.Minute)
	require.NoError(t, err)
	require.False(t, ok)
	_, ok, err = e.s.AckDequeue(e.ctx, e.q, p, second, next.Token, []byte("again"), time.Minute)
	require.NoError(t, err)
	require.False(t, ok)
	r, err = e.s.Result(e.ctx, e.q, second)
	require.NoError(t, err)
	assert.Equal(t, []byte("two"), r.Body)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{}, InFlight: 1}, e.stats(t))

	// Bad input fails the whole call, naming the problem, and changes nothing.
	_, _, err = e.s.AckDequeue(e.ctx, e.q, p, last.ID, last.Token, nil, 0)
	require.ErrorAs(t, err, &ackErr)
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, "lease")
	_, _, err = e.s.AckDequeue(e.ctx, e.q, store.QueuePolicy{MaxDead: -1}, last.ID, last.Token, nil, time.Minute)
	require.ErrorAs(t, err, &ackErr)
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, "MaxDead")
	_, _, err = e.s.AckDequeue(e.ctx, "", p, last.ID, last.Token, nil, time.Minute)
	require.ErrorAs(t, err, &ackErr)
	require.ErrorIs(t, err, store.ErrInvalid)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{}, InFlight: 1}, e.stats(t))

	require.NoError(t, e.s.Close())
	_, _, err = e.s.AckDequeue(e.ctx, e.q, p, last.ID, last.Token, nil, time.Minute)
	require.ErrorAs(t, err, &ackErr)
	require.ErrorIs(t, err, store.ErrClosed)
}

// TestQueueAckDequeuePromotesEveryDueJob makes more delayed jobs due at once than one script call
// promotes: the job AckDequeue leases is still the best of them all.
func TestQueueAckDequeuePromotesEveryDueJob(t *testing.T) {
	e := newQenv(t)
	const n = 250
	p := store.QueuePolicy{MaxLen: n + 2}
	held := e.put(t, p, store.NewJob{})
	l := e.take(t, time.Minute)
	require.Equal(t, held, l.ID)
	for i := range n {
		e.put(t, p, store.NewJob{Delay: time.Duration(i+1) * time.Millisecond})
	}
	best := e.put(t, p, store.NewJob{Priority: 9, Delay: time.Second})
	e.clk.Advance(time.Second)
	next, ok, err := e.s.AckDequeue(e.ctx, e.q, p, l.ID, l.Token, nil, time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.Equal(t, best, next.ID)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{0: n}, InFlight: 1}, e.stats(t))
}

// TestQueueAckDequeueBounds gives AckDequeue a lease beyond store.MaxLease and a queue name no
// store accepts: the whole call fails, naming the problem, and the ack is not made.
func TestQueueAckDequeueBounds(t *testing.T) {
	e := newQenv(t)
	p := store.QueuePolicy{}
	e.put(t, p, store.NewJob{Payload: []byte("held")})
	e.put(t, p, store.NewJob{Payload: []byte("next")})
	l := e.take(t, time.Minute)
	for _, lease := range []time.Duration{store.MaxLease + time.Nanosecond, math.MaxInt64} {
		_, ok, err := e.s.AckDequeue(e.ctx, e.q, p, l.ID, l.Token, nil, lease)
		require.ErrorAs(t, err, new(*store.AckError))
		require.ErrorIs(t, err, store.ErrInvalid)
		require.ErrorContains(t, err, "lease")
		require.False(t, ok)
	}
	_, _, err := e.s.AckDequeue(e.ctx, e.q+"}:x", p, l.ID, l.Token, nil, time.Minute)
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, "queue name")
	assert.Equal(t, store.QueueStats{Ready: map[int]int{0: 1}, InFlight: 1}, e.stats(t))

	next, ok, err := e.s.AckDequeue(e.ctx, e.q, p, l.ID, l.Token, nil, store.MaxLease)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "next", string(next.Payload))
	assert.Equal(t, e.clk.Now().Add(store.MaxLease), next.Deadline.In(time.UTC))
}
