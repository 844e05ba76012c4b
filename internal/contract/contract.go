// Package contract holds the rules every Store of this module applies alike: the checks of what
// callers pass (with the errors the conformance suite expects), the rounding of instants, and the
// constants of learning that both stores and their scripts share. It exists so that the memory
// and Redis stores decide bad input, and time, the same way without widening package store.
package contract

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/weir-go/weir/pkg/store"
)

// ValidateTake checks a take's input, with the errors every store gives: at least one limit,
// each valid, and costs ≥ 0 (all wrap store.ErrInvalid); a cost above a limit's burst wraps
// store.ErrNeverAllowed. A Take passes its cost, a TakeOrdered all of them (given none, it checks only
// that there are limits).
func ValidateTake(key string, limits []store.Limit, costs ...int64) error {
	if len(limits) == 0 {
		return fmt.Errorf("%w: key %q: no limits given", store.ErrInvalid, key)
	}
	for i, n := range costs {
		if n < 0 {
			return fmt.Errorf("%w: key %q: cost must be ≥ 0, got %d", store.ErrInvalid, key, n)
		}
		for _, l := range limits {
			// Once the first cost has passed every limit, they are all valid.
			if i == 0 {
				if err := l.Validate(); err != nil {
					return fmt.Errorf("key %q: %w", key, err)
				}
			}
			if n > l.EffectiveBurst() {
				return fmt.Errorf("%w: key %q: cost %d exceeds the burst of %s", store.ErrNeverAllowed, key, n, l)
			}
		}
	}
	return nil
}

// ValidateJob checks a job against a queue's policy (after WithDefaults), with the errors every
// store gives.
func ValidateJob(p store.QueuePolicy, nj store.NewJob) error {
	if err := p.Validate(); err != nil {
		return err
	}
	switch {
	case nj.Priority < 0 || nj.Priority > store.MaxPriority:
		return fmt.Errorf("%w: job priority must be in [0, %d], got %d", store.ErrInvalid, store.MaxPriority, nj.Priority)
	case len(nj.Payload) > p.MaxPayload:
		return fmt.Errorf("%w: job payload of %d bytes exceeds MaxPayload %d", store.ErrInvalid, len(nj.Payload), p.MaxPayload)
	case nj.Delay < 0 || nj.Delay > store.MaxDelay:
		return fmt.Errorf("%w: job delay must be in [0, %v], got %v", store.ErrInvalid, store.MaxDelay, nj.Delay)
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

// ValidateLease checks a lease length for Dequeue and Extend: positive, at most store.MaxLease. The
// error wraps store.ErrInvalid.
func ValidateLease(lease time.Duration) error {
	if lease <= 0 || lease > store.MaxLease {
		return fmt.Errorf("%w: lease must be in (0, %v], got %v", store.ErrInvalid, store.MaxLease, lease)
	}
	return nil
}

// ValidateName checks a name that becomes part of a store's keys; kind says what it names in the
// error ("queue name"). A name is 1 to store.MaxNameLen bytes, without braces (they delimit a Redis
// key's hash tag, so no two names share a key) or control characters (bytes below 0x20, 0x7f).
// The error wraps store.ErrInvalid.
func ValidateName(kind, name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty %s", store.ErrInvalid, kind)
	}
	if len(name) > store.MaxNameLen {
		return fmt.Errorf("%w: %s of %d bytes, more than %d (it starts %q)", store.ErrInvalid, kind, len(name), store.MaxNameLen, name[:32])
	}
	for i := 0; i < len(name); i++ {
		if c := name[i]; c == '{' || c == '}' || c < 0x20 || c == 0x7f {
			return fmt.Errorf("%w: %s %q holds %q (no name may hold braces or control characters)", store.ErrInvalid, kind, name, c)
		}
	}
	return nil
}

// ValidatePaces checks the two paces given to Learn: the request pace, then the unit pace, each
// error naming which.
func ValidatePaces(requests, units store.Pace) error {
	if err := requests.Validate(); err != nil {
		return fmt.Errorf("request pace: %w", err)
	}
	if err := units.Validate(); err != nil {
		return fmt.Errorf("unit pace: %w", err)
	}
	return nil
}

// Instants beyond which UnixMicroUp saturates: ±store.MaxExact µs from the Unix epoch, years 1684 and
// 2255.
var (
	minInstant = time.UnixMicro(-store.MaxExact)
	maxInstant = time.UnixMicro(store.MaxExact)
)

// UnixMicroUp returns t in Unix microseconds, rounded up so that a pause or a due time never ends
// early, and held within ±store.MaxExact so that every store computes with it exactly (time.Time
// reaches further than int64 microseconds).
func UnixMicroUp(t time.Time) int64 {
	switch {
	case t.After(maxInstant):
		return store.MaxExact
	case t.Before(minInstant):
		return -store.MaxExact
	}
	u := t.UnixMicro()
	if t.Sub(time.UnixMicro(u)) > 0 {
		u++
	}
	return u
}

// CeilingOf returns the interval of the strictest of limits (the longest Per/Requests), the rate
// a Backoff starts from and a recovered pace returns to; 0 when there are none.
func CeilingOf(limits []store.Limit) time.Duration {
	var c time.Duration
	for _, l := range limits {
		if l.Requests <= 0 {
			continue
		}
		iv := time.Duration(math.Ceil(float64(l.Per) / float64(l.Requests)))
		if iv > c {
			c = iv
		}
	}
	return max(c, 0)
}

// ProbeRoundTrips is how many round trips of a refused request apart the requests after a key's
// first cut or hold go (see store.Backoff.RoundTrip). backoff.lua has it as a literal.
const ProbeRoundTrips = 4

// ProbeGrowth is the share of its rate by which a probe (a first cut or hold that RoundTrip slowed
// to a tenth of the ceiling or less) grows with each admitted take, until the next refusal
// measures the server or it is back at the ceiling. backoff.lua has it as a literal.
const ProbeGrowth = 0.1

// CallerEnded reports whether ctx has ended or its deadline has passed. A store call that ran out
// of time at the caller's deadline (a read's timeout, a combined call under the same deadline)
// may return before the context's own timer has fired: that failure is still the caller's
// deadline, not the store's. Stores judge their errors by it, and so does the client.
func CallerEnded(ctx context.Context) bool {
	if ctx.Err() != nil {
		return true
	}
	dl, ok := ctx.Deadline()
	return ok && !time.Now().Before(dl)
}

// AckDequeuePolicy returns p with its defaults for an AckDequeue leasing for lease, or the error
// that refuses the whole call: a bad policy or lease.
func AckDequeuePolicy(p store.QueuePolicy, lease time.Duration) (store.QueuePolicy, error) {
	p = p.WithDefaults()
	if err := p.Validate(); err != nil {
		return p, err
	}
	return p, ValidateLease(lease)
}
