// Package backoff computes exponential retry delays, before jitter: the client's retries and the
// queue's share the formula, each with its own parameters and jitter.
package backoff

import (
	"math"
	"time"
)

// Exponential returns base·multiplier^(attempt-1), capped at limit; attempt counts from 1. A
// delay too large for a time.Duration is limit.
func Exponential(base, limit time.Duration, multiplier float64, attempt int) time.Duration {
	d := float64(base) * math.Pow(multiplier, float64(attempt-1))
	if d >= float64(limit) {
		return limit
	}
	return time.Duration(d)
}
