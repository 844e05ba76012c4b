package store

import (
	"context"
	"fmt"
	"time"
)

// Learner keeps what servers said about their limits, beside the key's buckets, so that the whole
// fleet obeys it: every Take of the key honours the learned paces as it honours a Block, in the
// same atomic step. The configured limits stay the ceiling: a pace can only hold a key back.
//
// A pace is a limit learned from a server: at most one unit every Interval, Burst units at once,
// until it lapses. A key has two: the request pace, charged one per take whatever its cost (a
// quota of requests), and the unit pace, charged each take's cost (a quota of tokens or points).
// A pace with an Until lapses then (the server's reset); one without recovers instead: each take
// admitted under it raises its rate by the step its Backoff set, and once the rate is back at the
// strictest configured limit the pace ends.
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

// Backoff is what a rejection without quota does to a key (the multiplicative decrease of AIMD).
//
// A rejection that comes back while the key is paused, or of a request sent before the last cut
// (its RoundTrip says when it was sent), belongs to the same episode: it cuts nothing (it is not
// news), though a Retry-After still extends the pause. Otherwise the request pace's rate becomes
// Factor times the key's effective rate: the rate of the request pace in force (or, with none,
// of the strictest configured limit, Ceiling; on the key's first cut, no more than one request
// per ProbeRoundTrips round trips). But when that was far above what the server let through,
// more than twice the rate the key admitted since the last cut, the rate becomes the admitted
// rate itself: it counts the pause in its time, so it is already at or below the server's, and a
// cut on top of it would only waste the server's quota. Measured over a second or two, though,
// that rate is off by up to a server window's quota either way, depending on how many windows
// the span touched: so once a key's rate came from such a measurement (its second cut or later),
// a far cut goes no lower than half the pace in force. Two measurements more than twice apart
// say more about the spans than about the server, and a rate set too low would take hundreds of
// admitted requests to recover. The pace's burst is 1 (no more bursts
// into a server that just refused), and each take admitted under it raises the rate by Recover
// times the rate the cut set (the additive increase), until
// it is back at the ceiling.
//
// The key is paused at the same time, fleet-wide: for RetryAfter when the server sent one; else
// for Pause when the key was sending far above what it admitted (or nothing is known yet: the
// first cut), since the server's window is then likely young; else (it was paced close to what
// the server allows, so the refusal came at the window's end) for one interval of the new pace.
type Backoff struct {
	// Factor is the multiplicative decrease, in (0, 1).
	Factor float64
	// Ceiling is the interval of the strictest configured limit (Per/Requests), > 0.
	Ceiling time.Duration
	// Recover is the additive increase per admitted take, as a share of the rate the cut set, in
	// [0, 1].
	Recover float64
	// Pause is the fleet-wide pause after a cut made far above what the key admitted, > 0.
	Pause time.Duration
	// RetryAfter is the server's Retry-After when it sent one (the pause is then exactly that);
	// negative when it did not.
	RetryAfter time.Duration
	// Hold keeps the rate instead of cutting it: the server said when to come back (Retry-After),
	// which is usable, so only the pause and the burst of 1 apply, at the rate in force but no
	// more than twice what the key admitted since the last hold or cut (room to use a fresh
	// window's quota early, while requests still come back one at a time). A held pace does not
	// recover; it lapses a minute after the pause unless the server refuses again.
	Hold bool
	// RoundTrip is how long the refused request took, from sending it to its answer; 0 when not
	// known. A refusal of a request sent before the last cut or hold is not news. The first cut or
	// hold of a key (nothing is known of the server's rate yet) comes back no faster than one
	// request per ProbeRoundTrips round trips, the shortest that a refusal of its episode took:
	// the answer refusing one then reaches the fleet, and the store, before the next is on its
	// way, so a spent quota costs one refusal, not as many as the configured rate fits in a round
	// trip. That pace grows (ProbeGrowth) until the next refusal measures what the server let
	// through and sets the rate from that.
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
