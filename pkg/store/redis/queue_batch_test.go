package redis_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

// The producer pipelines batches through this.
var _ store.BatchEnqueuer = (*weirredis.Store)(nil)

func TestEnqueueBatchIsPipelinedAndPerJob(t *testing.T) {
	s := newStore(t, nil)
	ctx := context.Background()
	// A server that forgot the scripts: the batch still goes through.
	require.NoError(t, s.Client().ScriptFlush(ctx).Err())

	p := store.QueuePolicy{MaxLen: 5}
	jobs := []store.NewJob{
		{ID: "a", Priority: 1, Payload: []byte("1")},
		{ID: "b", Priority: 9, Payload: []byte("2")},
		{ID: "a", Payload: []byte("dup")},           // duplicate id: this one fails alone
		{Priority: -1},                              // invalid: this one fails alone
		{IdempotencyKey: "k", Payload: []byte("3")}, // assigned id
		{IdempotencyKey: "k", Payload: []byte("4")}, // same key: the same job
	}
	for i := range 4 {
		jobs = append(jobs, store.NewJob{ID: fmt.Sprintf("fill-%d", i)})
	}
	res, err := s.EnqueueBatch(ctx, "batch", p, jobs)
	require.NoError(t, err)
	require.Len(t, res, len(jobs))
	assert.Equal(t, "a", res[0].ID)
	assert.Equal(t, "b", res[1].ID)
	assert.ErrorIs(t, res[2].Err, store.ErrInvalid)
	assert.ErrorIs(t, res[3].Err, store.ErrInvalid)
	require.NoError(t, res[4].Err)
	assert.NotEmpty(t, res[4].ID)
	assert.Equal(t, res[4].ID, res[5].ID)
	assert.True(t, res[5].Existed)
	// a, b, the keyed job, fill-0, fill-1: then the queue is full.
	assert.NoError(t, res[6].Err)
	assert.NoError(t, res[7].Err)
	assert.ErrorIs(t, res[8].Err, store.ErrQueueFull)
	assert.ErrorIs(t, res[9].Err, store.ErrQueueFull)

	l, ok, err := s.Dequeue(ctx, "batch", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	assert.Equal(t, "b", l.ID, "priority order holds across a batch")
}

// TestEnqueueBatchIDs mixes, in one script call, ids of the caller's choosing (one held already,
// one repeated in the batch) with ids the store assigns, and payloads in the meta entry with one
// too large for it: only the ids of the caller's choosing can be taken.
func TestEnqueueBatchIDs(t *testing.T) {
	s := newStore(t, nil)
	ctx := context.Background()
	p := store.QueuePolicy{}
	_, _, err := s.Enqueue(ctx, "ids", p, store.NewJob{ID: "held", Payload: []byte("first")})
	require.NoError(t, err)
	big := bytes.Repeat([]byte("x"), 9<<10)
	jobs := []store.NewJob{
		{Payload: []byte("assigned")},
		{ID: "held", Payload: []byte("second")}, // held already
		{ID: "new", Payload: big},
		{Payload: big},
		{ID: "new", Payload: []byte("again")}, // repeated in the batch
		{ID: "held-not", Payload: []byte("mine")},
	}
	res, err := s.EnqueueBatch(ctx, "ids", p, jobs)
	require.NoError(t, err)
	want := map[string][]byte{}
	for i, r := range res {
		switch i {
		case 1, 4:
			require.ErrorIs(t, r.Err, store.ErrInvalid, "job %d", i)
			require.ErrorContains(t, r.Err, "already in use", "job %d", i)
		default:
			require.NoError(t, r.Err, "job %d", i)
			require.NotEmpty(t, r.ID)
			want[r.ID] = jobs[i].Payload
		}
	}
	assert.Equal(t, "new", res[2].ID)
	assert.Equal(t, "held-not", res[5].ID)
	assert.NotEqual(t, res[0].ID, res[3].ID)
	want["held"] = []byte("first")
	got := map[string][]byte{}
	for range want {
		l, ok, err := s.Dequeue(ctx, "ids", time.Minute)
		require.NoError(t, err)
		require.True(t, ok)
		got[l.ID] = l.Payload
	}
	assert.Equal(t, want, got)
	_, ok, err := s.Dequeue(ctx, "ids", time.Minute)
	require.NoError(t, err)
	assert.False(t, ok)
}

// TestEnqueueBatchBounds checks a batch's jobs as Enqueue checks one: a job id, an idempotency
// key or a delay out of bounds fails that job alone; a bad queue name fails the whole batch.
func TestEnqueueBatchBounds(t *testing.T) {
	s := newStore(t, nil)
	ctx := context.Background()
	p := store.QueuePolicy{}
	jobs := []store.NewJob{
		{ID: "a}:ready", Payload: []byte("1")},
		{IdempotencyKey: "k\n", Payload: []byte("2")},
		{IdempotencyKey: string(bytes.Repeat([]byte("k"), 8<<20)), Payload: []byte("3")},
		{Delay: store.MaxDelay + time.Nanosecond, Payload: []byte("4")},
		{ID: "ok", Payload: []byte("5")},
	}
	res, err := s.EnqueueBatch(ctx, "bounds", p, jobs)
	require.NoError(t, err)
	require.Len(t, res, len(jobs))
	for i, what := range []string{"job id", "idempotency key", "idempotency key", "delay"} {
		require.ErrorIs(t, res[i].Err, store.ErrInvalid, "job %d", i)
		require.ErrorContains(t, res[i].Err, what, "job %d", i)
	}
	require.NoError(t, res[4].Err)
	st, err := s.QueueStats(ctx, "bounds")
	require.NoError(t, err)
	assert.Equal(t, store.QueueStats{Ready: map[int]int{0: 1}}, st)

	_, err = s.EnqueueBatch(ctx, "x}:idem:k", p, jobs[4:])
	require.ErrorIs(t, err, store.ErrInvalid)
	require.ErrorContains(t, err, "queue name")
}
