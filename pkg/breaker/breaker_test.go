package breaker_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// countingStore counts the calls that reach a real store.
type countingStore struct {
	store.Breakers
	acquires atomic.Int64
}

func (s *countingStore) Acquire(ctx context.Context, name string, p store.BreakerPolicy) (store.Permit, error) {
	s.acquires.Add(1)
	return s.Breakers.Acquire(ctx, name, p)
}

func TestOpenVerdictIsCachedLocally(t *testing.T) {
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	st := &countingStore{Breakers: memory.New(memory.Options{Clock: fake})}
	b, err := breaker.New(st, "api", breaker.Config{BreakerPolicy: store.BreakerPolicy{ConsecutiveFailures: 2, OpenTimeout: time.Minute}, Clock: fake})
	require.NoError(t, err)

	for range 2 {
		p, err := b.Allow(ctx)
		require.NoError(t, err)
		_, err = b.Record(ctx, p, store.Failure)
		require.NoError(t, err)
	}
	before := st.acquires.Load()
	for range 100 {
		_, err := b.Allow(ctx)
		var oe *breaker.OpenError
		require.ErrorAs(t, err, &oe)
		require.ErrorIs(t, err, breaker.ErrOpen)
		assert.LessOrEqual(t, oe.RetryAfter, time.Minute)
	}
	assert.Equal(t, before, st.acquires.Load(), "refusals while open cost no round trip")

	fake.Advance(time.Minute)
	p, err := b.Allow(ctx)
	require.NoError(t, err, "the probe")
	assert.Equal(t, store.HalfOpen, p.State)
	assert.Equal(t, before+1, st.acquires.Load())
}

func TestOpenTimeSeenByAnotherProcessIsCachedToo(t *testing.T) {
	ctx := context.Background()
	fake := clock.NewFake(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	shared := memory.New(memory.Options{Clock: fake})
	cfg := breaker.Config{BreakerPolicy: store.BreakerPolicy{ConsecutiveFailures: 1, OpenTimeout: time.Minute}, Clock: fake}
	a, err := breaker.New(shared, "api", cfg)
	require.NoError(t, err)
	bst := &countingStore{Breakers: shared}
	b, err := breaker.New(bst, "api", cfg)
	require.NoError(t, err)

	p, err := a.Allow(ctx)
	require.NoError(t, err)
	_, err = a.Record(ctx, p, store.Failure)
	require.NoError(t, err)

	_, err = b.Allow(ctx)
	require.ErrorIs(t, err, breaker.ErrOpen, "tripped by the other")
	_, err = b.Allow(ctx)
	require.ErrorIs(t, err, breaker.ErrOpen)
	assert.EqualValues(t, 1, bst.acquires.Load())
}

func TestDefaultIsFailure(t *testing.T) {
	resp := func(code int) *http.Response { return &http.Response{StatusCode: code} }
	for _, tc := range []struct {
		resp *http.Response
		err  error
		want bool
	}{
		{resp(200), nil, false},
		{resp(404), nil, false},
		{resp(429), nil, false},
		{resp(500), nil, true},
		{resp(501), nil, false},
		{resp(502), nil, true},
		{resp(503), nil, true},
		{nil, errors.New("connection reset"), true},
		{nil, context.DeadlineExceeded, true},
	} {
		assert.Equal(t, tc.want, breaker.DefaultIsFailure(tc.resp, tc.err), "%v %v", tc.resp, tc.err)
	}
}

func TestCallerCancellationCountsAsNothing(t *testing.T) {
	b, err := breaker.New(memory.New(memory.Options{}), "api", breaker.Config{})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	assert.Equal(t, store.Ignored, b.Classify(ctx, nil, context.Canceled))
	assert.Equal(t, store.Failure, b.Classify(context.Background(), nil, context.DeadlineExceeded))
}

func TestBadConfig(t *testing.T) {
	_, err := breaker.New(memory.New(memory.Options{}), "api", breaker.Config{BreakerPolicy: store.BreakerPolicy{SuccessThreshold: -1}})
	require.ErrorIs(t, err, store.ErrInvalid)
	assert.Contains(t, err.Error(), "SuccessThreshold")
	_, err = breaker.New(memory.New(memory.Options{}), "", breaker.Config{})
	require.ErrorIs(t, err, store.ErrInvalid)
}

func ExampleBreaker() {
	b, err := breaker.New(memory.New(memory.Options{}), "payments", breaker.Config{BreakerPolicy: store.BreakerPolicy{ConsecutiveFailures: 2}})
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	for range 3 {
		p, err := b.Allow(ctx)
		if errors.Is(err, breaker.ErrOpen) {
			fmt.Println("refused:", p.State)
			continue
		}
		st, _ := b.Record(ctx, p, store.Failure)
		fmt.Println("recorded a failure, now", st.State)
	}
	// Output:
	// recorded a failure, now closed
	// recorded a failure, now open
	// refused: open
}
