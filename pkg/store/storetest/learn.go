package storetest

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/store"
)

var learnTests = []test{
	{"PaceSpreadsRequests", testLearnPace},
	{"PaceLapsesAtUntil", testLearnLapse},
	{"ZeroPaceChangesNothing", testLearnZero},
	{"PastUntilIgnored", testLearnPast},
	{"UnitPaceChargesCost", testLearnUnits},
	{"ConfiguredLimitStaysCeiling", testLearnCeiling},
	{"PaceRefusalChargesNothing", testLearnRefusalCharges},
	{"OrderedTakesHonourPace", testLearnOrdered},
	{"BackoffFirstCut", testBackoffFirst},
	{"BackoffEpisodeCutsOnce", testBackoffEpisode},
	{"BackoffCutsToAdmittedRate", testBackoffAdmitted},
	{"BackoffFarAgainHalvesAtMost", testBackoffFarAgain},
	{"BackoffCloseCutPausesOneInterval", testBackoffClose},
	{"BackoffRetryAfter", testBackoffRetryAfter},
	{"BackoffRecoversToCeiling", testBackoffRecovers},
	{"BackoffHold", testBackoffHold},
	{"BackoffEpisodeEndsWithPause", testBackoffEpisodeEnds},
	{"BackoffFirstRoundTrip", testBackoffRoundTrip},
	{"BackoffSentBeforeCutIsNoNews", testBackoffSentBefore},
	{"BadInput", testLearnBadInput},
}

func (h *harness) learner(t *testing.T) store.Learner {
	t.Helper()
	l, ok := h.s.(store.Learner)
	require.True(t, ok, "the store does not implement store.Learner")
	return l
}

func (h *harness) learned(t *testing.T, key string) store.Learned {
	t.Helper()
	got, err := h.learner(t).Learned(h.ctx, key)
	require.NoError(t, err)
	return got
}

func (h *harness) learn(t *testing.T, key string, req, units store.Pace) {
	t.Helper()
	require.NoError(t, h.learner(t).Learn(h.ctx, key, req, units))
}

func (h *harness) backoff(t *testing.T, key string, b store.Backoff) store.Learned {
	t.Helper()
	got, err := h.learner(t).Backoff(h.ctx, key, b)
	require.NoError(t, err)
	return got
}

// fast is a configured limit far above anything the tests learn.
var fast = []store.Limit{store.PerSecond(1000).WithBurst(1000)}

func testLearnPace(t *testing.T, h *harness) {
	key := h.key("pace")
	// 5 left for the next second: one every 200ms.
	h.learn(t, key, store.Pace{Interval: 200 * time.Millisecond, Burst: 1, Until: h.clk.Now().Add(time.Second)}, store.Pace{})
	d := h.take(t, key, fast, 1)
	require.True(t, d.Allowed)
	require.Equal(t, 200*time.Millisecond, d.Paced)
	d = h.take(t, key, fast, 1)
	require.False(t, d.Allowed, "burst 1: the second take waits")
	require.Equal(t, 200*time.Millisecond, d.RetryAfter)
	h.clk.Advance(200 * time.Millisecond)
	require.True(t, h.take(t, key, fast, 1).Allowed)
	got := h.learned(t, key)
	require.Equal(t, 200*time.Millisecond, got.Requests.Interval)
	require.Equal(t, int64(1), got.Requests.Burst)
	require.True(t, got.Requests.Until.Equal(Start.Add(time.Second)))
	require.Zero(t, got.Units)
}

func testLearnLapse(t *testing.T, h *harness) {
	key := h.key("lapse")
	h.learn(t, key, store.Pace{Interval: time.Second, Burst: 1, Until: h.clk.Now().Add(2 * time.Second)}, store.Pace{})
	require.True(t, h.take(t, key, fast, 1).Allowed)
	require.False(t, h.take(t, key, fast, 1).Allowed)
	h.clk.Advance(2 * time.Second)
	require.Equal(t, int64(1000), h.drain(t, key, fast), "the pace lapsed: the configured limit alone")
	require.Zero(t, h.learned(t, key).Requests)
	require.Zero(t, h.take(t, key, fast, 0).Paced)
}

