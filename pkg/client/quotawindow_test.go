package client

import (
	"math"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/headers"
)

// The quota below is a demo API's: whole-second windows on the clock, the time to the reset
// rounded up to whole seconds (always "1" in a one-second window).
var base = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

func sec(s float64) time.Time { return base.Add(time.Duration(math.Round(s*1000)) * time.Millisecond) }

// heard is one response: remaining r and a reset of t seconds, its request sent at sent and
// answered at now (seconds after base), of a quota whose stated window is window.
type heard struct {
	sent, now float64
	r         int64
	t         time.Duration
	window    time.Duration
}

// demoAdmits is what the worker demo's configured limit admits: 10 at once, then 50 a second.
func demoAdmits(d time.Duration) int64 { return 10 + int64(d/(20*time.Millisecond)) }

// hearAll plays responses to a fresh quotaWindow and returns it with what the last one reported.
func hearAll(rs ...heard) (*quotaWindow, bool) {
	w := &quotaWindow{least: -1}
	ok := false
	for _, h := range rs {
		q := headers.Quota{Name: "default", Unit: "requests", Limit: 60, Remaining: h.r, Reset: h.t, Window: h.window}
		ok = w.hear(q, sec(h.now), sec(h.sent), demoAdmits)
	}
	return w, ok
}

// A refill shows that a new window began: its reset is bounded by the first response in it, not
// by the last window's bound, which in a one-second window is not more than a second away either.
// (Keeping that bound until it passed, then taking the next response's, drifted the reset a
// response later each window, until "remaining is low" paced a key the quota never held back.)
func TestQuotaWindowRefillStartsNewWindow(t *testing.T) {
	w, ok := hearAll(
		heard{sent: 0.3, now: 0.301, r: 50, t: time.Second},
		heard{sent: 0.9, now: 0.901, r: 20, t: time.Second},
		heard{sent: 1.04, now: 1.041, r: 59, t: time.Second},
	)
	require.True(t, ok)
	assert.Equal(t, sec(2.041), w.reset, "the bound of the refilled window's first response")

	w, _ = hearAll(
		heard{sent: 0.3, now: 0.301, r: 50, t: time.Second},
		heard{sent: 1.04, now: 1.041, r: 59, t: time.Second},
		heard{sent: 1.5, now: 1.501, r: 40, t: time.Second},
	)
	assert.Equal(t, sec(2.041), w.reset, "later responses of the window keep its earliest bound")
}

// A request answered in the previous window whose answer comes after the refill (a slow answer)
// is old news: what was left then says nothing of the new window.
func TestQuotaWindowLateAnswerIsOldNews(t *testing.T) {
	w, ok := hearAll(
		heard{sent: 0.9, now: 0.901, r: 20, t: time.Second},
		heard{sent: 1.04, now: 1.041, r: 59, t: time.Second},
		heard{sent: 0.95, now: 1.2, r: 12, t: time.Second},
	)
	assert.False(t, ok)
	assert.Equal(t, sec(2.041), w.reset)
	assert.EqualValues(t, 59, w.least)

	// Sent before the window's bound and answered after it, an answer may be of either window.
	w, ok = hearAll(
		heard{sent: 0.3, now: 0.301, r: 20, t: time.Second},
		heard{sent: 1.2, now: 1.201, r: 0, t: time.Second},
		heard{sent: 1.1, now: 1.35, r: 3, t: time.Second},
	)
	assert.False(t, ok)
	assert.Equal(t, sec(1.301), w.reset, "no new window opened by it")

	// Answered out of order within one window, a request sent before the least arrived is no
	// refill, and one sent before the window opened but saying more is left is no old news.
	w, ok = hearAll(
		heard{sent: 0.5, now: 0.501, r: 30, t: time.Second},
		heard{sent: 0.52, now: 0.521, r: 28, t: time.Second},
		heard{sent: 0.51, now: 0.53, r: 29, t: time.Second},
	)
	assert.True(t, ok)
	assert.Equal(t, sec(1.501), w.reset, "still the first window")
}

