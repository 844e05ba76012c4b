package queue_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/queue"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// runWorker runs w until the test ends and returns a stop function that waits for Run to return.
func runWorker(t *testing.T, w *queue.Worker) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = w.Run(ctx)
	}()
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); <-done }) }
	t.Cleanup(stop)
	return stop
}

func TestWorkerDrainsThroughTheUpstreamClient(t *testing.T) {
	var mu sync.Mutex
	var auth []string
	var order []int
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		auth = append(auth, r.Header.Get("Authorization"))
		p, _ := strconv.Atoi(r.URL.Query().Get("p"))
		order = append(order, p)
		mu.Unlock()
		_, _ = w.Write([]byte("item " + r.URL.Path))
	}))
	defer srv.Close()

	st := memory.New(memory.Options{})
	rules := map[string]queue.Rules{"api": {}}
	p, err := queue.NewProducer(st, queue.ProducerConfig{Upstreams: rules})
	require.NoError(t, err)
	var items []queue.Item
	for i := range 60 {
		prio := []int{1, 5, 9}[i%3]
		items = append(items, queue.Item{
			Request: queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/v1/items/" + strconv.Itoa(i) + "?p=" + strconv.Itoa(prio)},
			Options: queue.Options{Priority: prio},
		})
	}
	tickets, errs, err := p.EnqueueBatch(context.Background(), items)
	require.NoError(t, err)
	for _, e := range errs {
		require.NoError(t, e)
	}

	// No job carries the credential: the worker's profile adds it.
	l, ok, err := st.Dequeue(context.Background(), "api", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	assert.NotContains(t, string(l.Payload), "s3cret")
	require.NoError(t, st.Retry(context.Background(), "api", l.ID, l.Token, time.Now().Add(-time.Second), ""))

	c, err := client.New(client.Config{Name: "api", Store: st, Limits: []store.Limit{store.PerSecond(1000)}})
	require.NoError(t, err)
	defer c.Close()
	base, _ := url.Parse(srv.URL)
	h := queue.HTTPHandler(&queue.Upstream{Name: "api", BaseURL: base, Client: c,
		Header: http.Header{"Authorization": {"Bearer s3cret"}}, Rules: rules["api"]})
	w, err := queue.NewWorker(st, queue.WorkerConfig{Queue: "api", Concurrency: 1}, h)
	require.NoError(t, err)
	runWorker(t, w)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for i, tk := range tickets {
		resp, err := tk.Wait(ctx)
		require.NoError(t, err)
		assert.Equal(t, http.StatusOK, resp.Status)
		assert.Equal(t, "item /v1/items/"+strconv.Itoa(i), string(resp.Body))
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range auth {
		assert.Equal(t, "Bearer s3cret", a)
	}
	// One worker goroutine, everything enqueued first: strict priority order.
	for i := 1; i < len(order); i++ {
		assert.GreaterOrEqual(t, order[i-1], order[i], "priority order at %d: %v", i, order)
	}
}

func TestFailingJobsAreRetriedThenBuried(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.WriteHeader(http.StatusBadGateway)
	}))
	defer srv.Close()
	st := memory.New(memory.Options{})
	c, err := client.New(client.Config{Name: "api", Store: st, Retry: client.RetryConfig{MaxRetries: client.NoRetries},
		Breaker: breaker.Config{Disabled: true}})
	require.NoError(t, err)
	defer c.Close()
	base, _ := url.Parse(srv.URL)
	w, err := queue.NewWorker(st, queue.WorkerConfig{Queue: "api", MaxAttempts: 3, RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond},
		queue.HTTPHandler(&queue.Upstream{Name: "api", BaseURL: base, Client: c}))
	require.NoError(t, err)
	p, err := queue.NewProducer(st, queue.ProducerConfig{Upstreams: map[string]queue.Rules{"api": {}}})
	require.NoError(t, err)
	tk, err := p.Enqueue(context.Background(), queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/x"}, queue.Options{})
	require.NoError(t, err)
	runWorker(t, w)

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := tk.Wait(ctx)
	require.NoError(t, err)
	assert.True(t, resp.Dead)
	assert.Equal(t, 3, resp.Attempts)
	assert.Contains(t, resp.Error, "502")
	assert.EqualValues(t, 3, hits.Load())
	dead, err := st.Dead(context.Background(), "api", 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	assert.Equal(t, tk.ID, dead[0].ID)
	assert.EqualValues(t, 2, w.Stats().Retried.Load())
	assert.EqualValues(t, 1, w.Stats().Buried.Load())
}

func TestStaleWorkerCannotOverwriteTheNewOwner(t *testing.T) {
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := memory.New(memory.Options{Clock: fake})
	release := make(chan struct{})
	started := make(chan store.Lease, 1)
	w, err := queue.NewWorker(st, queue.WorkerConfig{Queue: "q", Concurrency: 1, Lease: time.Second, Clock: fake,
		ReapInterval: time.Hour},
		func(ctx context.Context, l store.Lease) ([]byte, error) {
			started <- l
			<-release // a worker stalled past its lease (a pause, a partition)
			return []byte("stale"), nil
		})
	require.NoError(t, err)
	_, _, err = st.Enqueue(context.Background(), "q", store.QueuePolicy{}, store.NewJob{ID: "j1"})
	require.NoError(t, err)
	runWorker(t, w)
	first := <-started

	// The lease runs out without a heartbeat getting through; the job goes to a new owner.
	fake.Advance(2 * time.Second)
	n, err := st.Reap(context.Background(), "q")
	require.NoError(t, err)
	require.Equal(t, 1, n)
	second, ok, err := st.Dequeue(context.Background(), "q", time.Minute)
	require.NoError(t, err)
	require.True(t, ok)
	require.NotEqual(t, first.Token, second.Token)
	require.NoError(t, st.Ack(context.Background(), "q", store.QueuePolicy{}, "j1", second.Token, []byte("fresh")))

	close(release)
	eventuallyTrue(t, func() bool { return w.Stats().StaleAcks.Load()+w.Stats().LeasesLost.Load() == 1 })
	r, err := st.Result(context.Background(), "q", "j1")
	require.NoError(t, err)
	assert.Equal(t, "fresh", string(r.Body), "the new owner's result stands")
}

// ackOnly hides the memory store's AckDequeue: the worker then acks and dequeues in two calls,
// as it does on a store without one.
type ackOnly struct{ store.Queues }

// countedAckDequeue counts the memory store's AckDequeue calls, to show the worker made them.
type countedAckDequeue struct {
	*memory.Store
	calls atomic.Int64
}

func (s *countedAckDequeue) AckDequeue(ctx context.Context, q string, p store.QueuePolicy, id string, token int64, result []byte, lease time.Duration) (store.Lease, bool, error) {
	s.calls.Add(1)
	return s.Store.AckDequeue(ctx, q, p, id, token, result, lease)
}

func TestShutdownFinishesInFlightAndLosesNothing(t *testing.T) {
	t.Run("Ack", func(t *testing.T) {
		st := ackOnly{memory.New(memory.Options{})}
		_, combined := any(st).(store.AckDequeuer)
		require.False(t, combined)
		testShutdown(t, st)
	})
	t.Run("AckDequeue", func(t *testing.T) {
		st := &countedAckDequeue{Store: memory.New(memory.Options{})}
		testShutdown(t, st)
		assert.Positive(t, st.calls.Load(), "the worker acked through AckDequeue")
	})
}

// testShutdown stops a worker mid-run and restarts it: every job runs once, and none is left
// under a lease, not even one leased along with the last ack before the stop.
func testShutdown(t *testing.T, st store.Queues) {
	var ran sync.Map
	var count atomic.Int64
	w, err := queue.NewWorker(st, queue.WorkerConfig{Queue: "q", Concurrency: 4, Grace: 10 * time.Second},
		func(ctx context.Context, l store.Lease) ([]byte, error) {
			if _, dup := ran.LoadOrStore(l.ID, true); dup {
				return nil, errors.New("ran twice")
			}
			count.Add(1)
			time.Sleep(20 * time.Millisecond)
			return nil, nil
		})
	require.NoError(t, err)
	for i := range 100 {
		_, _, err := st.Enqueue(context.Background(), "q", store.QueuePolicy{}, store.NewJob{ID: "j" + strconv.Itoa(i)})
		require.NoError(t, err)
	}
	stop := runWorker(t, w)
	eventuallyTrue(t, func() bool { return count.Load() >= 10 })
	stop()
	s, err := st.QueueStats(context.Background(), "q")
	require.NoError(t, err)
	assert.Zero(t, s.InFlight, "nothing left under a lease")
	assert.EqualValues(t, 100, int64(s.Ready[0])+w.Stats().Done.Load(), "every job is done or still ready")
	assert.Zero(t, w.Stats().HandedBack.Load())

	// A restart drains the rest; none runs twice.
	w2, err := queue.NewWorker(st, queue.WorkerConfig{Queue: "q", Concurrency: 4},
		func(ctx context.Context, l store.Lease) ([]byte, error) {
			if _, dup := ran.LoadOrStore(l.ID, true); dup {
				return nil, errors.New("ran twice")
			}
			count.Add(1)
			return nil, nil
		})
	require.NoError(t, err)
	runWorker(t, w2)
	eventuallyTrue(t, func() bool { return count.Load() == 100 })
	assert.Zero(t, w2.Stats().Retried.Load())
}

func TestJobsPastTheGraceAreHandedBack(t *testing.T) {
	st := memory.New(memory.Options{})
	w, err := queue.NewWorker(st, queue.WorkerConfig{Queue: "q", Concurrency: 1, Grace: 50 * time.Millisecond},
		func(ctx context.Context, l store.Lease) ([]byte, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		})
	require.NoError(t, err)
	_, _, err = st.Enqueue(context.Background(), "q", store.QueuePolicy{}, store.NewJob{ID: "slow"})
	require.NoError(t, err)
	stop := runWorker(t, w)
	eventuallyTrue(t, func() bool {
		s, _ := st.QueueStats(context.Background(), "q")
		return s.InFlight == 1
	})
	stop()
	assert.EqualValues(t, 1, w.Stats().HandedBack.Load())
	l, ok, err := st.Dequeue(context.Background(), "q", time.Minute)
	require.NoError(t, err)
	require.True(t, ok, "the job is ready again at once")
	assert.Equal(t, "slow", l.ID)
}

func eventuallyTrue(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