func testLearnZero(t *testing.T, h *harness) {
	key := h.key("zero")
	h.learn(t, key, store.Pace{Interval: time.Second, Burst: 2, Until: h.clk.Now().Add(time.Minute)}, store.Pace{})
	h.learn(t, key, store.Pace{}, store.Pace{})
	require.Equal(t, time.Second, h.learned(t, key).Requests.Interval)
	// A replacement keeps the bucket: two taken, then a faster pace still counts them.
	require.Equal(t, int64(2), h.drain(t, key, fast))
	h.learn(t, key, store.Pace{Interval: 500 * time.Millisecond, Burst: 2, Until: h.clk.Now().Add(time.Minute)}, store.Pace{})
	d := h.take(t, key, fast, 1)
	require.False(t, d.Allowed, "the bucket kept its state across the replacement")
}

func testLearnPast(t *testing.T, h *harness) {
	key := h.key("past")
	h.learn(t, key, store.Pace{Interval: time.Second, Burst: 1, Until: h.clk.Now()}, store.Pace{})
	require.Zero(t, h.learned(t, key).Requests)
	require.Equal(t, int64(1000), h.drain(t, key, fast))
}

func testLearnUnits(t *testing.T, h *harness) {
	key := h.key("units")
	// 100 tokens a second, 100 at once; requests unpaced.
	h.learn(t, key, store.Pace{}, store.Pace{Interval: 10 * time.Millisecond, Burst: 100, Until: h.clk.Now().Add(time.Minute)})
	require.True(t, h.take(t, key, fast, 60).Allowed)
	d := h.take(t, key, fast, 60)
	require.False(t, d.Allowed)
	require.Equal(t, 200*time.Millisecond, d.RetryAfter, "20 tokens short at 10ms each")
	require.Zero(t, d.Paced, "no request pace")
	h.clk.Advance(200 * time.Millisecond)
	require.True(t, h.take(t, key, fast, 60).Allowed)
	// A take above the pace's burst is charged the burst: held back, never refused for good.
	h.clk.Advance(time.Second)
	require.True(t, h.take(t, key, fast, 150).Allowed)
	d = h.take(t, key, fast, 1)
	require.False(t, d.Allowed)
	require.Equal(t, 10*time.Millisecond, d.RetryAfter)
}

func testLearnCeiling(t *testing.T, h *harness) {
	key := h.key("ceiling")
	slow := []store.Limit{{Requests: 2, Per: time.Second, Burst: 2}}
	// The server says 100 a second: the configured 2 a second still rules.
	h.learn(t, key, store.Pace{Interval: 10 * time.Millisecond, Burst: 100, Until: h.clk.Now().Add(time.Minute)}, store.Pace{})
	require.Equal(t, int64(2), h.drain(t, key, slow))
}

func testLearnRefusalCharges(t *testing.T, h *harness) {
	key := h.key("refusal")
	limits := []store.Limit{{Requests: 1, Per: time.Second, Burst: 1}}
	h.learn(t, key, store.Pace{Interval: 100 * time.Millisecond, Burst: 1, Until: h.clk.Now().Add(time.Minute)}, store.Pace{})
	require.True(t, h.take(t, key, limits, 1).Allowed)
	h.clk.Advance(100 * time.Millisecond)
	// The pace admits, the configured limit refuses: the pace is not charged.
	require.False(t, h.take(t, key, limits, 1).Allowed)
	h.clk.Advance(900 * time.Millisecond)
	require.True(t, h.take(t, key, limits, 1).Allowed)
}

func testLearnOrdered(t *testing.T, h *harness) {
	key := h.key("ordered")
	h.learn(t, key, store.Pace{Interval: 100 * time.Millisecond, Burst: 2, Until: h.clk.Now().Add(time.Minute)}, store.Pace{})
	ds, err := h.s.TakeOrdered(h.ctx, key, fast, []int64{1, 1, 1, 1})
	require.NoError(t, err)
	require.True(t, ds[0].Allowed)
	require.True(t, ds[1].Allowed)
	require.False(t, ds[2].Allowed)
	require.False(t, ds[3].Allowed)
	require.Equal(t, 100*time.Millisecond, ds[2].RetryAfter)
}

// bo is the Backoff of the tests: the configured limit's interval 1ms (1000/s).
func bo() store.Backoff {
	return store.Backoff{Factor: 0.5, Ceiling: time.Millisecond, Recover: 0, Pause: time.Second, RetryAfter: -1}
}

