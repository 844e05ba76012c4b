package headers

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// RetryAfter reads what h asks the client to wait, counted from now, the response's arrival:
// Retry-After (see ParseRetryAfter), or, when that is absent or unusable, the retry-after-ms
// some SDKs send (see ParseRetryAfterMillis). Either field sent more than once with values that
// differ is ignored, whatever their order.
func RetryAfter(h http.Header, now time.Time) (time.Duration, bool) {
	if d, ok := ParseRetryAfter(singleton(h, "Retry-After"), now); ok {
		return d, true
	}
	return ParseRetryAfterMillis(singleton(h, "Retry-After-Ms"))
}

// ParseRetryAfter reads a Retry-After value (RFC 9110 §10.2.3), counted from now, the response's
// arrival: delay-seconds, leniently a decimal ("2.0", "1.5"), or an HTTP-date in any of its three
// forms. A date in the past means zero. Absurd values, including "Inf" and "NaN", are capped at
// MaxDelay: a server that says "wait" in a way no one can read has still said wait. Negative and
// unreadable values are ignored (ok false).
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if f, ok := parseFloat(v); ok {
		if f < 0 {
			return 0, false
		}
		return seconds(f), true
	}
	t, ok := parseHTTPDate(v, now)
	if !ok {
		return 0, false
	}
	return until(t, now), true
}

// ParseRetryAfterMillis reads the retry-after-ms header some SDKs send: a non-negative number of
// milliseconds, fractions allowed, capped like ParseRetryAfter.
func ParseRetryAfterMillis(v string) (time.Duration, bool) {
	f, ok := parseFloat(v)
	if !ok || f < 0 {
		return 0, false
	}
	if math.IsNaN(f) {
		return MaxDelay, true
	}
	return seconds(f / 1000), true
}

// parseHTTPDate reads the three HTTP-date forms. http.ParseTime reads an rfc850 two-digit year
// with Go's fixed pivot (69-99 are 19xx); RFC 9110 §5.6.7 instead wants the year nearest now, never
// more than 50 years ahead, so the century is chosen again here.
func parseHTTPDate(v string, now time.Time) (time.Time, bool) {
	t, err := http.ParseTime(v)
	if err != nil {
		return time.Time{}, false
	}
	if _, err := time.Parse(time.RFC850, v); err == nil {
		ny := now.Year()
		y := ny - ny%100 + t.Year()%100
		switch {
		case y > ny+50:
			y -= 100
		case y <= ny-50:
			y += 100
		}
		t = t.AddDate(y-t.Year(), 0, 0)
	}
	return t, true
}
