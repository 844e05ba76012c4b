package queue_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/queue"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// retryRecorder notes when the worker asks for each job's next attempt.
type retryRecorder struct {
	store.Queues
	at chan time.Time
}

func (r *retryRecorder) Retry(ctx context.Context, queue, id string, token int64, at time.Time, lastErr string) error {
	select {
	case r.at <- at:
	default: // only the first is looked at
	}
	return r.Queues.Retry(ctx, queue, id, token, at, lastErr)
}

func TestAHandlersErrorThatNamesAWaitDelaysTheRetry(t *testing.T) {
	st := memory.New(memory.Options{})
	rec := &retryRecorder{Queues: st, at: make(chan time.Time, 1)}
	refused := &client.RateLimitError{Key: "api", RetryAfter: time.Hour}
	w, err := queue.NewWorker(rec, queue.WorkerConfig{Queue: "api", RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond},
		func(context.Context, store.Lease) ([]byte, error) { return nil, refused })
	require.NoError(t, err)
	p, err := queue.NewProducer(st, queue.ProducerConfig{Upstreams: map[string]queue.Rules{"api": {}}})
	require.NoError(t, err)
	_, err = p.Enqueue(context.Background(), queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/x"}, queue.Options{})
	require.NoError(t, err)
	asked := time.Now()
	runWorker(t, w)

	select {
	case at := <-rec.at:
		assert.GreaterOrEqual(t, at.Sub(asked), time.Hour, "the limiter's wait, not the 5 ms backoff")
	case <-time.After(10 * time.Second):
		t.Fatal("the job was not retried")
	}
}
