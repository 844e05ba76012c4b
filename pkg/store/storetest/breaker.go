package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var breakerTests = []test{
	{"ConsecutiveFailuresTripAtFive", testBreakerConsecutiveDefault},
	{"ConsecutiveFailuresIgnoredCountsAsNothing", testBreakerConsecutiveIgnored},
	{"ConsecutiveFailuresDisabled", testBreakerConsecutiveDisabled},
	{"FailureRateTrip", testBreakerFailureRate},
	{"FailureRateExactDecimal", testBreakerFailureRateExact},
	{"FailureRateWindowForgets", testBreakerWindowForgets},
	{"OpenThenHalfOpen", testBreakerOpenThenHalfOpen},
	{"HalfOpenProbesAndSuccessThreshold", testBreakerProbes},
	{"ProbeFailureReopens", testBreakerProbeFailure},
	{"OpenTimeoutGrowth", testBreakerGrowth},
	{"OpenTimeoutFixedWithoutMax", testBreakerNoGrowth},
	{"StaleOutcomesIgnored", testBreakerStale},
	{"IgnoredFreesProbe", testBreakerIgnoredProbe},
	{"LostProbesForgotten", testBreakerLostProbes},
	{"StatusDoesNotChangeState", testBreakerStatusReadOnly},
	{"BreakersAreIndependent", testBreakerIndependent},
}

// trip makes a closed breaker with ConsecutiveFailures c open by c failures, and returns the
// status of the tripping Record.
func (h *harness) trip(tb testing.TB, name string, p store.BreakerPolicy) store.BreakerStatus {
	tb.Helper()
	n := p.WithDefaults().ConsecutiveFailures
	require.Positive(tb, n, "trip needs the consecutive-failure rule")
	var st store.BreakerStatus
	for range n {
		st = h.call(tb, name, p, store.Failure)
	}
	require.Equal(tb, store.Open, st.State)
	require.True(tb, st.Changed)
	return st
}

// halfOpen trips the breaker, waits out its open time and takes the first probe.
func (h *harness) halfOpen(tb testing.TB, name string, p store.BreakerPolicy) store.Permit {
	tb.Helper()
	st := h.trip(tb, name, p)
	h.clk.Advance(st.RetryAfter)
	pm := h.acquire(tb, name, p)
	require.True(tb, pm.Allowed)
	require.Equal(tb, store.HalfOpen, pm.State)
	require.True(tb, pm.Changed)
	return pm
}

func testBreakerConsecutiveDefault(t *testing.T, h *harness) {
	name, p := h.key("breaker"), store.BreakerPolicy{}
	st := h.status(t, name, p)
	require.Equal(t, store.Closed, st.State, "an unknown breaker is closed")
	gen := st.Generation

	for i := 1; i <= 4; i++ {
		st = h.call(t, name, p, store.Failure)
		require.Equal(t, store.Closed, st.State)
		require.False(t, st.Changed)
		require.Equal(t, i, st.ConsecutiveFailures)
	}
	st = h.call(t, name, p, store.Success)
	require.Equal(t, 0, st.ConsecutiveFailures, "a success ends the run")
	require.Equal(t, gen, st.Generation)

	for range 4 {
		st = h.call(t, name, p, store.Failure)
	}
	require.Equal(t, store.Closed, st.State)
	st = h.call(t, name, p, store.Failure)
	require.Equal(t, store.Open, st.State, "the fifth failure in a row trips")
	require.True(t, st.Changed)
	require.False(t, st.Stale)
	require.Equal(t, 1, st.Trips)
	require.Equal(t, store.DefaultOpenTimeout, st.RetryAfter)
	require.NotEqual(t, gen, st.Generation)

	pm := h.acquire(t, name, p)
	require.False(t, pm.Allowed)
	require.Equal(t, store.Open, pm.State)
	require.Equal(t, st.Generation, pm.Generation)
	require.Equal(t, store.DefaultOpenTimeout, pm.RetryAfter)
}

