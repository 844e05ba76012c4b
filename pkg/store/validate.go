package store

import (
	"fmt"
	"time"
)

// ValidateCost checks, for stores, that every limit can be enforced and that a take of n could
// ever fit: an invalid limit wraps ErrInvalid, a cost above a burst wraps ErrNeverAllowed. Every
// store answers bad input with these same errors.
func ValidateCost(key string, limits []Limit, n int64) error {
	for _, l := range limits {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("key %q: %w", key, err)
		}
		if n > l.EffectiveBurst() {
			return fmt.Errorf("%w: key %q: cost %d exceeds the burst of %s", ErrNeverAllowed, key, n, l)
		}
	}
	return nil
}

// ValidateTakes checks a TakeOrdered call's input: at least one limit, and costs that are ≥ 0
// and could each fit.
func ValidateTakes(key string, limits []Limit, costs []int64) error {
	if len(limits) == 0 {
		return fmt.Errorf("%w: key %q: no limits given", ErrInvalid, key)
	}
	for _, n := range costs {
		if n < 0 {
			return fmt.Errorf("%w: key %q: cost must be ≥ 0, got %d", ErrInvalid, key, n)
		}
		if err := ValidateCost(key, limits, n); err != nil {
			return err
		}
	}
	return nil
}

// ValidateJob checks a job against a queue's policy (after WithDefaults), with the errors every
// store gives.
func ValidateJob(p QueuePolicy, nj NewJob) error {
	if err := p.Validate(); err != nil {
		return err
	}
	switch {
	case nj.Priority < 0 || nj.Priority > MaxPriority:
		return fmt.Errorf("%w: job priority must be in [0, %d], got %d", ErrInvalid, MaxPriority, nj.Priority)
	case len(nj.Payload) > p.MaxPayload:
		return fmt.Errorf("%w: job payload of %d bytes exceeds MaxPayload %d", ErrInvalid, len(nj.Payload), p.MaxPayload)
	case nj.Delay < 0:
		return fmt.Errorf("%w: job delay must be ≥ 0, got %v", ErrInvalid, nj.Delay)
	}
	return nil
}

// ValidateLease checks a lease length for Dequeue and Extend: it must be positive. The error
// wraps ErrInvalid.
func ValidateLease(lease time.Duration) error {
	if lease <= 0 {
		return fmt.Errorf("%w: lease must be > 0, got %v", ErrInvalid, lease)
	}
	return nil
}
