package client

import (
	"math"
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(1994, 11, 6, 8, 49, 30, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"120", 120 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"0", 0, true},
		{"2.0", 2 * time.Second, true},
		{"0.25", 250 * time.Millisecond, true},
		{"Sun, 06 Nov 1994 08:49:37 GMT", 7 * time.Second, true},  // IMF-fixdate
		{"Sunday, 06-Nov-94 08:49:37 GMT", 7 * time.Second, true}, // rfc850
		{"Sun Nov  6 08:49:37 1994", 7 * time.Second, true},       // asctime
		{"Sun, 06 Nov 1994 08:00:00 GMT", 0, true},                // a date in the past means now
		{"9223372037", maxRetryAfterSeconds * time.Second, true},  // absurd: capped, no overflow
		{"1e400", maxRetryAfterSeconds * time.Second, true},
		{"-1", 0, false},
		{"-0.5", 0, false},
		{"", 0, false},
		{"soon", 0, false},
		{"NaN", 0, false},
		{"Inf", 0, false},
		{"12abc", 0, false},
	} {
		got, ok := parseRetryAfter(tc.in, now)
		assert.Equal(t, tc.ok, ok, "%q", tc.in)
		assert.Equal(t, tc.want, got, "%q", tc.in)
	}
}

func TestRetryAfterMillisecondsHeader(t *testing.T) {
	resp := &http.Response{Header: http.Header{"Retry-After-Ms": {"1500"}}}
	d, ok := retryAfter(resp, time.Now())
	assert.True(t, ok)
	assert.Equal(t, 1500*time.Millisecond, d)
}

func FuzzParseRetryAfter(f *testing.F) {
	for _, s := range []string{"120", "2.0", "-1", "Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT",
		"Sun Nov  6 08:49:37 1994", "9223372037", "1e308", " 3 "} {
		f.Add(s)
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		d, ok := parseRetryAfter(s, now)
		if d < 0 || d > maxRetryAfterSeconds*time.Second+time.Second && d != math.MaxInt64 {
			t.Fatalf("parseRetryAfter(%q) = %v, out of range", s, d)
		}
		if !ok && d != 0 {
			t.Fatalf("parseRetryAfter(%q) = %v but not ok", s, d)
		}
	})
}