func testBreakerConsecutiveIgnored(t *testing.T, h *harness) {
	name, p := h.key("ignored"), store.BreakerPolicy{ConsecutiveFailures: 2}
	h.call(t, name, p, store.Failure)
	st := h.call(t, name, p, store.Ignored)
	require.Equal(t, store.Closed, st.State)
	require.Equal(t, 1, st.ConsecutiveFailures, "Ignored neither counts nor ends the run")
	require.Equal(t, 1, st.Calls, "Ignored is not a call in the window")
	st = h.call(t, name, p, store.Failure)
	require.Equal(t, store.Open, st.State)
}

func testBreakerConsecutiveDisabled(t *testing.T, h *harness) {
	name, p := h.key("disabled"), store.BreakerPolicy{ConsecutiveFailures: -1}
	var st store.BreakerStatus
	for range 50 {
		st = h.call(t, name, p, store.Failure)
	}
	require.Equal(t, store.Closed, st.State)
	require.Equal(t, 50, st.Failures)
}

func testBreakerFailureRate(t *testing.T, h *harness) {
	name := h.key("rate")
	p := store.BreakerPolicy{ConsecutiveFailures: -1, FailureRate: 0.5, MinCalls: 12, Window: 10 * time.Second}
	var st store.BreakerStatus
	for range 9 {
		st = h.call(t, name, p, store.Failure)
		h.clk.Advance(100 * time.Millisecond)
	}
	require.Equal(t, store.Closed, st.State, "9 failures are fewer than MinCalls")
	require.Equal(t, 9, st.Calls)
	require.Equal(t, 9, st.Failures)
	st = h.call(t, name, p, store.Success)
	st = h.call(t, name, p, store.Success)
	require.Equal(t, store.Closed, st.State, "11 calls are fewer than MinCalls")
	st = h.call(t, name, p, store.Success)
	require.Equal(t, store.Open, st.State, "9 of 12 calls failed: the rate rule trips even on a success")
	require.True(t, st.Changed)

	name = h.key("rate-boundary")
	for range 6 {
		st = h.call(t, name, p, store.Success)
	}
	for range 5 {
		st = h.call(t, name, p, store.Failure)
	}
	require.Equal(t, store.Closed, st.State, "5 of 11")
	st = h.call(t, name, p, store.Success)
	require.Equal(t, store.Closed, st.State, "5 of 12 is below 0.5")
	st = h.call(t, name, p, store.Failure)
	require.Equal(t, store.Closed, st.State, "6 of 13 is below 0.5")
	st = h.call(t, name, p, store.Failure)
	require.Equal(t, store.Open, st.State, "7 of 14 reaches 0.5")
}

// testBreakerFailureRateExact checks that a rate the user writes as a decimal is reached when the
// failures are exactly that fraction of the calls, whatever floating point makes of the product
// (0.55 × 100 is 55.00000000000001 in binary).
func testBreakerFailureRateExact(t *testing.T, h *harness) {
	for _, c := range []struct {
		rate         float64
		fails, calls int
	}{
		{0.55, 55, 100},
		{0.55, 99, 180},
		{0.1, 3, 30},
		{0.7, 7, 10},
		{1, 20, 20},
	} {
		name := h.key("rate-exact")
		p := store.BreakerPolicy{ConsecutiveFailures: -1, FailureRate: c.rate, MinCalls: c.calls}
		var st store.BreakerStatus
		for range c.calls - c.fails {
			st = h.call(t, name, p, store.Success)
		}
		for range c.fails - 1 {
			st = h.call(t, name, p, store.Failure)
		}
		require.Equal(t, store.Closed, st.State)
		st = h.call(t, name, p, store.Failure)
		require.Equal(t, store.Open, st.State, "%d failures of %d calls reach FailureRate %v", c.fails, c.calls, c.rate)
	}
}

