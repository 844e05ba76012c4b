package store

import (
	"fmt"
	"time"
)

// MaxExact is the largest integer that a double (and so a Lua number) holds exactly: 2^53. A
// bucket's arithmetic reaches twice Burst × Per (in microseconds) plus Requests, which must stay
// within it.
const MaxExact = 1 << 53

// Limit is a sustained rate of Requests per Per, with at most Burst admitted at once. A Burst of 0
// means Requests: a bucket that starts full, like the classic token bucket. Limit is a value and
// safe to copy.
//
// The invariant every store keeps: in any interval of length t, the cost admitted under a limit is
// at most Burst + Requests·t/Per.
type Limit struct {
	Requests int64         // tokens per period; must be > 0
	Per      time.Duration // the period; a whole number of microseconds, at least 1 µs
	Burst    int64         // bucket size; 0 means Requests, negative is invalid
}

// PerSecond returns a limit of n requests per second with a burst of n.
func PerSecond(n int64) Limit { return Limit{Requests: n, Per: time.Second} }

// PerMinute returns a limit of n requests per minute with a burst of n.
func PerMinute(n int64) Limit { return Limit{Requests: n, Per: time.Minute} }

// PerHour returns a limit of n requests per hour with a burst of n.
func PerHour(n int64) Limit { return Limit{Requests: n, Per: time.Hour} }

// WithBurst returns a copy of l with the given burst.
func (l Limit) WithBurst(b int64) Limit { l.Burst = b; return l }

// EffectiveBurst returns the bucket size: Burst, or Requests when Burst is 0.
func (l Limit) EffectiveBurst() int64 {
	if l.Burst == 0 {
		return l.Requests
	}
	return l.Burst
}

// Same reports whether l and o are one limit: the same Requests and Per, and the same effective
// burst (Burst 0 and Burst == Requests agree).
func (l Limit) Same(o Limit) bool {
	return l.Requests == o.Requests && l.Per == o.Per && l.EffectiveBurst() == o.EffectiveBurst()
}

// PerMicros returns the period in whole microseconds.
func (l Limit) PerMicros() int64 { return int64(l.Per / time.Microsecond) }

// Validate reports whether the limit can be enforced exactly. The error wraps ErrInvalid and names
// the field at fault.
func (l Limit) Validate() error {
	switch {
	case l.Requests <= 0:
		return fmt.Errorf("%w: limit %s: Requests must be > 0, got %d", ErrInvalid, l, l.Requests)
	case l.Per < time.Microsecond:
		return fmt.Errorf("%w: limit %s: Per must be at least 1µs, got %v", ErrInvalid, l, l.Per)
	case l.Per%time.Microsecond != 0:
		return fmt.Errorf("%w: limit %s: Per must be a whole number of microseconds, got %v", ErrInvalid, l, l.Per)
	case l.Burst < 0:
		return fmt.Errorf("%w: limit %s: Burst must be ≥ 1 (or 0 for Requests), got %d", ErrInvalid, l, l.Burst)
	}
	b, p := l.EffectiveBurst(), l.PerMicros()
	if l.Requests > MaxExact/4 {
		return fmt.Errorf("%w: limit %s: Requests must be at most 2^51 for exact integer arithmetic, got %d", ErrInvalid, l, l.Requests)
	}
	if b > (MaxExact/2-l.Requests)/p {
		return fmt.Errorf("%w: limit %s: Burst × Per (%d × %dµs) is too large for exact integer arithmetic (max 2^52)", ErrInvalid, l, b, p)
	}
	return nil
}

// String prints the limit as "100 req/min (burst 100)".
func (l Limit) String() string {
	return fmt.Sprintf("%d req/%s (burst %d)", l.Requests, periodName(l.Per), l.EffectiveBurst())
}

func periodName(d time.Duration) string {
	switch d {
	case time.Second:
		return "s"
	case time.Minute:
		return "min"
	case time.Hour:
		return "h"
	case 24 * time.Hour:
		return "day"
	}
	return d.String()
}

// Decision is the answer to a Take.
type Decision struct {
	// Allowed reports whether the tokens were taken.
	Allowed bool
	// Remaining is how many tokens are left after the decision, the least over the key's limits.
	Remaining int64
	// RetryAfter is how long until the same take could succeed when refused; 0 when allowed;
	// negative when it can never succeed (the cost exceeds a burst).
	RetryAfter time.Duration
	// ResetAfter is how long until every bucket of the key is full again.
	ResetAfter time.Duration
	// Paced is the interval of the key's request pace in force after the decision (see
	// Learner): what the fleet learned the server allows is one request every Paced. Zero when
	// no pace is in force.
	Paced time.Duration
}

// Never is the RetryAfter of a decision that no wait can change.
const Never time.Duration = -1
