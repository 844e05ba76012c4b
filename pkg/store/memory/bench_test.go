package memory_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// benchLimit admits nearly everything, so the benchmarks measure the admitting path on the
// system clock.
var benchLimit = store.Limit{Requests: 1_000_000_000, Per: time.Second}

func BenchmarkTake(b *testing.B) {
	for _, c := range []struct {
		name   string
		limits []store.Limit
	}{
		{"OneLimit", []store.Limit{benchLimit}},
		{"TwoLimits", []store.Limit{benchLimit, store.Limit{Requests: 200_000_000, Per: 2 * time.Second}}},
	} {
		b.Run(c.name, func(b *testing.B) {
			s, ctx := memory.New(memory.Options{}), context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.Take(ctx, "api.example.com", c.limits, 1); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

func BenchmarkTakeParallel(b *testing.B) {
	limits := []store.Limit{benchLimit}
	b.Run("OneKey", func(b *testing.B) {
		s, ctx := memory.New(memory.Options{}), context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				if _, err := s.Take(ctx, "api.example.com", limits, 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
	b.Run("ManyKeys", func(b *testing.B) {
		s, ctx := memory.New(memory.Options{}), context.Background()
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = fmt.Sprintf("upstream-%d", i)
		}
		var next atomic.Int64
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			i := int(next.Add(1)) * 97
			for pb.Next() {
				i++
				if _, err := s.Take(ctx, keys[i%len(keys)], limits, 1); err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

func BenchmarkAcquireRecord(b *testing.B) {
	policy := store.BreakerPolicy{}
	b.Run("Serial", func(b *testing.B) {
		s, ctx := memory.New(memory.Options{}), context.Background()
		b.ReportAllocs()
		for b.Loop() {
			pm, err := s.Acquire(ctx, "payments", policy)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := s.Record(ctx, "payments", policy, pm, store.Success); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Parallel", func(b *testing.B) {
		s, ctx := memory.New(memory.Options{}), context.Background()
		b.ReportAllocs()
		b.RunParallel(func(pb *testing.PB) {
			for pb.Next() {
				pm, err := s.Acquire(ctx, "payments", policy)
				if err == nil {
					_, err = s.Record(ctx, "payments", policy, pm, store.Success)
				}
				if err != nil {
					b.Error(err)
					return
				}
			}
		})
	})
}

// TestTakeDoesNotAllocate keeps the hot path free of garbage: once a key exists, Take allocates
// nothing.
func TestTakeDoesNotAllocate(t *testing.T) {
	s, ctx := memory.New(memory.Options{}), context.Background()
	limits := []store.Limit{benchLimit, store.Limit{Requests: 200_000_000, Per: 2 * time.Second}}
	if _, err := s.Take(ctx, "api.example.com", limits, 1); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		_, _ = s.Take(ctx, "api.example.com", limits, 1)
	})
	if allocs != 0 {
		t.Errorf("Take allocates %v times per call", allocs)
	}
}