func testBreakerWindowForgets(t *testing.T, h *harness) {
	name := h.key("window")
	w := 10 * time.Second
	p := store.BreakerPolicy{ConsecutiveFailures: -1, FailureRate: 0.5, MinCalls: 4, Window: w}
	for range 3 {
		h.call(t, name, p, store.Failure)
	}
	// The window is kept in WindowBuckets slices: a call is counted for at least
	// (WindowBuckets−1)/WindowBuckets of the window and forgotten after a whole window.
	h.clk.Advance(w - w/store.WindowBuckets)
	st := h.status(t, name, p)
	require.Equal(t, 3, st.Calls)
	require.Equal(t, 3, st.Failures)

	h.clk.Advance(w / store.WindowBuckets)
	st = h.status(t, name, p)
	require.Equal(t, 0, st.Calls, "a whole window later the failures are gone")
	require.Equal(t, 0, st.Failures)

	h.call(t, name, p, store.Failure)
	for range 3 {
		st = h.call(t, name, p, store.Success)
	}
	require.Equal(t, store.Closed, st.State, "1 of 4 in the window; the old failures would have made it 4 of 7")
	require.Equal(t, 4, st.Calls)
	require.Equal(t, 1, st.Failures)
}

func testBreakerOpenThenHalfOpen(t *testing.T, h *harness) {
	name := h.key("half-open")
	p := store.BreakerPolicy{ConsecutiveFailures: 1, OpenTimeout: 10 * time.Second}
	st := h.trip(t, name, p)
	require.Equal(t, 10*time.Second, st.RetryAfter)

	h.clk.Advance(10*time.Second - time.Microsecond)
	pm := h.acquire(t, name, p)
	require.False(t, pm.Allowed)
	require.Equal(t, store.Open, pm.State)
	require.Equal(t, time.Microsecond, pm.RetryAfter)
	require.Equal(t, time.Microsecond, h.status(t, name, p).RetryAfter)

	h.clk.Advance(time.Microsecond)
	pm = h.acquire(t, name, p)
	require.True(t, pm.Allowed)
	require.Equal(t, store.HalfOpen, pm.State)
	require.True(t, pm.Changed, "this Acquire moved the breaker to half-open")
	require.NotEqual(t, st.Generation, pm.Generation)

	again := h.acquire(t, name, p)
	require.False(t, again.Allowed, "one probe is already out")
	require.Equal(t, store.HalfOpen, again.State)
	require.False(t, again.Changed)
	require.Equal(t, pm.Generation, again.Generation)
	require.Positive(t, again.RetryAfter)

	st = h.status(t, name, p)
	require.Equal(t, store.HalfOpen, st.State)
	require.Equal(t, 1, st.ProbesInFlight)
	require.Equal(t, pm.Generation, st.Generation)
}

func testBreakerProbes(t *testing.T, h *harness) {
	name := h.key("probes")
	p := store.BreakerPolicy{ConsecutiveFailures: 1, HalfOpenProbes: 3, SuccessThreshold: 5}
	probes := []store.Permit{h.halfOpen(t, name, p)}
	for range 2 {
		pm := h.acquire(t, name, p)
		require.True(t, pm.Allowed)
		require.False(t, pm.Changed)
		probes = append(probes, pm)
	}
	require.False(t, h.acquire(t, name, p).Allowed, "three probes are out")
	require.Equal(t, 3, h.status(t, name, p).ProbesInFlight)

	successes := 0
	for successes < 4 {
		st := h.record(t, name, p, probes[0], store.Success)
		successes++
		require.Equal(t, store.HalfOpen, st.State, "%d successes of 5", successes)
		require.False(t, st.Changed)
		require.Equal(t, 2, st.ProbesInFlight)
		pm := h.acquire(t, name, p)
		require.True(t, pm.Allowed, "a reported probe frees its slot")
		require.False(t, h.acquire(t, name, p).Allowed)
		probes = append(probes[1:], pm)
	}
	st := h.record(t, name, p, probes[0], store.Success)
	require.Equal(t, store.Closed, st.State, "the fifth success closes")
	require.True(t, st.Changed)
	require.NotEqual(t, probes[0].Generation, st.Generation)
	require.Equal(t, 0, st.Trips)
	require.Equal(t, 0, st.ProbesInFlight)

	late := h.record(t, name, p, probes[1], store.Failure)
	require.True(t, late.Stale, "a probe reported after closing belongs to the half-open period")
	require.Equal(t, store.Closed, late.State)
	require.Equal(t, 0, late.ConsecutiveFailures)

	pm := h.acquire(t, name, p)
	require.True(t, pm.Allowed)
	require.Equal(t, store.Closed, pm.State)
	require.False(t, pm.Changed)
}

