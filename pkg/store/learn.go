package store

import (
	"context"
	"fmt"
	"time"
)

// Learner keeps what servers said about their limits beside the key's buckets, fleet-wide: every
// Take of the key honours the learned paces in the same atomic step, as it honours a Block, and a
// pace can only hold a key back, never raise it above its configured limits. A key has two paces:
// the request pace, charged 1 per take whatever its cost, and the unit pace, charged the take's
// cost. docs/learning.md tells how paces are set, lapse and recover.
type Learner interface {
	// Learn sets the paces of what a server said (remaining quota over the time to its reset):
	// each pace with an Interval replaces the one in force, keeping its bucket's state; a zero
	// Pace leaves the one in force alone. A pace whose Until is not after now is ignored.
	Learn(ctx context.Context, key string, requests, units Pace) error

	// Backoff records a rejection whose response carried no quota (no RateLimit fields): the
	// request pace is cut and the key paused, fleet-wide, once per episode. See Backoff.
	Backoff(ctx context.Context, key string, b Backoff) (Learned, error)

	// Learned reads the key's paces in force.
	Learned(ctx context.Context, key string) (Learned, error)
}

// Pace is a limit learned from a server.
type Pace struct {
	// Interval is the time one unit takes: the pace allows 1/Interval units a second. Zero means
	// no pace.
	Interval time.Duration
	// Burst is how many units may go at once (≥ 1).
	Burst int64
	// Until is when the pace lapses (the server's reset). Zero means it has no end and recovers
	// instead (a request pace set by Backoff).
	Until time.Time
}

// Rate returns the pace's units per second, 0 when there is no pace.
func (p Pace) Rate() float64 {
	if p.Interval <= 0 {
		return 0
	}
	return float64(time.Second) / float64(p.Interval)
}

// Validate checks a pace given to Learn (a zero Pace is valid: it changes nothing).
func (p Pace) Validate() error {
	if p.Interval == 0 {
		return nil
	}
	if p.Interval < time.Microsecond {
		return fmt.Errorf("%w: pace interval must be ≥ 1µs, got %v", ErrInvalid, p.Interval)
	}
	if p.Burst < 1 {
		return fmt.Errorf("%w: pace burst must be ≥ 1, got %d", ErrInvalid, p.Burst)
	}
	if p.Until.IsZero() {
		return fmt.Errorf("%w: a learned pace needs an Until (the server's reset)", ErrInvalid)
	}
	return nil
}

// Learned is a key's learned state.
type Learned struct {
	// Requests is the request pace in force (zero when none).
	Requests Pace
	// Units is the unit pace in force (zero when none).
	Units Pace
	// Paused is the end of the key's Block, if one is in force.
	Paused time.Time
	// Cuts counts the Backoff cuts made on the key since its state was last forgotten.
	Cuts int64
}

// Backoff is a rejection without quota (AIMD's multiplicative decrease): the key's request pace
// drops to about Factor times its rate, with a burst of 1, and gains Recover of that rate per
// admitted take until back at Ceiling; the key is paused fleet-wide (RetryAfter, else Pause or one
// interval of the new pace). A rejection while paused, or of a request sent before the last cut,
// is no news: only its RetryAfter counts, extending the pause. docs/learning.md has the full rule.
type Backoff struct {
	// Factor is the multiplicative decrease, in (0, 1).
	Factor float64
	// Ceiling is the interval of the strictest configured limit (Per/Requests), > 0.
	Ceiling time.Duration
	// Recover is the additive increase per admitted take, as a share of the rate the cut set, in
	// [0, 1].
	Recover float64
	// Pause is the fleet-wide pause after a key's first cut, or one made far above what the key
	// admitted, > 0.
	Pause time.Duration
	// RetryAfter is the server's Retry-After when it sent one (the pause is then exactly that);
	// negative when it did not.
	RetryAfter time.Duration
	// Hold keeps the rate instead of cutting it, for a refusal whose Retry-After is usable: only the
	// pause and the burst of 1 apply, at the rate in force but no more than twice what the key
	// admitted since the last hold or cut. A held pace does not recover; it lapses a minute after
	// the pause unless the server refuses again.
	Hold bool
	// RoundTrip is how long the refused request took, from sending it to its answer; 0 when not
	// known. It tells a refusal of a request sent before the last cut or hold (no news), and it
	// slows a key's first cut or hold to one request per four round trips, growing by a tenth a
	// take until the next refusal measures the server (docs/learning.md).
	RoundTrip time.Duration
}

// Validate checks a Backoff.
func (b Backoff) Validate() error {
	switch {
	case !(b.Factor > 0 && b.Factor < 1):
		return fmt.Errorf("%w: backoff factor must be in (0, 1), got %v", ErrInvalid, b.Factor)
	case b.Ceiling < time.Microsecond:
		return fmt.Errorf("%w: backoff ceiling must be ≥ 1µs, got %v", ErrInvalid, b.Ceiling)
	case !(b.Recover >= 0 && b.Recover <= 1):
		return fmt.Errorf("%w: backoff recover must be in [0, 1], got %v", ErrInvalid, b.Recover)
	case b.Pause < time.Millisecond:
		return fmt.Errorf("%w: backoff pause must be ≥ 1ms, got %v", ErrInvalid, b.Pause)
	case b.RetryAfter > 24*time.Hour:
		return fmt.Errorf("%w: backoff retry-after above 24h: %v", ErrInvalid, b.RetryAfter)
	case b.RoundTrip < 0 || b.RoundTrip > time.Hour:
		return fmt.Errorf("%w: backoff round trip must be in [0, 1h], got %v", ErrInvalid, b.RoundTrip)
	}
	return nil
}