// With a stated window, a refill heard tells where the windows end (between the least heard and
// the refill, and by the bound of the window it ended): later windows are bounded as tightly,
// even the one a process kept waiting for two windows hears of next.
func TestQuotaWindowStatedWindowCarriesBound(t *testing.T) {
	first := []heard{
		{sent: 0.001, now: 0.002, r: 59, t: time.Second, window: time.Second},
		{sent: 0.9, now: 0.901, r: 14, t: time.Second, window: time.Second},
		{sent: 1.59, now: 1.6, r: 30, t: time.Second, window: time.Second}, // a refill
	}
	w, _ := hearAll(first...)
	assert.Equal(t, sec(2.002), w.reset)
	w, _ = hearAll(append(first, heard{sent: 3.49, now: 3.5, r: 30, t: time.Second, window: time.Second})...)
	assert.Equal(t, sec(4.002), w.reset, "two windows on")

	// Without a stated window only the response is believed.
	for i := range first {
		first[i].window = 0
	}
	w, _ = hearAll(first...)
	assert.Equal(t, sec(2.6), w.reset)
}

// A bound from where the windows end that the window outlives (the server's windows are not
// fixed) gives way to what the next response says: a request sent after the bound found less left
// than a new window could have lost since the window was last answered.
func TestQuotaWindowOutlivedBoundGivesWay(t *testing.T) {
	w, ok := hearAll(
		heard{sent: 0.001, now: 0.002, r: 59, t: time.Second, window: time.Second},
		heard{sent: 0.9, now: 0.901, r: 14, t: time.Second, window: time.Second},
		heard{sent: 1.2, now: 1.201, r: 50, t: time.Second, window: time.Second}, // bounded by 2.002
		heard{sent: 1.9, now: 1.901, r: 15, t: time.Second, window: time.Second},
		heard{sent: 2.04, now: 2.05, r: 12, t: time.Second, window: time.Second}, // no refill after it
	)
	require.True(t, ok)
	assert.Equal(t, sec(3.05), w.reset)
	assert.EqualValues(t, 12, w.least, "the same window")

	// Kept waiting for two windows, a process hears of a spent quota: a window that may have
	// been spent since, ending where the windows end.
	w, _ = hearAll(
		heard{sent: 0.001, now: 0.002, r: 59, t: time.Second, window: time.Second},
		heard{sent: 0.95, now: 0.951, r: 20, t: time.Second, window: time.Second},
		heard{sent: 1.04, now: 1.05, r: 58, t: time.Second, window: time.Second},
		heard{sent: 2.9, now: 2.95, r: 0, t: time.Second, window: time.Second},
	)
	assert.Equal(t, sec(3.002), w.reset)
}

// Where the windows end narrows with each span heard, by whole windows; a span that fits twice
// tells nothing, and one at odds with it means the windows moved.
func TestPhaseNarrows(t *testing.T) {
	var p phase
	p.narrow(sec(0.9), sec(1.6), time.Second)
	p.refine(sec(0.9), sec(1.002), time.Second)
	assert.Equal(t, phase{sec(0.9), sec(1.002)}, p)
	p.narrow(sec(4.95), sec(5.5), time.Second)
	assert.Equal(t, phase{sec(4.95), sec(5.002)}, p, "four windows on")
	p.narrow(sec(7.0), sec(7.96), time.Second)
	assert.Equal(t, phase{sec(4.95), sec(5.002)}, p, "meets it at 7 and at 7.95")
	end, ok := p.end(sec(8.5), time.Second)
	assert.True(t, ok)
	assert.Equal(t, sec(9.002), end)

	p.narrow(sec(9.1), sec(9.2), time.Second)
	assert.Equal(t, phase{sec(9.1), sec(9.2)}, p, "at odds: believed")
	p.refine(sec(12.5), sec(12.6), time.Second)
	assert.Equal(t, phase{sec(9.1), sec(9.2)}, p, "a span taken for a window's is not")
}

// TestQuotaWindowsBounded has an upstream name a new quota on every answer: the windows one key's
// adapter follows stay bounded.
func TestQuotaWindowsBounded(t *testing.T) {
	a := &adapter{}
	for i := range 10 * maxQuotaWindows {
		q := headers.Quota{Name: "q" + strconv.Itoa(i), Unit: "requests", Limit: 60, Remaining: 30, Reset: time.Second}
		a.resetOf(q, sec(float64(i)), sec(float64(i)))
		require.LessOrEqual(t, len(a.windows), maxQuotaWindows)
	}
}
