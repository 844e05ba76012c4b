package storetest

import (
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

// invariantConfigs are the limit sets the property tests run over: rates that divide a second
// evenly and rates that do not, bursts above and below Requests, and pairs of limits.
var invariantConfigs = []struct {
	name   string
	limits []store.Limit
}{
	{"10perSecond", []store.Limit{store.PerSecond(10)}},
	{"1perSecond", []store.Limit{store.PerSecond(1)}},
	{"3perSecond-burst5", []store.Limit{{Requests: 3, Per: time.Second, Burst: 5}}},
	{"7perMinute", []store.Limit{store.PerMinute(7)}},
	{"100perMinute-burst20", []store.Limit{{Requests: 100, Per: time.Minute, Burst: 20}}},
	{"13per1.7s-burst4", []store.Limit{{Requests: 13, Per: 1700 * time.Millisecond, Burst: 4}}},
	{"10perSecond+100perMinute", []store.Limit{store.PerSecond(10), store.PerMinute(100)}},
	{"3perSecond-burst6+7perMinute-burst10", []store.Limit{{Requests: 3, Per: time.Second, Burst: 6}, {Requests: 7, Per: time.Minute, Burst: 10}}},
	{"5perSecond+30per10s-burst12", []store.Limit{store.PerSecond(5), {Requests: 30, Per: 10 * time.Second, Burst: 12}}},
}

// propertySeed is the fixed seed of the property tests; each configuration adds its index.
const propertySeed = 20260101

var propertyTests = func() []test {
	var tests []test
	for i, c := range invariantConfigs {
		seed := uint64(propertySeed + i)
		tests = append(tests,
			test{"RandomDemand/" + c.name, func(t *testing.T, h *harness) { testRandomDemand(t, h, c.limits, seed) }},
			test{"Saturation/" + c.name, func(t *testing.T, h *harness) { testSaturation(t, h, c.limits, seed) }},
		)
	}
	return tests
}()

// testRandomDemand sends random costs at random instants and checks every answer against the
// exact token bucket defined by its windows (see tokenModel), then checks the invariant itself
// over every pair of admitted instants.
func testRandomDemand(t *testing.T, h *harness, limits []store.Limit, seed uint64) {
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, seed))
	m := newTokenModel(limits)
	key := h.key("random")
	maxCost := m.minBurst()
	interval := m.limits[0].p / m.limits[0].r // µs per token of the first limit, rounded down
	var (
		pending    int64 = -1 // a refused cost to retry
		retryAfter time.Duration
	)
	for step := range 1500 {
		n := rng.Int64N(maxCost + 1)
		switch x := rng.IntN(20); {
		case x < 3: // the same instant again
		case x < 6:
			h.clk.Advance(time.Duration(rng.Int64N(20)+1) * time.Microsecond)
		case x < 13:
			h.clk.Advance(time.Duration(rng.Int64N(2*interval)+1) * time.Microsecond)
		case x < 14:
			h.clk.Advance(time.Duration(rng.Int64N(3*maxCost*interval)+1) * time.Microsecond)
		case pending < 0:
		case x < 18: // exactly when the last refusal said to come back
			h.clk.Advance(retryAfter)
			n = pending
		default: // a microsecond too early
			h.clk.Advance(retryAfter - time.Microsecond)
			n = pending
		}
		at := int64(h.elapsed() / time.Microsecond)
		d := h.take(t, key, limits, n)
		want := m.decide(at, n)
		require.Equal(t, want, d, "seed %d, step %d: Take(%d) at +%dµs", seed, step, n, at)
		if d.Allowed {
			m.admit(at, n)
			pending = -1
		} else {
			require.Positive(t, d.RetryAfter)
			pending, retryAfter = n, d.RetryAfter
		}
	}
	m.checkInvariant(t)
	t.Logf("%d instants with admissions, %d cost admitted", len(m.at), m.total())
}

// testSaturation keeps asking for more than the limits allow, retrying each refused take exactly
// when the store says, and checks that the admitted cost converges to the rate: never above
// Burst + Requests·t/Per, and short of it by at most one take's cost (for the tightest limit).
func testSaturation(t *testing.T, h *harness, limits []store.Limit, seed uint64) {
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, ^seed))
	m := newTokenModel(limits)
	var slowest int64 // µs per token of the limit with the lowest sustained rate
	for _, l := range m.limits {
		slowest = max(slowest, ceilDiv(l.p, l.r))
	}
	horizon := 600 * slowest

	for _, weighted := range []bool{false, true} {
		key := h.key("saturate")
		origin := h.clk.Now()
		maxCost := int64(1)
		if weighted {
			maxCost = max(1, m.minBurst()-1)
		}
		var admitted, at int64
		n := rng.Int64N(maxCost) + 1
		retried := false
		for {
			d := h.take(t, key, limits, n)
			if d.Allowed {
				admitted += n
				n = rng.Int64N(maxCost) + 1
				retried = false
				continue
			}
			require.False(t, retried, "Take(%d) refused after waiting the RetryAfter it was given", n)
			require.Positive(t, d.RetryAfter)
			next := int64((h.clk.Now().Sub(origin) + d.RetryAfter) / time.Microsecond)
			if next > horizon {
				at = int64(h.clk.Now().Sub(origin) / time.Microsecond)
				break
			}
			h.clk.Advance(d.RetryAfter)
			retried = true
		}
		// The run lasted until just before the pending take would be admitted: the window [0, horizon].
		reachesTightest := false
		for _, l := range m.limits {
			require.LessOrEqual(t, (admitted-l.b)*l.p, l.r*horizon,
				"%d admitted over %dµs exceeds %d + %d·t/%dµs", admitted, horizon, l.b, l.r, l.p)
			if (admitted+maxCost-l.b)*l.p >= l.r*horizon {
				reachesTightest = true
			}
		}
		require.True(t, reachesTightest, "weighted=%v: %d admitted over %dµs (last refusal at +%dµs) falls short of every limit by more than a take's cost",
			weighted, admitted, horizon, at)
	}
}