func testBackoffFirst(t *testing.T, h *harness) {
	key := h.key("first")
	got := h.backoff(t, key, bo())
	// Half the ceiling's rate (1000/s): 500/s, burst 1; paused for Pause, as nothing is known yet.
	require.Equal(t, 2*time.Millisecond, got.Requests.Interval)
	require.Equal(t, int64(1), got.Requests.Burst)
	require.True(t, got.Requests.Until.IsZero(), "a cut pace recovers instead of lapsing")
	require.Equal(t, int64(1), got.Cuts)
	require.True(t, got.Paused.Equal(Start.Add(time.Second)), "paused until %v", got.Paused)
	d := h.take(t, key, fast, 1)
	require.False(t, d.Allowed)
	require.Equal(t, time.Second, d.RetryAfter)
	require.Equal(t, 2*time.Millisecond, d.Paced)
}

func testBackoffEpisode(t *testing.T, h *harness) {
	key := h.key("episode")
	h.backoff(t, key, bo())
	h.clk.Advance(999 * time.Millisecond)
	got := h.backoff(t, key, bo())
	require.Equal(t, int64(1), got.Cuts, "within Pause of the cut: the same episode")
	require.Equal(t, 2*time.Millisecond, got.Requests.Interval)
}

// measureFar makes key's first cut, then lets 10 through in the second after its pause, far below
// the 500/s pace it set, and makes the second cut a second later, which it returns.
func measureFar(t *testing.T, h *harness, key string) store.Learned {
	h.backoff(t, key, bo())
	h.clk.Advance(time.Second)
	for range 10 {
		require.True(t, h.take(t, key, fast, 1).Allowed)
		h.clk.Advance(2 * time.Millisecond)
	}
	h.clk.Advance(time.Second - 20*time.Millisecond)
	return h.backoff(t, key, bo())
}

func testBackoffAdmitted(t *testing.T, h *harness) {
	got := measureFar(t, h, h.key("admitted"))
	require.Equal(t, int64(2), got.Cuts)
	// 10 admitted over the 2s since the cut: 5/s, which counts the pause: not cut again, one
	// every 200ms.
	require.Equal(t, 200*time.Millisecond, got.Requests.Interval)
	require.True(t, got.Paused.Equal(h.clk.Now().Add(time.Second)), "far above what was admitted: a full Pause")
}

func testBackoffFarAgain(t *testing.T, h *harness) {
	key := h.key("far-again")
	// The first measurement (as in testBackoffAdmitted): 5/s, one every 200ms.
	require.Equal(t, 200*time.Millisecond, measureFar(t, h, key).Requests.Interval)
	h.clk.Advance(time.Second)
	require.True(t, h.take(t, key, fast, 1).Allowed)
	h.clk.Advance(time.Second)
	require.True(t, h.take(t, key, fast, 1).Allowed)
	h.clk.Advance(time.Second)
	// 2 over 3s (0.67/s), far below the 5/s pace: no lower than half of it, 2.5/s.
	got := h.backoff(t, key, bo())
	require.Equal(t, int64(3), got.Cuts)
	require.Equal(t, 400*time.Millisecond, got.Requests.Interval)
	require.True(t, got.Paused.Equal(h.clk.Now().Add(time.Second)), "still far: a full Pause")
	// A third measurement far below that halves again: 1 over 2s (0.5/s) against 2.5/s.
	h.clk.Advance(time.Second)
	require.True(t, h.take(t, key, fast, 1).Allowed)
	h.clk.Advance(time.Second)
	require.Equal(t, 800*time.Millisecond, h.backoff(t, key, bo()).Requests.Interval)
}

func testBackoffClose(t *testing.T, h *harness) {
	key := h.key("close")
	b := bo()
	b.Ceiling = 100 * time.Millisecond // configured 10/s
	h.backoff(t, key, b)               // 5/s: one every 200ms
	h.clk.Advance(time.Second)
	for range 5 {
		require.True(t, h.take(t, key, fast, 1).Allowed)
		h.clk.Advance(200 * time.Millisecond)
	}
	// 5 admitted over 2s: 2.5/s; the pace (5/s) is not more than twice that: cut the pace.
	got := h.backoff(t, key, b)
	require.Equal(t, 400*time.Millisecond, got.Requests.Interval)
	require.True(t, got.Paused.Equal(h.clk.Now().Add(400*time.Millisecond)), "close to what the server allows: one interval")
}

