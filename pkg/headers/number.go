package headers

import (
	"errors"
	"math"
	"strconv"
	"strings"
	"time"
)

// maxDelaySeconds is MaxDelay in seconds: every float is compared with it before it is multiplied
// into nanoseconds, so no conversion can overflow.
const maxDelaySeconds = float64(MaxDelay / time.Second)

// epochThreshold separates the two meanings of an x-ratelimit-reset style value: above it (about
// 31 years) no delay is sane, so the value is a Unix time.
const epochThreshold = 1e9

// seconds converts a number of seconds to a Duration in [0, MaxDelay]. +Inf and NaN give
// MaxDelay; callers that mean to refuse NaN check for it first.
func seconds(f float64) time.Duration {
	if !(f < maxDelaySeconds) {
		return MaxDelay
	}
	if f <= 0 {
		return 0
	}
	return time.Duration(math.Round(f * float64(time.Second)))
}

// until returns the time from now to t, in [0, MaxDelay].
func until(t, now time.Time) time.Duration {
	return min(max(t.Sub(now), 0), MaxDelay)
}

// parseFloat reads a plain decimal number with optional sign, fraction and exponent, or one of the
// words inf, infinity and nan. It refuses what strconv.ParseFloat alone would also take (hex
// floats, underscores), which no server means as a count of seconds. Out-of-range values come back
// as ±Inf (or 0 on underflow), not as errors.
func parseFloat(s string) (float64, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case '0' <= c && c <= '9', c == '.', c == '+', c == '-', c == 'e', c == 'E':
		default:
			w := strings.ToLower(strings.TrimLeft(s, "+-"))
			if w != "inf" && w != "infinity" && w != "nan" || len(s)-len(w) > 1 {
				return 0, false
			}
			i = len(s)
		}
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return 0, false
	}
	return f, true
}

// parseCount reads a count: an integer, or a decimal that is floored ("599.0" is 599). Values
// beyond int64 clamp to its range. NaN and garbage are not counts.
func parseCount(s string) (int64, bool) {
	s = strings.TrimSpace(s)
	if s == "" { // the common case, an absent header: strconv would allocate an error to say so
		return 0, false
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	} else if errors.Is(err, strconv.ErrRange) {
		return n, true // ParseInt saturates to the nearer end of int64
	}
	f, ok := parseFloat(s)
	if !ok || math.IsNaN(f) {
		return 0, false
	}
	f = math.Floor(f)
	switch {
	case f >= math.MaxInt64: // float64(MaxInt64) is 2^63, itself out of range
		return math.MaxInt64, true
	case f < math.MinInt64:
		return math.MinInt64, true
	}
	return int64(f), true
}

// limitValue reads a quota size: -1 when absent, unreadable or negative.
func limitValue(s string) int64 {
	n, ok := parseCount(s)
	if !ok || n < 0 {
		return -1
	}
	return n
}

// remainingValue reads what is left of a quota: -1 when absent or unreadable, 0 when negative (a
// server that counts past its limit means nothing is left).
func remainingValue(s string) int64 {
	n, ok := parseCount(s)
	if !ok {
		return -1
	}
	return max(n, 0)
}

// delayValue reads a non-negative delay in seconds, fractions allowed, capped at MaxDelay.
// Negative, NaN and garbage values are not delays.
func delayValue(s string) (time.Duration, bool) {
	f, ok := parseFloat(s)
	if !ok || math.IsNaN(f) || f < 0 {
		return 0, false
	}
	return seconds(f), true
}

// epochValue converts Unix seconds (fractions allowed) to the time from now, in [0, MaxDelay].
func epochValue(f float64, now time.Time) time.Duration {
	if f > 1e15 { // tens of millions of years: time.Unix would wrap, and the cap applies anyway
		return MaxDelay
	}
	sec := math.Floor(f)
	return until(time.Unix(int64(sec), int64((f-sec)*float64(time.Second))), now)
}

// resetValue reads a reset that may be a delay in seconds or a Unix time: a value above
// epochThreshold is a Unix time. epoch reports which it was.
func resetValue(s string, now time.Time) (d time.Duration, epoch, ok bool) {
	f, ok := parseFloat(s)
	if !ok || math.IsNaN(f) || f < 0 {
		return 0, false, false
	}
	if f > epochThreshold {
		return epochValue(f, now), true, true
	}
	return seconds(f), false, true
}
