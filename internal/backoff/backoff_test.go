package backoff_test

import (
	"math"
	"testing"
	"time"

	"github.com/weir-go/weir/internal/backoff"
)

func TestExponential(t *testing.T) {
	for _, tc := range []struct {
		base, limit time.Duration
		multiplier  float64
		attempt     int
		want        time.Duration
	}{
		{100 * time.Millisecond, 10 * time.Second, 2, 1, 100 * time.Millisecond},
		{100 * time.Millisecond, 10 * time.Second, 2, 4, 800 * time.Millisecond},
		{100 * time.Millisecond, 10 * time.Second, 1.5, 3, 225 * time.Millisecond},
		{100 * time.Millisecond, 10 * time.Second, 2, 8, 10 * time.Second},
		{time.Second, 5 * time.Minute, 2, 1000, 5 * time.Minute},
		{time.Hour, math.MaxInt64, 2, 64, math.MaxInt64},
		{0, time.Second, 2, 5, 0},
		{time.Second, time.Second, 1, 50, time.Second},
	} {
		if got := backoff.Exponential(tc.base, tc.limit, tc.multiplier, tc.attempt); got != tc.want {
			t.Errorf("Exponential(%v, %v, %v, %d) = %v, want %v", tc.base, tc.limit, tc.multiplier, tc.attempt, got, tc.want)
		}
	}
}
