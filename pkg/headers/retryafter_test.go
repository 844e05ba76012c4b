package headers

import (
	"testing"
	"time"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(1994, 11, 6, 8, 49, 30, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{"0", 0, true},
		{" 7 ", 7 * time.Second, true},
		{"\t3\t", 3 * time.Second, true},
		{"2.0", 2 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{"0.001", time.Millisecond, true},
		{"+5", 5 * time.Second, true},
		{"1e3", 1000 * time.Second, true},
		{"86400", MaxDelay, true},

		// Absurd: capped, never overflowing.
		{"86401", MaxDelay, true},
		{"1000000", MaxDelay, true},
		{"9223372037", MaxDelay, true},
		{"99999999999999999999999999", MaxDelay, true},
		{"1e300", MaxDelay, true},
		{"1e400", MaxDelay, true},
		{"Inf", MaxDelay, true},
		{"+Infinity", MaxDelay, true},
		{"NaN", MaxDelay, true},

		// Meaningless: ignored.
		{"-1", 0, false},
		{"-0.5", 0, false},
		{"-Inf", 0, false},
		{"", 0, false},
		{"   ", 0, false},
		{"soon", 0, false},
		{"12abc", 0, false},
		{"1 2", 0, false},
		{"0x10", 0, false},
		{"0x1p4", 0, false},
		{"1_000", 0, false},
		{"--1", 0, false},
		{"++Inf", 0, false},
		{"Infinit", 0, false},

		// The three HTTP-date forms, counted from now; past dates mean now.
		{"Sun, 06 Nov 1994 08:49:37 GMT", 7 * time.Second, true},  // IMF-fixdate
		{"Sunday, 06-Nov-94 08:49:37 GMT", 7 * time.Second, true}, // rfc850
		{"Sun Nov  6 08:49:37 1994", 7 * time.Second, true},       // asctime
		{" Sun, 06 Nov 1994 08:49:37 GMT ", 7 * time.Second, true},
		{"Sun, 06 Nov 1994 08:00:00 GMT", 0, true},
		{"Sunday, 06-Nov-94 08:00:00 GMT", 0, true},
		{"Sun Nov  6 08:00:00 1994", 0, true},
		{"Thu, 01 Jan 1970 00:00:00 GMT", 0, true},
		{"Fri, 31 Dec 9999 23:59:59 GMT", MaxDelay, true},
		{"Sun, 06 Nov 1994 08:49:37", 0, false},
		{"Sun, 06 Nov 1994 25:49:37 GMT", 0, false},
		{"06 Nov 1994", 0, false},
	} {
		got, ok := ParseRetryAfter(tc.in, now)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfter(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

// TestParseRetryAfterTwoDigitYear checks RFC 9110 §5.6.7: an rfc850 year is the one nearest now,
// never more than 50 years ahead. Go's own pivot would read "80" as 1980 in any century.
func TestParseRetryAfterTwoDigitYear(t *testing.T) {
	for _, tc := range []struct {
		now  time.Time
		in   string
		want time.Duration
	}{
		{testNow, "Saturday, 14-Mar-26 12:00:09 GMT", 9 * time.Second},
		{testNow, "Tuesday, 01-Jan-80 00:00:00 GMT", 0},                                           // 1980: past
		{time.Date(2075, 6, 1, 0, 0, 0, 0, time.UTC), "Monday, 01-Jan-80 00:00:00 GMT", MaxDelay}, // 2080, not 1980
		{time.Date(2075, 6, 1, 0, 0, 0, 0, time.UTC), "Saturday, 01-Jun-75 00:00:05 GMT", 5 * time.Second},
		{time.Date(2099, 12, 31, 23, 59, 59, 0, time.UTC), "Friday, 01-Jan-00 00:00:01 GMT", 2 * time.Second}, // 2100
	} {
		got, ok := ParseRetryAfter(tc.in, tc.now)
		if !ok || got != tc.want {
			t.Errorf("ParseRetryAfter(%q) at %v = %v, %v; want %v", tc.in, tc.now, got, ok, tc.want)
		}
	}
}

func TestParseRetryAfterMillis(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1500", 1500 * time.Millisecond, true},
		{" 250 ", 250 * time.Millisecond, true},
		{"0.5", 500 * time.Microsecond, true},
		{"0", 0, true},
		{"86400000", MaxDelay, true},
		{"1e20", MaxDelay, true},
		{"Inf", MaxDelay, true},
		{"NaN", MaxDelay, true},
		{"-1", 0, false},
		{"", 0, false},
		{"1500ms", 0, false},
		{"Sun, 06 Nov 1994 08:49:37 GMT", 0, false},
	} {
		got, ok := ParseRetryAfterMillis(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("ParseRetryAfterMillis(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}