// tokenModel is the exact token bucket, written from its definition rather than as GCRA: a take of
// n at t is admitted exactly when, for every limit and every window [s, t] that starts at an
// admitted instant (or at t), the cost admitted in the window plus n stays within
// Burst + Requests·(t−s)/Per. All arithmetic is in integers: times in µs, rates as Requests/Per.
type tokenModel struct {
	limits []limitModel
	at     []int64 // the distinct instants with admissions, ascending
	cum    []int64 // cum[i] is the cost admitted at at[0..i]
}

type limitModel struct{ r, p, b int64 }

func newTokenModel(limits []store.Limit) *tokenModel {
	m := &tokenModel{}
	for _, l := range limits {
		m.limits = append(m.limits, limitModel{r: l.Requests, p: l.PerMicros(), b: l.EffectiveBurst()})
	}
	return m
}

func (m *tokenModel) minBurst() int64 {
	b := m.limits[0].b
	for _, l := range m.limits {
		b = min(b, l.b)
	}
	return b
}

func (m *tokenModel) total() int64 {
	if len(m.cum) == 0 {
		return 0
	}
	return m.cum[len(m.cum)-1]
}

// windows calls f for every window [s, t]: each admitted instant s and t itself, with the cost
// admitted in it so far.
func (m *tokenModel) windows(t int64, f func(s, spent int64)) {
	total := m.total()
	for i, s := range m.at {
		before := int64(0)
		if i > 0 {
			before = m.cum[i-1]
		}
		f(s, total-before)
	}
	if len(m.at) == 0 || m.at[len(m.at)-1] < t {
		f(t, 0)
	}
}

// decide returns the decision the contract requires for a take of n at t.
func (m *tokenModel) decide(t, n int64) store.Decision {
	d := store.Decision{Allowed: true, Remaining: -1}
	var wait int64
	for _, l := range m.limits {
		m.windows(t, func(s, spent int64) {
			// Admitted iff (spent+n−b)·p ≤ r·(t−s); the wait is the least w with equality at t+w.
			excess := (spent+n-l.b)*l.p - l.r*(t-s)
			if excess > 0 {
				d.Allowed = false
				wait = max(wait, ceilDiv(excess, l.r))
			}
		})
	}
	var after int64 // the cost this decision charges
	if d.Allowed {
		after = n
	} else {
		d.RetryAfter = time.Duration(wait) * time.Microsecond
	}
	for _, l := range m.limits {
		level := l.b * l.p // tokens left, scaled by p: the least over the windows, at most Burst
		var reset int64
		m.windows(t, func(s, spent int64) {
			spent += after
			level = min(level, l.b*l.p+l.r*(t-s)-spent*l.p)
			reset = max(reset, ceilDiv(spent*l.p-l.r*(t-s), l.r))
		})
		if d.Remaining < 0 || level/l.p < d.Remaining {
			d.Remaining = level / l.p
		}
		d.ResetAfter = max(d.ResetAfter, time.Duration(reset)*time.Microsecond)
	}
	return d
}

// admit records an admitted take of n at t, which is at or after every earlier instant.
func (m *tokenModel) admit(t, n int64) {
	if len(m.at) > 0 && m.at[len(m.at)-1] == t {
		m.cum[len(m.cum)-1] += n
		return
	}
	m.at = append(m.at, t)
	m.cum = append(m.cum, m.total()+n)
}

// checkInvariant checks, for every pair of admitted instants t0 ≤ t1 and every limit, that the cost
// admitted in [t0, t1] is at most Burst + Requests·(t1−t0)/Per.
func (m *tokenModel) checkInvariant(tb testing.TB) {
	tb.Helper()
	for _, l := range m.limits {
		for i, t0 := range m.at {
			before := int64(0)
			if i > 0 {
				before = m.cum[i-1]
			}
			for j := i; j < len(m.at); j++ {
				spent := m.cum[j] - before
				if (spent-l.b)*l.p > l.r*(m.at[j]-t0) {
					tb.Fatalf("%d admitted in [+%dµs, +%dµs] exceeds %d + %d·%dµs/%dµs", spent, t0, m.at[j], l.b, l.r, m.at[j]-t0, l.p)
				}
			}
		}
	}
}