func testBreakerProbeFailure(t *testing.T, h *harness) {
	name := h.key("probe-fails")
	p := store.BreakerPolicy{ConsecutiveFailures: 1, HalfOpenProbes: 2, OpenTimeout: 5 * time.Second}
	a := h.halfOpen(t, name, p)
	b := h.acquire(t, name, p)
	require.True(t, b.Allowed)

	st := h.record(t, name, p, a, store.Failure)
	require.Equal(t, store.Open, st.State, "any probe failure reopens")
	require.True(t, st.Changed)
	require.Equal(t, 2, st.Trips)
	require.Equal(t, 5*time.Second, st.RetryAfter)

	st = h.record(t, name, p, b, store.Success)
	require.True(t, st.Stale)
	require.Equal(t, store.Open, st.State)
	require.False(t, st.Changed)
	require.False(t, h.acquire(t, name, p).Allowed)
}

func testBreakerGrowth(t *testing.T, h *harness) {
	name := h.key("growth")
	p := store.BreakerPolicy{ConsecutiveFailures: 1, OpenTimeout: time.Second, MaxOpenTimeout: 5 * time.Second}
	st := h.trip(t, name, p)
	require.Equal(t, time.Second, st.RetryAfter)
	for i, want := range []time.Duration{2 * time.Second, 4 * time.Second, 5 * time.Second, 5 * time.Second} {
		h.clk.Advance(st.RetryAfter)
		pm := h.acquire(t, name, p)
		require.True(t, pm.Allowed)
		st = h.record(t, name, p, pm, store.Failure)
		require.Equal(t, store.Open, st.State)
		require.Equal(t, i+2, st.Trips)
		require.Equal(t, want, st.RetryAfter, "trip %d", i+2)
		pm = h.acquire(t, name, p)
		require.Equal(t, want, pm.RetryAfter)
	}

	h.clk.Advance(st.RetryAfter)
	st = h.call(t, name, p, store.Success)
	require.Equal(t, store.Closed, st.State)
	require.Equal(t, 0, st.Trips, "closing resets the growth")
	st = h.call(t, name, p, store.Failure)
	require.Equal(t, store.Open, st.State)
	require.Equal(t, 1, st.Trips)
	require.Equal(t, time.Second, st.RetryAfter)
}

func testBreakerNoGrowth(t *testing.T, h *harness) {
	name := h.key("no-growth")
	p := store.BreakerPolicy{ConsecutiveFailures: 1, OpenTimeout: 3 * time.Second}
	st := h.trip(t, name, p)
	for trip := 2; trip <= 4; trip++ {
		h.clk.Advance(st.RetryAfter)
		st = h.call(t, name, p, store.Failure)
		require.Equal(t, trip, st.Trips)
		require.Equal(t, 3*time.Second, st.RetryAfter)
	}
}

func testBreakerStale(t *testing.T, h *harness) {
	name := h.key("stale")
	p := store.BreakerPolicy{ConsecutiveFailures: 1, HalfOpenProbes: 1, OpenTimeout: time.Second}
	first := h.acquire(t, name, p)
	second := h.acquire(t, name, p)
	old := h.acquire(t, name, p)
	open := h.record(t, name, p, first, store.Failure)
	require.Equal(t, store.Open, open.State)

	st := h.record(t, name, p, second, store.Success)
	assert.True(t, st.Stale)
	assert.False(t, st.Changed)
	assert.Equal(t, store.Open, st.State)
	assert.Equal(t, open.Generation, st.Generation)
	assert.Equal(t, 1, st.Trips)

	// Half-open: an old failure must not reopen it, and does not take the probe's place.
	h.clk.Advance(time.Second)
	probe := h.acquire(t, name, p)
	require.True(t, probe.Allowed)
	st = h.record(t, name, p, second, store.Failure)
	assert.True(t, st.Stale)
	assert.Equal(t, store.HalfOpen, st.State)
	assert.Equal(t, probe.Generation, st.Generation)
	assert.Equal(t, 1, st.ProbesInFlight)

	// Closed again: a permit from two periods ago counts for nothing.
	st = h.record(t, name, p, probe, store.Success)
	require.Equal(t, store.Closed, st.State)
	st = h.record(t, name, p, old, store.Failure)
	assert.True(t, st.Stale)
	assert.Equal(t, store.Closed, st.State)
	assert.Equal(t, 0, st.ConsecutiveFailures)
	assert.Equal(t, 0, st.Calls)
}

