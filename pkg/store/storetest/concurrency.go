package storetest

import (
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var concurrencyTests = []test{
	{"TakeOneKeyFrozenClock", testConcurrentTake},
	{"TakeSeveralLimitsFrozenClock", testConcurrentTakeSeveralLimits},
	{"AcquireHalfOpen", testConcurrentHalfOpen},
	{"FailuresTripOnce", testConcurrentTrip},
}

const (
	goroutines = 16
	perG       = 200
)

// parallel runs f(g, i) for every goroutine g and call i, all goroutines released at once, and
// waits. f must not call t.Fatal or require: it records what it saw for the test goroutine.
func parallel(f func(g, i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for g := range goroutines {
		wg.Go(func() {
			<-start
			for i := range perG {
				f(g, i)
			}
		})
	}
	close(start)
	wg.Wait()
}

// takeResults collects what concurrent Takes saw, one slot per call.
type takeResults struct {
	allowed [goroutines][perG]bool
	errs    [goroutines][perG]error
}

func (r *takeResults) check(tb testing.TB) (admitted int) {
	tb.Helper()
	for g := range goroutines {
		for i := range perG {
			require.NoError(tb, r.errs[g][i], "goroutine %d, call %d", g, i)
			if r.allowed[g][i] {
				admitted++
			}
		}
	}
	return admitted
}

func testConcurrentTake(t *testing.T, h *harness) {
	key, limits := h.key("concurrent"), []store.Limit{store.PerMinute(100)}
	var res takeResults
	parallel(func(g, i int) {
		d, err := h.s.Take(h.ctx, key, limits, 1)
		res.allowed[g][i], res.errs[g][i] = d.Allowed, err
	})
	require.Equal(t, 100, res.check(t), "exactly one burst among %d concurrent takes", goroutines*perG)
	d := h.take(t, key, limits, 0)
	require.Equal(t, int64(0), d.Remaining)
	require.Equal(t, time.Minute, d.ResetAfter, "no take was half-applied")
}

func testConcurrentTakeSeveralLimits(t *testing.T, h *harness) {
	key := h.key("concurrent-two")
	limits := []store.Limit{store.PerMinute(100), {Requests: 10, Per: time.Second, Burst: 37}}
	var res takeResults
	parallel(func(g, i int) {
		d, err := h.s.Take(h.ctx, key, limits, 1)
		res.allowed[g][i], res.errs[g][i] = d.Allowed, err
	})
	require.Equal(t, 37, res.check(t))
	d := h.take(t, key, limits, 0)
	require.Equal(t, 37*600*time.Millisecond, d.ResetAfter, "the 100/min limit was charged 37, no more")
}

func testConcurrentHalfOpen(t *testing.T, h *harness) {
	name := h.key("concurrent-half-open")
	p := store.BreakerPolicy{ConsecutiveFailures: 1, HalfOpenProbes: 3, OpenTimeout: time.Second}
	st := h.trip(t, name, p)
	h.clk.Advance(st.RetryAfter)

	var (
		permits [goroutines][perG]store.Permit
		errs    [goroutines][perG]error
	)
	parallel(func(g, i int) {
		permits[g][i], errs[g][i] = h.s.Acquire(h.ctx, name, p)
	})
	granted, changed := 0, 0
	for g := range goroutines {
		for i := range perG {
			require.NoError(t, errs[g][i])
			pm := permits[g][i]
			require.Equal(t, store.HalfOpen, pm.State)
			if pm.Allowed {
				granted++
			}
			if pm.Changed {
				changed++
			}
		}
	}
	assert.Equal(t, 3, granted, "HalfOpenProbes permits fleet-wide")
	assert.Equal(t, 1, changed, "exactly one Acquire moved the breaker to half-open")
	assert.Equal(t, 3, h.status(t, name, p).ProbesInFlight)
}

func testConcurrentTrip(t *testing.T, h *harness) {
	name := h.key("concurrent-trip")
	p := store.BreakerPolicy{ConsecutiveFailures: 5, OpenTimeout: time.Minute}
	var (
		changed [goroutines][perG]bool
		open    [goroutines][perG]bool
		errs    [goroutines][perG]error
	)
	parallel(func(g, i int) {
		pm, err := h.s.Acquire(h.ctx, name, p)
		if err != nil || !pm.Allowed {
			errs[g][i] = err
			return
		}
		st, err := h.s.Record(h.ctx, name, p, pm, store.Failure)
		changed[g][i], open[g][i], errs[g][i] = st.Changed, st.State == store.Open, err
	})
	trips := 0
	for g := range goroutines {
		for i := range perG {
			require.NoError(t, errs[g][i])
			if changed[g][i] {
				require.True(t, open[g][i])
				trips++
			}
		}
	}
	require.Equal(t, 1, trips, "the breaker trips once, however many failures race")
	st := h.status(t, name, p)
	require.Equal(t, store.Open, st.State)
	require.Equal(t, 1, st.Trips)
	require.Equal(t, time.Minute, st.RetryAfter)
}
