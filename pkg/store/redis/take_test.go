package redis_test

import (
	"context"
	"errors"
	"math/rand/v2"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

// takeCallers is how many goroutines the line tests run on one key: enough that most of them
// wait in line behind the calls on their way.
const takeCallers = 32

// TestTakeCallersGiveUp has callers on one key give up at random moments, many of them while they
// wait in line. Every caller returns, each with a decision or the error of its own context; the
// takes answered never exceed the burst; and the line still serves afterwards.
func TestTakeCallersGiveUp(t *testing.T) {
	s := newStore(t, nil)
	key, limits := "give-up", []store.Limit{store.PerMinute(1000)}
	var (
		mu       sync.Mutex
		admitted int
		errs     []error
	)
	var wg sync.WaitGroup
	for g := range takeCallers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(g), 1))
			for range 50 {
				ctx, cancel := context.WithCancel(t.Context())
				if rng.IntN(2) == 0 { // half the takes give up within 2 ms, most of them in line
					ctx, cancel = context.WithTimeout(t.Context(), time.Duration(rng.IntN(2000))*time.Microsecond)
				}
				d, err := s.Take(ctx, key, limits, 1)
				cancel()
				mu.Lock()
				if err != nil {
					errs = append(errs, err)
				} else if d.Allowed {
					admitted++
				}
				mu.Unlock()
			}
		})
	}
	waitOrFail(t, &wg, 30*time.Second)
	for _, err := range errs {
		// Only the callers' own deadlines may end a take: before it began (the context's own
		// error) or while it waited (the store did not answer in time, store.ErrUnavailable).
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.LessOrEqual(t, admitted, 1000)
	t.Logf("%d takes admitted, %d callers gave up", admitted, len(errs))

	d, err := s.Take(t.Context(), key, limits, 0)
	require.NoError(t, err, "the line serves after its callers gave up")
	require.LessOrEqual(t, int64(admitted), 1000-d.Remaining, "every admitted take was charged")
}

// TestTakeCloseWhileContended closes the store while callers wait in line on one key: every caller
// returns, with a decision or store.ErrClosed, and Close waits for the store's goroutines.
func TestTakeCloseWhileContended(t *testing.T) {
	s := newStore(t, nil)
	limits := []store.Limit{store.PerSecond(1_000_000)}
	errc := make(chan error, takeCallers)
	var wg sync.WaitGroup
	for range takeCallers {
		wg.Go(func() {
			for {
				if _, err := s.Take(t.Context(), "closing", limits, 1); err != nil {
					errc <- err
					return
				}
			}
		})
	}
	time.Sleep(20 * time.Millisecond)
	require.NoError(t, s.Close())
	waitOrFail(t, &wg, 10*time.Second)
	close(errc)
	for err := range errc {
		require.True(t, errors.Is(err, store.ErrClosed), "after Close: %v", err)
	}
}

// waitOrFail waits for wg, and fails the test if that takes longer than within: a caller hangs.
func waitOrFail(t *testing.T, wg *sync.WaitGroup, within time.Duration) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(within):
		t.Fatalf("callers still waiting after %v", within)
	}
}