func testBreakerIgnoredProbe(t *testing.T, h *harness) {
	name := h.key("ignored-probe")
	p := store.BreakerPolicy{ConsecutiveFailures: 1}
	probe := h.halfOpen(t, name, p)
	require.False(t, h.acquire(t, name, p).Allowed)

	st := h.record(t, name, p, probe, store.Ignored)
	require.Equal(t, store.HalfOpen, st.State, "Ignored is not a success")
	require.False(t, st.Changed)
	require.False(t, st.Stale)
	require.Equal(t, 0, st.ProbesInFlight)

	probe = h.acquire(t, name, p)
	require.True(t, probe.Allowed, "the slot is free again")
	require.False(t, probe.Changed)
	st = h.record(t, name, p, probe, store.Success)
	require.Equal(t, store.Closed, st.State)
}

func testBreakerLostProbes(t *testing.T, h *harness) {
	name := h.key("lost")
	p := store.BreakerPolicy{ConsecutiveFailures: 1, OpenTimeout: 10 * time.Second}
	lost := h.halfOpen(t, name, p)

	h.clk.Advance(10*time.Second - time.Microsecond)
	pm := h.acquire(t, name, p)
	require.False(t, pm.Allowed)
	require.Equal(t, time.Microsecond, pm.RetryAfter, "the lost probe is forgotten OpenTimeout after it was granted")

	h.clk.Advance(time.Microsecond)
	probe := h.acquire(t, name, p)
	require.True(t, probe.Allowed, "a probe that never reported is forgotten after OpenTimeout")
	require.Equal(t, store.HalfOpen, probe.State)

	// The forgotten probe reporting at last must not free the new probe's slot.
	st := h.record(t, name, p, lost, store.Ignored)
	require.True(t, st.Stale, "an outcome for a forgotten probe")
	require.Equal(t, 1, st.ProbesInFlight)
	require.False(t, h.acquire(t, name, p).Allowed)

	st = h.record(t, name, p, probe, store.Success)
	require.Equal(t, store.Closed, st.State)
}

func testBreakerStatusReadOnly(t *testing.T, h *harness) {
	name := h.key("status")
	p := store.BreakerPolicy{ConsecutiveFailures: 3, OpenTimeout: time.Second}
	h.call(t, name, p, store.Failure)
	h.call(t, name, p, store.Failure)
	for range 3 {
		st := h.status(t, name, p)
		require.Equal(t, store.Closed, st.State)
		require.Equal(t, 2, st.ConsecutiveFailures)
		require.False(t, st.Changed)
	}
	open := h.call(t, name, p, store.Failure)

	h.clk.Advance(time.Hour)
	for range 3 {
		st := h.status(t, name, p)
		require.Equal(t, store.Open, st.State, "an open breaker whose time is up reads as open")
		require.Equal(t, time.Duration(0), st.RetryAfter)
		require.Equal(t, open.Generation, st.Generation)
		require.False(t, st.Changed)
	}
	pm := h.acquire(t, name, p)
	require.True(t, pm.Changed, "the status calls did not move it to half-open")
	for range 3 {
		st := h.status(t, name, p)
		require.Equal(t, store.HalfOpen, st.State)
		require.Equal(t, 1, st.ProbesInFlight)
	}
}

func testBreakerIndependent(t *testing.T, h *harness) {
	p := store.BreakerPolicy{ConsecutiveFailures: 1}
	a, b := h.key("a"), h.key("b")
	h.trip(t, a, p)
	require.Equal(t, store.Closed, h.status(t, b, p).State)
	pm := h.acquire(t, b, p)
	require.True(t, pm.Allowed)
	require.Equal(t, store.Closed, pm.State)
	require.False(t, h.acquire(t, a, p).Allowed)
}
