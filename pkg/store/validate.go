package store

import (
	"fmt"
	"time"
)

// Bounds of what callers pass, checked where a call enters a store: every name makes keys of its
// own, and every time a store computes from a duration stays exact (Lua numbers are doubles) and
// acceptable to Redis.
const (
	// MaxNameLen bounds, in bytes, a name that becomes part of a key: a queue name, a limiter
	// key, a breaker name, a job id chosen by the caller, an idempotency key.
	MaxNameLen = 256
	// MaxDelay bounds a job's Delay; a Retry or a Block reaching further counts as MaxDelay from
	// now. About 10 years.
	MaxDelay = 10 * 365 * 24 * time.Hour
	// MaxTTL bounds QueuePolicy's ResultTTL and IdempotencyTTL. About 10 years.
	MaxTTL = 10 * 365 * 24 * time.Hour
	// MaxLease bounds a lease (Dequeue, Extend): a longer job extends its lease as it goes.
	MaxLease = 24 * time.Hour
)

// ValidateTake checks a take's input, with the errors every store gives: at least one limit,
// each valid, and costs ≥ 0 (all wrap ErrInvalid); a cost above a limit's burst wraps
// ErrNeverAllowed. A Take passes its cost, a TakeOrdered all of them (given none, it checks only
// that there are limits).
func ValidateTake(key string, limits []Limit, costs ...int64) error {
	if len(limits) == 0 {
		return fmt.Errorf("%w: key %q: no limits given", ErrInvalid, key)
	}
	for i, n := range costs {
		if n < 0 {
			return fmt.Errorf("%w: key %q: cost must be ≥ 0, got %d", ErrInvalid, key, n)
		}
		for _, l := range limits {
			// Once the first cost has passed every limit, they are all valid.
			if i == 0 {
				if err := l.Validate(); err != nil {
					return fmt.Errorf("key %q: %w", key, err)
				}
			}
			if n > l.EffectiveBurst() {
				return fmt.Errorf("%w: key %q: cost %d exceeds the burst of %s", ErrNeverAllowed, key, n, l)
			}
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
	case nj.Delay < 0 || nj.Delay > MaxDelay:
		return fmt.Errorf("%w: job delay must be in [0, %v], got %v", ErrInvalid, MaxDelay, nj.Delay)
	}
	if nj.ID != "" {
		if err := ValidateName("job id", nj.ID); err != nil {
			return err
		}
	}
	if nj.IdempotencyKey != "" {
		return ValidateName("idempotency key", nj.IdempotencyKey)
	}
	return nil
}

// ValidateLease checks a lease length for Dequeue and Extend: positive, at most MaxLease. The
// error wraps ErrInvalid.
func ValidateLease(lease time.Duration) error {
	if lease <= 0 || lease > MaxLease {
		return fmt.Errorf("%w: lease must be in (0, %v], got %v", ErrInvalid, MaxLease, lease)
	}
	return nil
}

// ValidateName checks a name that becomes part of a store's keys; kind says what it names in the
// error ("queue name"). A name is 1 to MaxNameLen bytes, without braces (they delimit a Redis
// key's hash tag, so no two names share a key) or control characters (bytes below 0x20, 0x7f).
// The error wraps ErrInvalid.
func ValidateName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty %s", ErrInvalid, kind)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %s of %d bytes, more than %d (it starts %q)", ErrInvalid, kind, len(name), MaxNameLen, name[:32])
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '{' || c == '}' || c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %s %q holds %q (no name may hold braces or control characters)", ErrInvalid, kind, name, c)
		}
	}
	return nil
}

// Instants beyond which UnixMicroUp saturates: ±MaxExact µs from the Unix epoch, years 1684 and
// 2255.
var (
	minInstant = time.UnixMicro(-MaxExact)
	maxInstant = time.UnixMicro(MaxExact)
)

// UnixMicroUp returns t in Unix microseconds, rounded up so that a pause or a due time never ends
// early, and held within ±MaxExact so that every store computes with it exactly (time.Time
// reaches further than int64 microseconds).
func UnixMicroUp(t time.Time) int64 {
	switch {
	case t.After(maxInstant):
		return MaxExact
	case t.Before(minInstant):
		return -MaxExact
	}
	u := t.UnixMicro()
	if t.Sub(time.UnixMicro(u)) > 0 {
		u++
	}
	return u
}
