package memory_test

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

func ExampleStore_Take() {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := memory.New(memory.Options{Clock: clk})
	ctx := context.Background()
	limits := []store.Limit{store.PerSecond(2)}

	for range 3 {
		d, _ := s.Take(ctx, "api.example.com", limits, 1)
		fmt.Printf("allowed=%v remaining=%d retry after %v\n", d.Allowed, d.Remaining, d.RetryAfter)
	}
	clk.Advance(500 * time.Millisecond)
	d, _ := s.Take(ctx, "api.example.com", limits, 1)
	fmt.Printf("allowed=%v remaining=%d retry after %v\n", d.Allowed, d.Remaining, d.RetryAfter)
	// Output:
	// allowed=true remaining=1 retry after 0s
	// allowed=true remaining=0 retry after 0s
	// allowed=false remaining=0 retry after 500ms
	// allowed=true remaining=0 retry after 0s
}

// A key may carry several limits: a take is charged to all of them or to none, and a refusal
// reports the longest wait.
func ExampleStore_Take_severalLimits() {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := memory.New(memory.Options{Clock: clk})
	ctx := context.Background()
	limits := []store.Limit{store.PerSecond(10), store.PerMinute(15)}

	d, _ := s.Take(ctx, "graphql", limits, 10) // a query worth 10 points
	fmt.Println(d.Allowed, d.Remaining)
	clk.Advance(time.Second)
	d, _ = s.Take(ctx, "graphql", limits, 10)
	fmt.Println(d.Allowed, d.Remaining, d.RetryAfter)
	// Output:
	// true 0
	// false 5 19s
}

// A cost larger than a limit's burst can never be admitted, so Take says so instead of a wait.
func ExampleStore_Take_neverAllowed() {
	s := memory.New(memory.Options{})
	d, err := s.Take(context.Background(), "api.example.com", []store.Limit{store.PerSecond(10)}, 11)
	fmt.Println(d.Allowed, d.RetryAfter < 0, errors.Is(err, store.ErrNeverAllowed))
	// Output:
	// false true true
}

// Block turns a server's "come back later" into a pause every Take on the key honours.
func ExampleStore_Block() {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := memory.New(memory.Options{Clock: clk})
	ctx := context.Background()
	limits := []store.Limit{store.PerSecond(10)}

	_ = s.Block(ctx, "api.example.com", clk.Now().Add(30*time.Second)) // Retry-After: 30
	d, _ := s.Take(ctx, "api.example.com", limits, 1)
	fmt.Println(d.Allowed, d.RetryAfter)
	clk.Advance(d.RetryAfter)
	d, _ = s.Take(ctx, "api.example.com", limits, 1)
	fmt.Println(d.Allowed, d.Remaining)
	// Output:
	// false 30s
	// true 9
}

func ExampleStore_Acquire() {
	clk := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s := memory.New(memory.Options{Clock: clk})
	ctx := context.Background()
	policy := store.BreakerPolicy{ConsecutiveFailures: 2, OpenTimeout: 10 * time.Second}

	for range 2 {
		permit, _ := s.Acquire(ctx, "payments", policy)
		st, _ := s.Record(ctx, "payments", policy, permit, store.Failure)
		fmt.Println(st.State)
	}
	permit, _ := s.Acquire(ctx, "payments", policy)
	fmt.Println(permit.Allowed, permit.RetryAfter)

	clk.Advance(permit.RetryAfter)
	probe, _ := s.Acquire(ctx, "payments", policy)
	fmt.Println(probe.Allowed, probe.State)
	st, _ := s.Record(ctx, "payments", policy, probe, store.Success)
	fmt.Println(st.State)
	// Output:
	// closed
	// open
	// false 10s
	// true half-open
	// closed
}
