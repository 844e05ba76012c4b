// Package breaker is the client-side handle on a shared circuit breaker: it decides what counts as
// a failure, asks the Store for permits, reports outcomes, and remembers an OPEN verdict locally so
// that rejected calls cost no round trip.
package breaker

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/weir-go/weir/internal/tlserr"
	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

// ErrOpen is matched (errors.Is) by the error a call gets while the breaker refuses permits.
var ErrOpen = errors.New("weir/breaker: circuit open")

// OpenError is the error of a refused permit. It matches ErrOpen.
type OpenError struct {
	Name       string
	State      store.BreakerState // Open, or HalfOpen when every probe slot is taken
	RetryAfter time.Duration      // how long until a permit may be granted again
}

func (e *OpenError) Error() string {
	return fmt.Sprintf("weir/breaker: circuit %q %s, retry in %v", e.Name, e.State, e.RetryAfter)
}

// Is makes errors.Is(err, ErrOpen) true.
func (e *OpenError) Is(target error) bool { return target == ErrOpen }

// RetryDelay returns RetryAfter: how long until a permit may be granted again.
func (e *OpenError) RetryDelay() time.Duration { return e.RetryAfter }

// Config is a breaker's policy and failure classification. Zero fields mean the defaults of
// store.BreakerPolicy (5 consecutive failures, 60 s open, 1 probe, 1 success to close) and
// DefaultIsFailure.
type Config struct {
	store.BreakerPolicy
	// Disabled turns the breaker off: every call is let through and nothing is recorded.
	Disabled bool
	// IsFailure decides whether a finished attempt counts against the upstream. It is not asked
	// about attempts the caller cancelled: those count as nothing. Nil means DefaultIsFailure.
	IsFailure func(resp *http.Response, err error) bool
	// Clock times the locally cached OPEN verdict. Nil means the system clock.
	Clock clock.Clock
}

// DefaultIsFailure counts network errors, timeouts and 5xx responses other than 501 as failures.
// A 429 is not one (it is the rate limiter's signal), nor is any other 4xx, nor a certificate the
// client rejects (that says nothing of the upstream's health).
func DefaultIsFailure(resp *http.Response, err error) bool {
	if err != nil {
		return !tlserr.IsCertificate(err)
	}
	return resp != nil && resp.StatusCode >= 500 && resp.StatusCode != http.StatusNotImplemented
}

// Breaker is one named breaker shared through a store. It is safe for concurrent use.
type Breaker struct {
	name      string
	st        store.Breakers
	policy    store.BreakerPolicy
	isFailure func(*http.Response, error) bool
	clock     clock.Clock
	disabled  bool
	openUntil atomic.Int64 // unix ns of the cached OPEN verdict
}

// New validates cfg and returns the breaker called name in st.
func New(st store.Breakers, name string, cfg Config) (*Breaker, error) {
	if name == "" {
		return nil, fmt.Errorf("%w: breaker name is empty", store.ErrInvalid)
	}
	p := cfg.BreakerPolicy.WithDefaults()
	if err := p.Validate(); err != nil {
		return nil, err
	}
	clk := cfg.Clock
	if clk == nil {
		clk = clock.Real()
	}
	b := &Breaker{name: name, st: st, policy: p, isFailure: cfg.IsFailure, clock: clk, disabled: cfg.Disabled}
	if b.isFailure == nil {
		b.isFailure = DefaultIsFailure
	}
	return b, nil
}

// Name returns the breaker's name.
func (b *Breaker) Name() string { return b.name }

// Policy returns the breaker's policy with defaults applied.
func (b *Breaker) Policy() store.BreakerPolicy { return b.policy }

// Allow asks for a permit. While an OPEN verdict is cached it answers at once with an
// *OpenError; otherwise it asks the store.
func (b *Breaker) Allow(ctx context.Context) (store.Permit, error) {
	if b.disabled {
		return store.Permit{Allowed: true}, nil
	}
	now := b.clock.Now()
	if until := b.openUntil.Load(); until != 0 && now.UnixNano() < until {
		return store.Permit{State: store.Open}, &OpenError{Name: b.name, State: store.Open, RetryAfter: time.Duration(until - now.UnixNano())}
	}
	p, err := b.st.Acquire(ctx, b.name, b.policy)
	if err != nil {
		return p, err
	}
	if !p.Allowed {
		if p.State == store.Open {
			b.openUntil.Store(now.Add(p.RetryAfter).UnixNano())
		}
		return p, &OpenError{Name: b.name, State: p.State, RetryAfter: p.RetryAfter}
	}
	return p, nil
}

// Classify turns an attempt's result into an outcome. ctx is the caller's context: when it is
// done the attempt counts as nothing, whatever the error says.
func (b *Breaker) Classify(ctx context.Context, resp *http.Response, err error) store.Outcome {
	if ctx.Err() != nil && err != nil {
		return store.Ignored
	}
	if b.isFailure(resp, err) {
		return store.Failure
	}
	return store.Success
}

// IsFailure applies the breaker's classification to a finished attempt.
func (b *Breaker) IsFailure(resp *http.Response, err error) bool { return b.isFailure(resp, err) }

// Record reports the outcome of the request sent under permit. A result that opens the breaker
// is cached locally at once.
func (b *Breaker) Record(ctx context.Context, permit store.Permit, o store.Outcome) (store.BreakerStatus, error) {
	if b.disabled || !permit.Allowed {
		return store.BreakerStatus{}, nil
	}
	if ctx.Err() != nil {
		// The outcome must reach the store even when the caller has just given up.
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
	}
	st, err := b.st.Record(ctx, b.name, b.policy, permit, o)
	if err != nil {
		return st, err
	}
	if st.State == store.Open && st.RetryAfter > 0 {
		b.openUntil.Store(b.clock.Now().Add(st.RetryAfter).UnixNano())
	}
	return st, nil
}

// Status reads the shared state.
func (b *Breaker) Status(ctx context.Context) (store.BreakerStatus, error) {
	if b.disabled {
		return store.BreakerStatus{}, nil
	}
	return b.st.BreakerStatus(ctx, b.name, b.policy)
}
