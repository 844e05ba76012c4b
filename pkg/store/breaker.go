package store

import (
	"fmt"
	"math"
	"time"
)

// BreakerState is the state of a circuit breaker.
type BreakerState int

const (
	// Closed lets every request through and counts failures.
	Closed BreakerState = iota
	// Open refuses every request until its open time has passed.
	Open
	// HalfOpen lets a few probe requests through to learn whether the upstream has recovered.
	HalfOpen
)

func (s BreakerState) String() string {
	switch s {
	case Closed:
		return "closed"
	case Open:
		return "open"
	case HalfOpen:
		return "half-open"
	}
	return fmt.Sprintf("BreakerState(%d)", int(s))
}

// Outcome is what a permit holder reports after its request.
type Outcome int

const (
	// Success counts toward closing and resets the run of consecutive failures.
	Success Outcome = iota
	// Failure counts toward tripping; in half-open it reopens the breaker at once.
	Failure
	// Ignored counts as nothing (a caller's own cancellation, say) but frees a half-open probe slot.
	Ignored
)

func (o Outcome) String() string {
	switch o {
	case Success:
		return "success"
	case Failure:
		return "failure"
	case Ignored:
		return "ignored"
	}
	return fmt.Sprintf("Outcome(%d)", int(o))
}

// Defaults of BreakerPolicy's zero fields.
const (
	DefaultConsecutiveFailures = 5
	DefaultWindow              = time.Minute
	DefaultMinCalls            = 20
	DefaultOpenTimeout         = time.Minute
	DefaultHalfOpenProbes      = 1
	DefaultSuccessThreshold    = 1
	// WindowBuckets is how many slices the rolling failure-rate window is kept in.
	WindowBuckets = 10
)

// BreakerPolicy is a breaker's numbers. Zero fields mean the documented defaults; call
// WithDefaults then Validate (stores do both on every call). It is a value and safe to copy.
type BreakerPolicy struct {
	// ConsecutiveFailures trips the breaker after this many failures in a row. 0 means 5;
	// negative disables the rule.
	ConsecutiveFailures int
	// FailureRate trips the breaker when failures/calls over Window reaches it, once at least
	// MinCalls calls were seen. 0 disables the rule; otherwise it must be in (0, 1].
	FailureRate float64
	// Window is the span of the rolling failure-rate window. 0 means 1 minute. It is kept in
	// WindowBuckets slices, so it must be a whole number of microseconds times WindowBuckets.
	Window time.Duration
	// MinCalls is how many calls the window must hold before FailureRate applies. 0 means 20.
	MinCalls int
	// OpenTimeout is how long the breaker stays open before probing. 0 means 1 minute.
	OpenTimeout time.Duration
	// MaxOpenTimeout, when larger than OpenTimeout, doubles the open time on each trip that
	// follows a failed probe, up to this. 0 means the open time never grows.
	MaxOpenTimeout time.Duration
	// HalfOpenProbes is how many probe permits may be in flight at once while half-open, across
	// everyone sharing the store. 0 means 1.
	HalfOpenProbes int
	// SuccessThreshold is how many probe successes close the breaker. 0 means 1.
	SuccessThreshold int
}

// WithDefaults returns p with its zero fields replaced by the defaults.
func (p BreakerPolicy) WithDefaults() BreakerPolicy {
	if p.ConsecutiveFailures == 0 {
		p.ConsecutiveFailures = DefaultConsecutiveFailures
	}
	if p.Window == 0 {
		p.Window = DefaultWindow
	}
	if p.MinCalls == 0 {
		p.MinCalls = DefaultMinCalls
	}
	if p.OpenTimeout == 0 {
		p.OpenTimeout = DefaultOpenTimeout
	}
	if p.HalfOpenProbes == 0 {
		p.HalfOpenProbes = DefaultHalfOpenProbes
	}
	if p.SuccessThreshold == 0 {
		p.SuccessThreshold = DefaultSuccessThreshold
	}
	return p
}

// Validate checks a policy after WithDefaults. The error wraps ErrInvalid and names the field.
func (p BreakerPolicy) Validate() error {
	bad := func(field string, v any, want string) error {
		return fmt.Errorf("%w: breaker policy: %s must be %s, got %v", ErrInvalid, field, want, v)
	}
	switch {
	case math.IsNaN(p.FailureRate) || p.FailureRate < 0 || p.FailureRate > 1:
		return bad("FailureRate", p.FailureRate, "in [0, 1]")
	case p.Window < WindowBuckets*time.Microsecond || p.Window%(WindowBuckets*time.Microsecond) != 0:
		return bad("Window", p.Window, fmt.Sprintf("a positive multiple of %dµs", WindowBuckets))
	case p.MinCalls < 1:
		return bad("MinCalls", p.MinCalls, "≥ 1")
	case p.OpenTimeout < time.Microsecond:
		return bad("OpenTimeout", p.OpenTimeout, "≥ 1µs")
	case p.OpenTimeout > 1000*24*time.Hour:
		return bad("OpenTimeout", p.OpenTimeout, "at most 1000 days")
	case p.MaxOpenTimeout < 0 || p.MaxOpenTimeout > 1000*24*time.Hour:
		return bad("MaxOpenTimeout", p.MaxOpenTimeout, "between 0 and 1000 days")
	case p.HalfOpenProbes < 1:
		return bad("HalfOpenProbes", p.HalfOpenProbes, "≥ 1")
	case p.SuccessThreshold < 1:
		return bad("SuccessThreshold", p.SuccessThreshold, "≥ 1")
	}
	return nil
}

// OpenFor returns how long the breaker stays open after its trips-th consecutive trip (1 for the
// first): OpenTimeout, doubled per further trip up to MaxOpenTimeout when that is set.
func (p BreakerPolicy) OpenFor(trips int) time.Duration {
	d := p.OpenTimeout
	if p.MaxOpenTimeout <= p.OpenTimeout {
		return d
	}
	for i := 1; i < trips && d < p.MaxOpenTimeout; i++ {
		d *= 2
	}
	return min(d, p.MaxOpenTimeout)
}

// Permit is the answer to Acquire.
type Permit struct {
	// Allowed reports whether the request may be sent.
	Allowed bool
	// State is the breaker's state when the permit was decided (HalfOpen for a probe).
	State BreakerState
	// Generation identifies the breaker's current period; it changes on every transition, and
	// outcomes recorded with an older generation are ignored.
	Generation int64
	// RetryAfter, when refused, is how long until a permit may be granted again.
	RetryAfter time.Duration
	// Changed reports that this call moved the breaker into State (open to half-open).
	Changed bool
}

// BreakerStatus is a breaker's state as Record or BreakerStatus read it.
type BreakerStatus struct {
	State      BreakerState
	Generation int64
	// Changed reports that this call moved the breaker into State.
	Changed bool
	// Stale reports that Record ignored the outcome because its generation was not current.
	Stale bool
	// ConsecutiveFailures is the current run of failures while closed.
	ConsecutiveFailures int
	// Calls and Failures are what the rolling window holds.
	Calls, Failures int
	// Trips counts consecutive trips (reset when the breaker closes); it drives open-time growth.
	Trips int
	// ProbesInFlight is how many half-open permits are out.
	ProbesInFlight int
	// RetryAfter is, while open, how long until the breaker turns half-open.
	RetryAfter time.Duration
}
