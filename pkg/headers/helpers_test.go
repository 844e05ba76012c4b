package headers

import (
	"net/http"
	"strconv"
	"testing"
	"time"
)

// testNow is the arrival time of every response in the table tests.
var testNow = time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)

// header builds a header from name, value pairs, through Add as a server's response would be.
func header(kv ...string) http.Header {
	h := http.Header{}
	for i := 0; i+1 < len(kv); i += 2 {
		h.Add(kv[i], kv[i+1])
	}
	return h
}

// epochIn is the Unix time d after testNow, as a header value.
func epochIn(d time.Duration) string {
	return strconv.FormatInt(testNow.Add(d).Unix(), 10)
}

func quota(name, unit string, limit, remaining int64, reset, window time.Duration) Quota {
	return Quota{Name: name, Unit: unit, Limit: limit, Remaining: remaining, Reset: reset, Window: window}
}

// checkQuotas asserts what holds of every quota any parser returns.
func checkQuotas(tb testing.TB, quotas []Quota) {
	tb.Helper()
	for i, q := range quotas {
		if q.Limit < -1 {
			tb.Errorf("quota %d: Limit %d < -1", i, q.Limit)
		}
		if q.Remaining < -1 {
			tb.Errorf("quota %d: Remaining %d < -1", i, q.Remaining)
		}
		if q.Reset != -1 && (q.Reset < 0 || q.Reset > MaxDelay) {
			tb.Errorf("quota %d: Reset %v outside {-1} ∪ [0, MaxDelay]", i, q.Reset)
		}
		if q.Window < 0 || q.Window > MaxDelay {
			tb.Errorf("quota %d: Window %v outside [0, MaxDelay]", i, q.Window)
		}
		if q.Unit == "" {
			tb.Errorf("quota %d: no Unit", i)
		}
		if q.Limit < 0 && q.Remaining < 0 && q.Reset < 0 && q.Window == 0 {
			tb.Errorf("quota %d says nothing: %+v", i, q)
		}
	}
}

// checkDelay asserts that a parsed delay is within [0, MaxDelay].
func checkDelay(tb testing.TB, what string, d time.Duration, ok bool) {
	tb.Helper()
	if ok && (d < 0 || d > MaxDelay) {
		tb.Errorf("%s: %v outside [0, MaxDelay]", what, d)
	}
}
