package memory_test

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/time/rate"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// TestAgreesWithXTimeRate drives the memory store and golang.org/x/time/rate with the same costs at
// the same instants and requires the same decision every time.
//
// Why the comparison can be exact: every instant is a whole microsecond and a limit's interval is
// Per/Requests, so the exact instant at which a take becomes admissible is either the instant
// itself or at least 1/Requests µs away from it. x/time/rate decides in float64 and admits when
// its wait, truncated to whole nanoseconds, is zero. Exactly on a boundary its deficit is a
// rounding error (~1e-15 tokens), far less than a nanosecond's worth, so it admits as we do; off a
// boundary by 1/Requests µs, its wait is at least 1ns when Requests ≤ 1000, so it refuses as we
// do. The test counts the exact boundaries it lands on (by retrying refused takes exactly at their
// RetryAfter), to show they are exercised, not avoided.
//
// Where Requests > 1000 that no longer holds: x/time/rate admits up to 1ns early, where the exact
// bucket must refuse. For such limits, and only at instants where the exact boundary lies at most
// tolerance after the instant, the test moves the instant on by 1µs before asking either side;
// it reports how often it did.
func TestAgreesWithXTimeRate(t *testing.T) {
	const tolerance = 2 * time.Nanosecond // x/time/rate's 1ns truncation plus float error
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	limits := []store.Limit{
		store.PerSecond(10),
		store.PerMinute(100),
		store.PerSecond(3),
		store.PerMinute(7),
		{Requests: 10, Per: time.Second, Burst: 3},
		{Requests: 100, Per: time.Minute, Burst: 250},
		{Requests: 7, Per: time.Minute, Burst: 1},
		{Requests: 3, Per: time.Second, Burst: 7},
		{Requests: 4999, Per: time.Second, Burst: 50}, // intervals of 200.04µs: 1/Requests µs < 1ns
	}
	for i, l := range limits {
		t.Run(fmt.Sprintf("%d_per_%v_burst_%d", l.Requests, l.Per, l.EffectiveBurst()), func(t *testing.T) {
			seed := uint64(20260101 + i)
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, seed))
			clk := clock.NewFake(start)
			s := memory.New(memory.Options{Clock: clk})
			lim := rate.NewLimiter(rate.Limit(float64(l.Requests)/l.Per.Seconds()), int(l.EffectiveBurst()))

			// The exact bucket, to know where the boundaries are: tat is in units of 1/R µs.
			r, p, b := l.Requests, l.PerMicros(), l.EffectiveBurst()
			var tat int64
			slack := func(n int64) int64 { // how far past the boundary now is, in 1/R µs
				return clk.Now().Sub(start).Microseconds()*r - (tat + n*p - b*p)
			}

			var (
				pending             int64 = -1
				retryAfter          time.Duration
				onBoundary, nudged  int
				admitted, decisions int
			)
			for step := range 20000 {
				n := rng.Int64N(b + 1)
				switch x := rng.IntN(10); {
				case x < 1: // the same instant again
				case x < 3:
					clk.Advance(time.Duration(rng.Int64N(20)+1) * time.Microsecond)
				case x < 6:
					clk.Advance(time.Duration(rng.Int64N(2*p/r)+1) * time.Microsecond)
				case x < 7:
					clk.Advance(time.Duration(rng.Int64N(2*b*p/r)+1) * time.Microsecond)
				case pending < 0:
				case x < 9: // exactly when the store said to come back
					clk.Advance(retryAfter)
					n = pending
				default: // the last microsecond before it
					clk.Advance(retryAfter - time.Microsecond)
					n = pending
				}
				for sl := slack(n); sl < 0 && time.Duration(-sl)*time.Microsecond < tolerance*time.Duration(r); sl = slack(n) {
					clk.Advance(time.Microsecond)
					nudged++
				}
				if slack(n) == 0 {
					onBoundary++
				}

				d, err := s.Take(t.Context(), "key", []store.Limit{l}, n)
				require.NoError(t, err)
				tokens := lim.TokensAt(clk.Now())
				want := lim.AllowN(clk.Now(), int(n))
				require.Equal(t, want, d.Allowed, "step %d at +%v: Take(%d) (x/time/rate: %v with %.9f tokens)",
					step, clk.Now().Sub(start), n, want, tokens)
				require.Equal(t, slack(n) >= 0, d.Allowed, "step %d: the store disagrees with the exact bucket", step)

				decisions++
				if d.Allowed {
					admitted++
					tat = max(tat, clk.Now().Sub(start).Microseconds()*r) + n*p
					pending = -1
				} else {
					pending, retryAfter = n, d.RetryAfter
				}
			}
			t.Logf("%d decisions, %d admitted, %d exactly on a boundary, %d instants moved off a boundary",
				decisions, admitted, onBoundary, nudged)
			require.Positive(t, onBoundary, "no decision landed exactly on a boundary")
			if time.Microsecond/time.Duration(r) >= tolerance {
				require.Zero(t, nudged, "1/Requests µs is at least the tolerance: no instant can be that close to a boundary")
			}
		})
	}
}
