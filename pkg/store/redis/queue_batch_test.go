package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

// TestEnqueueBatchAfterScriptFlush sends a batch to a server that forgot the scripts: every
// script call of the pipeline is refused (NOSCRIPT) and run again on its own, and each job is
// still answered on its own. The batch's per-job semantics are storetest's (EnqueueBatch*).
func TestEnqueueBatchAfterScriptFlush(t *testing.T) {
	s := newStore(t, nil)
	ctx := context.Background()
	require.NoError(t, s.Client().ScriptFlush(ctx).Err())

	p := store.QueuePolicy{MaxLen: 5}
	jobs := []store.NewJob{
		{ID: "a", Priority: 1, Payload: []byte("1")},
		{ID: "b", Priority: 9, Payload: []byte("2")},
		{ID: "a", Payload: []byte("dup")},           // duplicate id: this one fails alone
		{Priority: -1},                              // invalid: this one fails alone
		{IdempotencyKey: "k", Payload: []byte("3")}, // a script call of its own
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
