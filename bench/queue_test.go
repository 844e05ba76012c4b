package bench

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/hibiken/asynq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

const (
	// queueBatch is how many jobs one op of BenchmarkQueueEnqueueBatch enqueues.
	queueBatch = 100
	// queueWorkers is the concurrency of the consuming side: weir's Dequeue+Ack goroutines and
	// asynq.Config.Concurrency alike.
	queueWorkers = 8
	// queueProducers is how many goroutines enqueue at once in BenchmarkQueueEnqueueConcurrent.
	queueProducers = 32
	// queueFillers is how many goroutines pre-fill a queue before the clock starts.
	queueFillers = 32
	// queueLease is weir's lease; asynq's is its own default (30 s as well).
	queueLease = 30 * time.Second
	// asynqTaskType is the type of every asynq task.
	asynqTaskType = "bench"
)

var (
	// queuePayload is every job's payload on both sides: 100 bytes.
	queuePayload = bytes.Repeat([]byte("0123456789"), 10)
	// queuePolicy lifts MaxLen far above anything a benchmark enqueues (asynq has no bound), and
	// keeps results briefly: the keys are deleted afterwards anyway.
	queuePolicy = store.QueuePolicy{MaxLen: 100_000_000, ResultTTL: time.Minute}
)

// newWeirQueue returns the Redis store on a fresh client with a prefix of its own (deleted when
// b ends, by newRedis), and the name of a queue in it.
func newWeirQueue(b *testing.B) (*weirredis.Store, string) {
	rdb, prefix := newRedis(b)
	st, err := weirredis.New(rdb, weirredis.Options{Prefix: prefix})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return st, "q"
}

// newAsynqQueue returns a fresh client (the same options as weir's), a unique asynq queue name,
// and deletes that queue's keys when b ends: Inspector.DeleteQueue, then anything left under
// "asynq:{<queue>}" (the daily stats counters), never anything else.
func newAsynqQueue(b *testing.B) (*goredis.Client, string) {
	rdb, prefix := newRedis(b) // prefix is unique per run; asynq keys live under asynq:{<queue>}
	name := prefix
	b.Cleanup(func() {
		ctx := context.Background()
		insp := asynq.NewInspectorFromRedisClient(rdb)
		if err := insp.DeleteQueue(name, true); err != nil && !errors.Is(err, asynq.ErrQueueNotFound) {
			b.Errorf("asynq: deleting queue %s: %v", name, err)
		}
		deleteKeys(b, rdb, "asynq:{"+name+"}*")
		rdb.SRem(ctx, "asynq:queues", name)
	})
	return rdb, name
}

func newWeirJob() store.NewJob { return store.NewJob{Payload: queuePayload} }

func newAsynqTask() *asynq.Task { return asynq.NewTask(asynqTaskType, queuePayload) }

// weirEnqueuer returns the Redis store on a fresh queue (see newWeirQueue) and its single-job
// Enqueue of one 100-byte job into that queue.
func weirEnqueuer(b *testing.B) (*weirredis.Store, string, func() error) {
	st, q := newWeirQueue(b)
	return st, q, func() error {
		_, _, err := st.Enqueue(context.Background(), q, queuePolicy, newWeirJob())
		return err
	}
}

// asynqEnqueuer returns a fresh client and queue (see newAsynqQueue) and asynq's
// Client.EnqueueContext of one 100-byte task into that queue.
func asynqEnqueuer(b *testing.B) (*goredis.Client, string, func() error) {
	rdb, q := newAsynqQueue(b)
	c := asynq.NewClientFromRedisClient(rdb)
	return rdb, q, func() error {
		_, err := c.EnqueueContext(context.Background(), newAsynqTask(), asynq.Queue(q))
		return err
	}
}

// serial runs op once as a warm-up, then once per iteration of b.Loop, and reports jobs/s,
// jobsPerOp jobs an op.
func serial(b *testing.B, jobsPerOp int, op func() error) {
	b.Helper()
	if err := op(); err != nil { // a connection made, the script cached
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := op(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*jobsPerOp)/b.Elapsed().Seconds(), "jobs/s")
}

// BenchmarkQueueEnqueue is one caller enqueueing one 100-byte job at a time: one script call
// on each side.
func BenchmarkQueueEnqueue(b *testing.B) {
	b.Run("weir", func(b *testing.B) {
		_, _, enqueue := weirEnqueuer(b)
		serial(b, 1, enqueue)
	})
	b.Run("asynq", func(b *testing.B) {
		_, _, enqueue := asynqEnqueuer(b)
		serial(b, 1, enqueue)
	})
}

// BenchmarkQueueEnqueueConcurrent is exactly queueProducers goroutines sharing b.N, each enqueueing
// one 100-byte job at a time through the single-job call (weir: the store's Enqueue; asynq:
// Client.EnqueueContext), as a service whose many request handlers each enqueue one job would. It
// reports jobs/s.
func BenchmarkQueueEnqueueConcurrent(b *testing.B) {
	b.Run("weir", func(b *testing.B) {
		_, _, enqueue := weirEnqueuer(b)
		produce(b, enqueue)
	})
	b.Run("asynq", func(b *testing.B) {
		_, _, enqueue := asynqEnqueuer(b)
		produce(b, enqueue)
	})
}

// produce runs enqueue once as a warm-up, then b.N times in all from queueProducers goroutines,
// with the clock running, and reports jobs/s.
func produce(b *testing.B, enqueue func() error) {
	b.Helper()
	if err := enqueue(); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	err := shared(b.N, queueProducers, enqueue)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
}