func testBackoffRetryAfter(t *testing.T, h *harness) {
	key := h.key("retry-after")
	b := bo()
	b.RetryAfter = 3 * time.Second
	got := h.backoff(t, key, b)
	require.True(t, got.Paused.Equal(Start.Add(3*time.Second)))
	// Within the episode no cut, but the server's word still pauses.
	h.clk.Advance(500 * time.Millisecond)
	b.RetryAfter = 5 * time.Second
	got = h.backoff(t, key, b)
	require.Equal(t, int64(1), got.Cuts)
	require.True(t, got.Paused.Equal(h.clk.Now().Add(5*time.Second)))
}

func testBackoffRecovers(t *testing.T, h *harness) {
	key := h.key("recovers")
	b := bo()
	b.Ceiling = 100 * time.Millisecond // 10/s
	b.Recover = 0.25                   // each admitted take adds a quarter of the cut rate
	b.RetryAfter = 0
	got := h.backoff(t, key, b) // 5/s
	require.Equal(t, 200*time.Millisecond, got.Requests.Interval)
	ten := []store.Limit{store.PerSecond(10)} // the configured ceiling the takes carry
	var intervals []time.Duration
	for range 4 {
		h.clk.Advance(time.Second)
		d := h.take(t, key, ten, 1)
		require.True(t, d.Allowed)
		intervals = append(intervals, d.Paced)
	}
	// 5 → 6.25 → 7.5 → 8.75 → 10/s: back at the ceiling, the pace ends.
	require.Equal(t, []time.Duration{160 * time.Millisecond, 133334 * time.Microsecond, 114286 * time.Microsecond, 0}, intervals)
	require.Zero(t, h.learned(t, key).Requests)
}

func testLearnBadInput(t *testing.T, h *harness) {
	l := h.learner(t)
	key := h.key("bad")
	until := h.clk.Now().Add(time.Minute)
	for _, p := range []store.Pace{
		{Interval: time.Nanosecond, Burst: 1, Until: until},
		{Interval: time.Second, Burst: 0, Until: until},
		{Interval: time.Second, Burst: 1},
	} {
		require.ErrorIs(t, l.Learn(h.ctx, key, p, store.Pace{}), store.ErrInvalid, "%+v", p)
		require.ErrorIs(t, l.Learn(h.ctx, key, store.Pace{}, p), store.ErrInvalid, "%+v", p)
	}
	for _, b := range []store.Backoff{
		{Factor: 0, Ceiling: time.Millisecond, Pause: time.Second},
		{Factor: 1, Ceiling: time.Millisecond, Pause: time.Second},
		{Factor: 0.5, Ceiling: 0, Pause: time.Second},
		{Factor: 0.5, Ceiling: time.Millisecond, Recover: 2, Pause: time.Second},
		{Factor: 0.5, Ceiling: time.Millisecond, Pause: 0},
		{Factor: 0.5, Ceiling: time.Millisecond, Pause: time.Second, RoundTrip: -time.Millisecond},
		{Factor: 0.5, Ceiling: time.Millisecond, Pause: time.Second, RoundTrip: 2 * time.Hour},
	} {
		_, err := l.Backoff(h.ctx, key, b)
		require.ErrorIs(t, err, store.ErrInvalid, "%+v", b)
	}
	_, err := l.Learned(h.ctx, "")
	require.ErrorIs(t, err, store.ErrInvalid)
}

func testBackoffHold(t *testing.T, h *harness) {
	key := h.key("hold")
	b := bo()
	b.Hold, b.RetryAfter = true, 2*time.Second
	got := h.backoff(t, key, b)
	require.True(t, got.Paused.Equal(Start.Add(2*time.Second)))
	// No cut: one at a time at the configured rate (1ms).
	require.Equal(t, time.Millisecond, got.Requests.Interval)
	require.Equal(t, int64(1), got.Requests.Burst)
	require.True(t, got.Requests.Until.Equal(Start.Add(62*time.Second)), "a minute past the pause: %v", got.Requests.Until)
	h.clk.Advance(2 * time.Second)
	for range 10 {
		require.True(t, h.take(t, key, fast, 1).Allowed)
		h.clk.Advance(100 * time.Millisecond)
	}
	// 10 admitted in 3 s, far below the pace: held at twice the admitted rate, 1 every 150ms.
	got = h.backoff(t, key, b)
	require.Equal(t, 150*time.Millisecond, got.Requests.Interval)
	require.True(t, got.Paused.Equal(h.clk.Now().Add(2*time.Second)))
}

