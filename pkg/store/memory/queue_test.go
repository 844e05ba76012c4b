package memory_test

import (
	"context"
	"math"
	"testing"
	"time"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
	"github.com/weir-go/weir/pkg/store/storetest"
)

func TestQueueConformance(t *testing.T) {
	storetest.RunQueues(t, func(t *testing.T, clk *clock.Fake) storetest.QueueStore {
		return memory.New(memory.Options{Clock: clk})
	})
}

// benchPolicy lets a benchmark's queue grow as long as b.N needs, and forgets results soon, so
// that memory stays bounded by what the benchmark holds at once.
var benchPolicy = store.QueuePolicy{MaxLen: math.MaxInt32, ResultTTL: time.Millisecond}

var benchPayload = []byte(`{"upstream":"api.example.com","method":"GET","path":"/v1/items/42"}`)

func BenchmarkEnqueue(b *testing.B) {
	b.Run("Serial", func(b *testing.B) {
		s, ctx := memory.New(memory.Options{}), context.Background()
		b.ReportAllocs()
		for b.Loop() {
			if _, _, err := s.Enqueue(ctx, "bench", benchPolicy, store.NewJob{Priority: 5, Payload: benchPayload}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		s, ctx := memory.New(memory.Options{}), context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := s.Enqueue(ctx, "bench", benchPolicy, store.NewJob{Priority: 5, Payload: benchPayload}); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkDequeueAck(b *testing.B) {
	// Serial measures Dequeue and Ack alone: the queue is refilled, off the clock, whenever it
	// runs dry, and holds a realistic depth of a thousand jobs over a few priorities.
	b.Run("Serial", func(b *testing.B) {
		s, ctx := memory.New(memory.Options{}), context.Background()
		fill := func() {
			for i := range 1000 {
				if _, _, err := s.Enqueue(ctx, "bench", benchPolicy, store.NewJob{Priority: i % 4, Payload: benchPayload}); err != nil {
					b.Fatal(err)
				}
			}
		}
		fill()
		b.ReportAllocs()
		for b.Loop() {
			l, ok, err := s.Dequeue(ctx, "bench", time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if !ok {
				b.StopTimer()
				fill()
				b.StartTimer()
				continue
			}
			if err := s.Ack(ctx, "bench", benchPolicy, l.ID, l.Token, nil); err != nil {
				b.Fatal(err)
			}
		}
	})
	// Parallel has every goroutine enqueue the job it then takes and acks, so it measures all
	// three under contention.
	b.Run("ParallelWithEnqueue", func(b *testing.B) {
		s, ctx := memory.New(memory.Options{}), context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, _, err := s.Enqueue(ctx, "bench", benchPolicy, store.NewJob{Priority: 5, Payload: benchPayload}); err != nil {
					b.Error(err)
					return
				}
				l, ok, err := s.Dequeue(ctx, "bench", time.Minute)
				if err != nil {
					b.Error(err)
					return
				}
				if !ok {
					continue // another goroutine took it
				}
				if err := s.Ack(ctx, "bench", benchPolicy, l.ID, l.Token, nil); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}