// shared runs op n times in all from the given number of goroutines, each taking the next
// until none is left or its op fails, and returns the failures.
func shared(n, goroutines int, op func() error) error {
	var left atomic.Int64
	left.Store(int64(n))
	errs := make([]error, goroutines)
	var wg sync.WaitGroup
	for i := range goroutines {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := op(); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// BenchmarkQueueEnqueueBatch is one caller enqueueing queueBatch jobs per op: weir through
// store.BatchEnqueuer (the Redis store pipelines the batch into one round trip); asynq has no
// batch or pipelined enqueue in its client, so it enqueues them one after another.
func BenchmarkQueueEnqueueBatch(b *testing.B) {
	b.Run("weir", func(b *testing.B) {
		st, q, enqueue := weirEnqueuer(b)
		jobs := make([]store.NewJob, queueBatch)
		for i := range jobs {
			jobs[i] = newWeirJob()
		}
		batch := func() error {
			for range queueBatch {
				if err := enqueue(); err != nil {
					return err
				}
			}
			return nil
		}
		if be, ok := any(st).(store.BatchEnqueuer); ok {
			batch = func() error {
				res, err := be.EnqueueBatch(context.Background(), q, queuePolicy, jobs)
				if err != nil {
					return err
				}
				for _, r := range res {
					if r.Err != nil {
						return r.Err
					}
				}
				return nil
			}
		} else {
			b.Log("the Redis store does not implement store.BatchEnqueuer: enqueueing in a loop")
		}
		serial(b, queueBatch, batch)
	})
	b.Run("asynq", func(b *testing.B) {
		_, _, enqueue := asynqEnqueuer(b)
		serial(b, queueBatch, func() error {
			for range queueBatch {
				if err := enqueue(); err != nil {
					return err
				}
			}
			return nil
		})
	})
}

// BenchmarkQueueDequeueAck pre-fills b.N jobs with the clock stopped, then times queueWorkers
// consumers taking and finishing every one of them: one op is one job dequeued and acked.
// weir: queueWorkers goroutines looping as weir's worker does (see drain): each job's ack
// leases the next in the same call (store.AckDequeuer). asynq: an asynq.Server with
// Concurrency queueWorkers and a no-op handler, timed from Start until the handler has seen every
// job (the acks of the last ≤ queueWorkers jobs may still be on their way; Shutdown, untimed,
// waits for them, and the queue is then checked to be empty).
func BenchmarkQueueDequeueAck(b *testing.B) {
	ctx := context.Background()
	b.Run("weir", func(b *testing.B) {
		st, q, enqueue := weirEnqueuer(b)
		fill(b, b.N, enqueue)
		b.ReportAllocs()
		b.ResetTimer()
		err := drain(ctx, st, q)
		b.StopTimer()
		if err != nil {
			b.Fatal(err)
		}
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		stats, err := st.QueueStats(ctx, q)
		if err != nil {
			b.Fatal(err)
		}
		if ready := sum(stats.Ready); ready != 0 || stats.InFlight != 0 {
			b.Fatalf("weir: %d ready and %d in flight left after the run", ready, stats.InFlight)
		}
	})
	b.Run("asynq", func(b *testing.B) {
		rdb, q, enqueue := asynqEnqueuer(b)
		fill(b, b.N, enqueue)
		var seen atomic.Int64
		all := make(chan struct{})
		handler := asynq.HandlerFunc(func(_ context.Context, t *asynq.Task) error {
			if seen.Add(1) == int64(b.N) {
				close(all)
			}
			return nil
		})
		srv := asynq.NewServerFromRedisClient(rdb, asynq.Config{
			Concurrency: queueWorkers,
			Queues:      map[string]int{q: 1},
			LogLevel:    asynq.FatalLevel,
		})
		b.ReportAllocs()
		b.ResetTimer()
		if err := srv.Start(handler); err != nil {
			b.Fatal(err)
		}
		select {
		case <-all:
		case <-time.After(time.Minute + time.Duration(b.N)*time.Millisecond):
			b.Fatalf("asynq: only %d of %d jobs handled", seen.Load(), b.N)
		}
		b.StopTimer()
		srv.Shutdown()
		b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "jobs/s")
		info, err := asynq.NewInspectorFromRedisClient(rdb).GetQueueInfo(q)
		if err != nil {
			b.Fatal(err)
		}
		if info.Pending != 0 || info.Active != 0 || info.Retry != 0 {
			b.Fatalf("asynq: %d pending, %d active, %d retry left after the run", info.Pending, info.Active, info.Retry)
		}
	})
}

// drain takes and acks every job of queue q from queueWorkers goroutines, as weir's worker loop
// does on Redis: Dequeue, then each job's ack leasing the next job in the same call
// (AckDequeue) until the queue is empty.
func drain(ctx context.Context, st *weirredis.Store, q string) error {
	errs := make([]error, queueWorkers)
	var wg sync.WaitGroup
	for i := range queueWorkers {
		wg.Go(func() {
			l, ok, err := st.Dequeue(ctx, q, queueLease)
			for err == nil && ok {
				l, ok, err = st.AckDequeue(ctx, q, queuePolicy, l.ID, l.Token, nil, queueLease)
			}
			errs[i] = err
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// fill runs enqueue n times from queueFillers goroutines, with the clock stopped.
func fill(b *testing.B, n int, enqueue func() error) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	if err := shared(n, queueFillers, enqueue); err != nil {
		b.Fatalf("pre-filling: %v", err)
	}
}

func sum(m map[int]int) (n int) {
	for _, v := range m {
		n += v
	}
	return n
}
