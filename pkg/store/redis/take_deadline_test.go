package redis_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/internal/slowlink"
	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

// slowClient returns a client of the test's Redis (REDIS_URL, or a fresh miniredis) through a
// slowlink.Link holding replies for delay, and the link.
func slowClient(tb testing.TB, delay time.Duration, configure func(*goredis.Options)) (*goredis.Client, *slowlink.Link) {
	tb.Helper()
	o := &goredis.Options{}
	if url := redisURL(tb); url != "" {
		var err error
		o, err = goredis.ParseURL(url)
		require.NoError(tb, err)
	} else {
		o.Addr = miniredis.RunT(tb).Addr()
	}
	link := slowlink.New(tb, o.Addr, delay)
	o.Addr = link.Addr()
	o.ContextTimeoutEnabled = true
	if configure != nil {
		configure(o)
	}
	rdb := goredis.NewClient(o)
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb, link
}

// Deadlines of the tests below: the callers' own, shorter than the link's delay.
const (
	linkDelay      = 120 * time.Millisecond
	callerDeadline = 40 * time.Millisecond
)

// oneDeadline is n callers' deadlines, all at d.
func oneDeadline(n int, d time.Time) []time.Time {
	at := make([]time.Time, n)
	for i := range at {
		at[i] = d
	}
	return at
}

// deadlineRound starts callers at once, the i-th with a context of its own whose deadline is at
// (zero: none) and whose cause is causes[i], runs call for each, and returns each one's error.
func deadlineRound(t *testing.T, at []time.Time, call func(ctx context.Context, i int) error) (errs, causes []error) {
	t.Helper()
	errs, causes = make([]error, len(at)), make([]error, len(at))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range at {
		causes[i] = fmt.Errorf("caller %d's own deadline", i)
		ctx, cancel := context.WithCancel(context.Background())
		if !at[i].IsZero() {
			ctx, cancel = context.WithDeadlineCause(context.Background(), at[i], causes[i])
		}
		wg.Go(func() {
			defer cancel()
			<-start
			errs[i] = call(ctx, i)
		})
	}
	close(start)
	waitOrFail(t, &wg, 10*time.Second)
	return errs, causes
}

// requireOwnDeadline requires every error to be its caller's own deadline: its own context's
// cause, in the words of a deadline rather than of a failed round trip.
func requireOwnDeadline(t *testing.T, round int, errs, causes []error) {
	t.Helper()
	for i, err := range errs {
		require.ErrorIs(t, err, causes[i], "round %d, caller %d: its own context's cause", round, i)
		require.ErrorContains(t, err, "no answer before the deadline", "round %d, caller %d", round, i)
	}
}

// TestTakeBatchDeadlineIsTheCallers has many callers Take one key, each with a context of its own
// but all with one deadline, through a link slower than that deadline: most of them wait in line
// and go in one combined script call, which runs out of time with them. Every caller must get its
// own context's deadline (its cause), not the combined call's failure, which would read as the
// store being down.
func TestTakeBatchDeadlineIsTheCallers(t *testing.T) {
	rdb, _ := slowClient(t, linkDelay, nil)
	s := storeOn(t, rdb, nil)
	limits := []store.Limit{store.PerSecond(1_000_000)}
	const callers = 24
	for round := range 12 {
		at := oneDeadline(callers, time.Now().Add(callerDeadline))
		errs, causes := deadlineRound(t, at, func(ctx context.Context, _ int) error {
			_, err := s.Take(ctx, "shared-deadline", limits, 1)
			return err
		})
		requireOwnDeadline(t, round, errs, causes)
	}
}

// TestTakeBatchEarlierDeadlineFailsNoOtherCaller puts callers with a short deadline in line with
// callers with a long one or none, through a link slower than the short deadline: the short ones
// get their own deadline, the others their decisions.
func TestTakeBatchEarlierDeadlineFailsNoOtherCaller(t *testing.T) {
	rdb, _ := slowClient(t, linkDelay, nil)
	s := storeOn(t, rdb, nil)
	limits := []store.Limit{store.PerSecond(1_000_000)}
	const callers = 24
	for round := range 4 {
		now := time.Now()
		at := make([]time.Time, callers)
		for i := range at {
			switch i % 3 {
			case 0:
				at[i] = now.Add(callerDeadline)
			case 1:
				at[i] = now.Add(5 * time.Second)
			} // case 2: no deadline
		}
		errs, causes := deadlineRound(t, at, func(ctx context.Context, _ int) error {
			_, err := s.Take(ctx, "mixed-deadlines", limits, 1)
			return err
		})
		for i, err := range errs {
			if i%3 == 0 {
				require.ErrorIs(t, err, causes[i], "round %d, caller %d", round, i)
				continue
			}
			require.NoError(t, err, "round %d, caller %d: another caller's deadline is not its own", round, i)
		}
	}
}

// TestQueueBatchDeadlineIsTheCallers is TestTakeBatchDeadlineIsTheCallers for the queue's combined
// calls: enqueues and reads of one queue, each caller with a context of its own, all with one
// deadline.
func TestQueueBatchDeadlineIsTheCallers(t *testing.T) {
	rdb, _ := slowClient(t, linkDelay, nil)
	s := storeOn(t, rdb, nil)
	const callers = 24
	for round := range 12 {
		at := oneDeadline(callers, time.Now().Add(callerDeadline))
		errs, causes := deadlineRound(t, at, func(ctx context.Context, i int) error {
			if i%2 == 0 {
				_, _, err := s.Enqueue(ctx, "shared-deadline", store.QueuePolicy{}, store.NewJob{Payload: []byte("x")})
				return err
			}
			_, err := s.QueueStats(ctx, "shared-deadline")
			return err
		})
		requireOwnDeadline(t, round, errs, causes)
	}
}

// TestSlowServerIsStillUnavailable is the other side: a server that does not answer within the
// store's own Timeout, while the callers' deadlines are far off, is down. Every caller gets
// store.ErrUnavailable, and no context error, since no caller's context ended.
func TestSlowServerIsStillUnavailable(t *testing.T) {
	rdb, link := slowClient(t, 0, func(o *goredis.Options) { o.MaxRetries = -1 })
	s, err := weirredis.New(rdb, weirredis.Options{Prefix: testPrefix(t), Timeout: 50 * time.Millisecond})
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	limits := []store.Limit{store.PerSecond(1_000_000)}
	_, err = s.Take(t.Context(), "slow", limits, 1)
	require.NoError(t, err, "the link passes replies at once")

	link.SetDelay(time.Hour) // the server hangs, as far as the store can tell
	const callers = 24
	at := make([]time.Time, callers)
	for i := range at {
		if i%2 == 0 {
			at[i] = time.Now().Add(5 * time.Second)
		}
	}
	errs, _ := deadlineRound(t, at, func(ctx context.Context, i int) error {
		if i%3 == 0 {
			_, err := s.QueueStats(ctx, "slow")
			return err
		}
		_, err := s.Take(ctx, "slow", limits, 1)
		return err
	})
	for i, err := range errs {
		require.ErrorIs(t, err, store.ErrUnavailable, "caller %d", i)
		require.False(t, errors.Is(err, context.Canceled), "caller %d: %v", i, err)
		require.NotContains(t, err.Error(), "no answer before the deadline", "caller %d: its deadline is far off", i)
	}
}