func testBackoffEpisodeEnds(t *testing.T, h *harness) {
	key := h.key("episode-ends")
	b := bo()
	b.Hold, b.RetryAfter = true, 100*time.Millisecond
	require.Equal(t, int64(1), h.backoff(t, key, b).Cuts)
	h.clk.Advance(50 * time.Millisecond)
	require.Equal(t, int64(1), h.backoff(t, key, b).Cuts, "still paused: sent before the pause, no news")
	h.clk.Advance(100 * time.Millisecond)
	require.Equal(t, int64(2), h.backoff(t, key, b).Cuts, "the pause is over: a refusal now is news")
}

func testBackoffRoundTrip(t *testing.T, h *harness) {
	// The first hold knows nothing of the server's rate: no faster than one request per
	// ProbeRoundTrips round trips (5ms each: one every 20ms), not the configured 1ms.
	key := h.key("round-trip-hold")
	b := bo()
	b.Hold, b.RetryAfter, b.RoundTrip = true, time.Second, 5*time.Millisecond
	got := h.backoff(t, key, b)
	require.Equal(t, contract.ProbeRoundTrips*5*time.Millisecond, got.Requests.Interval)
	require.True(t, got.Requests.Until.IsZero(), "a probe grows back to the ceiling instead of lapsing")
	// Refusals of the same episode that came back sooner lower the interval to that many of the
	// shortest round trips; slower ones change nothing.
	b.RoundTrip = 2 * time.Millisecond
	got = h.backoff(t, key, b)
	require.Equal(t, int64(1), got.Cuts)
	require.Equal(t, contract.ProbeRoundTrips*2*time.Millisecond, got.Requests.Interval)
	b.RoundTrip = 3 * time.Millisecond
	require.Equal(t, contract.ProbeRoundTrips*2*time.Millisecond, h.backoff(t, key, b).Requests.Interval)
	// The first cut likewise, cut by its factor (0.5): twice that.
	key = h.key("round-trip-cut")
	b = bo()
	b.RoundTrip = 5 * time.Millisecond
	got = h.backoff(t, key, b)
	require.Equal(t, 2*contract.ProbeRoundTrips*5*time.Millisecond, got.Requests.Interval)
	// A round trip longer than the configured interval caps nothing once the key has a history:
	// the second cut goes from what was admitted.
	h.clk.Advance(2 * time.Second)
	for i := range 10 {
		d := h.take(t, key, fast, 1)
		require.True(t, d.Allowed)
		if i == 0 {
			// The probe grows by ProbeGrowth of its rate per admitted take: 25/s → 27.5/s.
			require.Equal(t, 36364*time.Microsecond, d.Paced)
		}
		h.clk.Advance(40 * time.Millisecond)
	}
	b.RoundTrip = time.Second
	got = h.backoff(t, key, b)
	require.Equal(t, int64(2), got.Cuts)
	// 10 admitted over 2.4s (4.17/s); the pace (25/s) is far above: that rate, one every 240ms.
	require.Equal(t, 240*time.Millisecond, got.Requests.Interval)
}

func testBackoffSentBefore(t *testing.T, h *harness) {
	key := h.key("sent-before")
	b := bo()
	b.Ceiling = 100 * time.Millisecond // 10/s
	b.RetryAfter = 0                   // no pause: only the round trip tells the episode
	require.Equal(t, int64(1), h.backoff(t, key, b).Cuts)
	h.clk.Advance(300 * time.Millisecond)
	// Refused 300ms after the cut, but sent 400ms ago: before the cut, no news.
	b.RoundTrip = 400 * time.Millisecond
	require.Equal(t, int64(1), h.backoff(t, key, b).Cuts)
	// Sent 200ms ago, after the cut: news.
	b.RoundTrip = 200 * time.Millisecond
	require.Equal(t, int64(2), h.backoff(t, key, b).Cuts)
}
