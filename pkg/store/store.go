// Package store defines the contract behind which Weir keeps the state a fleet shares: token
// buckets (Limiter), what servers said about their limits (Learner), circuit breakers (Breakers)
// and the durable queue (Queues, with BatchEnqueuer and AckDequeuer).
//
// Every instance that talks to the same store shares the same limits, learned paces, breakers and
// queues. The in-memory store (pkg/store/memory) serves one process and tests, the Redis store
// (pkg/store/redis) a fleet; both implement every interface here and pass the conformance suites
// in pkg/store/storetest. Implementations must be safe for concurrent use.
//
// Each method is one atomic step on the store's side (EnqueueBatch one for each job), so that a
// networked store can implement it as one script in one round trip. Every store answers bad input
// with the same errors (ErrInvalid, ErrNeverAllowed), and bounds names by MaxNameLen; docs/store.md
// tells how the stores keep this state.
package store

import (
	"context"
	"time"
)

// Store is the contract that the client needs: limits and breakers. A store may also implement
// Learner and Queues (with AckDequeuer and BatchEnqueuer); both of Weir's implement them all.
// Implementations must be safe for concurrent use.
type Store interface {
	Limiter
	Breakers
	// Close releases the store's resources. Calls after Close return ErrClosed.
	Close() error
}

// Limiter keeps rate-limit buckets. A key names one rate-limited thing (an upstream, an account);
// it may carry several limits at once. Keys are names: 1 to MaxNameLen bytes, without braces or control characters.
type Limiter interface {
	// Take takes n tokens from every limit of key, or from none of them, atomically. The decision
	// gives the tokens left and, when refused, the wait until the same take could succeed (the
	// longest over the limits, the learned paces and any Block). n = 0 charges nothing and reports
	// the state. A cost above some limit's burst never succeeds: RetryAfter < 0 and an error
	// wrapping ErrNeverAllowed. Bad input (empty key, no or invalid limits, n < 0) wraps ErrInvalid.
	Take(ctx context.Context, key string, limits []Limit, n int64) (Decision, error)

	// TakeOrdered decides several takes of key in one step, in order, as a waiting line needs
	// them: each take is decided as successive Take calls would decide it, until the first one
	// refused; every take after that is refused too (with at least the first refusal's
	// RetryAfter) and charges nothing, so that no later caller overtakes an earlier one. It
	// validates like Take: a cost above a burst fails the whole call.
	TakeOrdered(ctx context.Context, key string, limits []Limit, costs []int64) ([]Decision, error)

	// Block pauses key until the given time: every Take on key before then is refused with a
	// RetryAfter reaching at least until. A Block never shortens an earlier, longer one; a time
	// already past does nothing; one further than MaxDelay away counts as MaxDelay from now.
	// This is how a server's own "come back later" reaches the fleet.
	Block(ctx context.Context, key string, until time.Time) error
}

// Breakers keeps circuit breakers. A breaker is named as a key is; its policy travels with
// every call, so the store holds only state. Every transition is one atomic step and no lock is
// held while the caller's request is in flight.
type Breakers interface {
	// Acquire asks for a permit to send one request. A closed breaker always grants one; an open
	// breaker refuses until its open time has passed, then turns half-open; a half-open breaker
	// grants at most p.HalfOpenProbes permits in flight at once, across everyone sharing the store.
	Acquire(ctx context.Context, name string, p BreakerPolicy) (Permit, error)

	// Record reports the outcome of the request sent under permit. An outcome for a permit whose
	// generation is no longer current is ignored (and reported as such in the status).
	Record(ctx context.Context, name string, p BreakerPolicy, permit Permit, o Outcome) (BreakerStatus, error)

	// BreakerStatus reads the breaker's state without changing it (an open breaker whose time is
	// up still reads as open with RetryAfter 0 until someone acquires).
	BreakerStatus(ctx context.Context, name string, p BreakerPolicy) (BreakerStatus, error)
}

type callersKey struct{}

// WithCallers returns ctx carrying the contexts of the callers that a TakeOrdered call decides
// for, one per cost, in order. A store wrapper that attributes decisions to callers (tracing,
// metrics, tests that stamp each grant) reads them with Callers; stores ignore them.
func WithCallers(ctx context.Context, callers []context.Context) context.Context {
	return context.WithValue(ctx, callersKey{}, callers)
}

// Callers returns the contexts WithCallers put in ctx, or nil.
func Callers(ctx context.Context) []context.Context {
	c, _ := ctx.Value(callersKey{}).([]context.Context)
	return c
}
