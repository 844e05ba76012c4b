package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// StoreFailure says what a call does while the store cannot be reached.
type StoreFailure int

const (
	// FailClosed fails the call with an error wrapping store.ErrUnavailable: no request goes out
	// that the fleet's limit has not admitted. The default.
	FailClosed StoreFailure = iota
	// FailOpen sends the call without limit or breaker: availability before the quota.
	FailOpen
	// FallBackLocal limits the call with an in-process limiter allowing LocalShare of each limit
	// (and an in-process breaker), until the store answers again.
	FallBackLocal
)

func (f StoreFailure) String() string {
	switch f {
	case FailClosed:
		return "fail-closed"
	case FailOpen:
		return "fail-open"
	case FallBackLocal:
		return "fall-back-local"
	}
	return fmt.Sprintf("StoreFailure(%d)", int(f))
}

// guardedStore applies the StoreFailure policy in front of the configured store. After the store
// fails it is left alone for a retry interval (so that calls do not each wait for a dead
// server), then tried again: service resumes by itself once the store answers.
type guardedStore struct {
	store.Store
	policy    StoreFailure
	local     *memory.Store // FallBackLocal only
	share     float64
	retry     time.Duration
	clock     clock.Clock
	log       *slog.Logger
	name      string
	downUntil atomic.Int64 // unix ns; 0 while the store is up
	failures  atomic.Int64
}

func newGuardedStore(cfg Config, st store.Store) *guardedStore {
	g := &guardedStore{Store: st, policy: cfg.OnStoreFailure, share: cfg.LocalShare,
		retry: cfg.StoreRetryInterval, clock: cfg.Clock, log: cfg.Logger, name: cfg.Name}
	if g.policy == FallBackLocal {
		g.local = memory.New(memory.Options{Clock: cfg.Clock})
	}
	return g
}

// usable reports whether the store should be asked now.
func (g *guardedStore) usable() bool {
	until := g.downUntil.Load()
	return until == 0 || g.clock.Now().UnixNano() >= until
}

// observe notes how a call to the store went, and reports whether it failed for want of the store.
// A call whose own context ended says nothing about the store's health.
func (g *guardedStore) observe(ctx context.Context, err error) bool {
	if err != nil && contract.CallerEnded(ctx) {
		return false
	}
	if err == nil || !errors.Is(err, store.ErrUnavailable) {
		if g.downUntil.Swap(0) != 0 {
			g.log.LogAttrs(context.Background(), slog.LevelInfo, "weir: store reachable again", slog.String("upstream", g.name))
		}
		return false
	}
	g.failures.Add(1)
	if g.downUntil.Swap(g.clock.Now().Add(g.retry).UnixNano()) == 0 {
		g.log.LogAttrs(context.Background(), slog.LevelWarn, "weir: store unavailable", slog.String("upstream", g.name),
			slog.String("policy", g.policy.String()), slog.String("error", err.Error()))
	}
	return true
}

func (g *guardedStore) downErr() error {
	return fmt.Errorf("%w: weir/client: store down, next try within %v", store.ErrUnavailable, g.retry)
}

// storeCall is one call to the shared store, and how it is answered without the store.
type storeCall[T any] struct {
	shared func() (T, error)
	open   func() T          // FailOpen's answer; nil: FailOpen fails as FailClosed does
	local  func() (T, error) // FallBackLocal's: the in-process store's answer
}

// guard makes c.shared while the store is usable. When the store is down, or the call fails for
// want of it, the policy answers: FailOpen with c.open, FallBackLocal with c.local, FailClosed
// with the store's error.
func guard[T any](ctx context.Context, g *guardedStore, c storeCall[T]) (T, error) {
	var err error
	if g.usable() {
		var v T
		v, err = c.shared()
		if !g.observe(ctx, err) {
			return v, err
		}
	} else {
		err = g.downErr()
	}
	switch {
	case g.policy == FailOpen && c.open != nil:
		return c.open(), nil
	case g.policy == FallBackLocal:
		return c.local()
	}
	var zero T
	return zero, err
}

// errCall is a storeCall that answers only an error.
type errCall struct {
	shared   func() error
	failOpen bool // FailOpen lets the call succeed
	local    func() error
}

func guardErr(ctx context.Context, g *guardedStore, c errCall) error {
	call := storeCall[struct{}]{
		shared: func() (struct{}, error) { return struct{}{}, c.shared() },
		local:  func() (struct{}, error) { return struct{}{}, c.local() },
	}
	if c.failOpen {
		call.open = func() struct{} { return struct{}{} }
	}
	_, err := guard(ctx, g, call)
	return err
}

func (g *guardedStore) Take(ctx context.Context, key string, limits []store.Limit, n int64) (store.Decision, error) {
	return guard(ctx, g, storeCall[store.Decision]{
		shared: func() (store.Decision, error) { return g.Store.Take(ctx, key, limits, n) },
		open:   func() store.Decision { return store.Decision{Allowed: true} },
		local:  func() (store.Decision, error) { return g.local.Take(ctx, key, g.scale(limits), n) },
	})
}

func (g *guardedStore) TakeOrdered(ctx context.Context, key string, limits []store.Limit, costs []int64) ([]store.Decision, error) {
	return guard(ctx, g, storeCall[[]store.Decision]{
		shared: func() ([]store.Decision, error) { return g.Store.TakeOrdered(ctx, key, limits, costs) },
		open:   func() []store.Decision { return allowAll(len(costs)) },
		local:  func() ([]store.Decision, error) { return g.local.TakeOrdered(ctx, key, g.scale(limits), costs) },
	})
}

func allowAll(n int) []store.Decision {
	ds := make([]store.Decision, n)
	for i := range ds {
		ds[i].Allowed = true
	}
	return ds
}

// scale returns the local share of each limit, at least one request and a burst of one.
func (g *guardedStore) scale(limits []store.Limit) []store.Limit {
	out := make([]store.Limit, len(limits))
	for i, l := range limits {
		out[i] = store.Limit{
			Requests: max(1, int64(math.Floor(float64(l.Requests)*g.share))),
			Per:      l.Per,
			Burst:    max(1, int64(math.Floor(float64(l.EffectiveBurst())*g.share))),
		}
	}
	return out
}

func (g *guardedStore) Block(ctx context.Context, key string, until time.Time) error {
	return guardErr(ctx, g, errCall{
		shared:   func() error { return g.Store.Block(ctx, key, until) },
		failOpen: true,
		local:    func() error { return g.local.Block(ctx, key, until) },
	})
}

// Local permits carry negative generations, so that an outcome always goes back to the
// breaker that granted its permit.
func toLocal(p store.Permit) store.Permit   { p.Generation = -p.Generation - 1; return p }
func fromLocal(p store.Permit) store.Permit { p.Generation = -p.Generation - 1; return p }

// failOpenPermit is granted while failing open; its generation tells Record that no breaker
// granted it.
var failOpenPermit = store.Permit{Allowed: true, State: store.Closed, Generation: math.MinInt64}

func (g *guardedStore) Acquire(ctx context.Context, name string, p store.BreakerPolicy) (store.Permit, error) {
	return guard(ctx, g, storeCall[store.Permit]{
		shared: func() (store.Permit, error) { return g.Store.Acquire(ctx, name, p) },
		open:   func() store.Permit { return failOpenPermit },
		local: func() (store.Permit, error) {
			permit, err := g.local.Acquire(ctx, name, p)
			return fromLocal(permit), err
		},
	})
}

func (g *guardedStore) Record(ctx context.Context, name string, p store.BreakerPolicy, permit store.Permit, o store.Outcome) (store.BreakerStatus, error) {
	switch {
	case permit.Generation == failOpenPermit.Generation: // nobody to tell
		return store.BreakerStatus{}, nil
	case permit.Generation < 0:
		return g.local.Record(ctx, name, p, toLocal(permit), o)
	}
	if !g.usable() {
		return store.BreakerStatus{Stale: true}, nil // the outcome is lost with the store
	}
	st, err := g.Store.Record(ctx, name, p, permit, o)
	g.observe(ctx, err)
	return st, err
}

func (g *guardedStore) BreakerStatus(ctx context.Context, name string, p store.BreakerPolicy) (store.BreakerStatus, error) {
	return guard(ctx, g, storeCall[store.BreakerStatus]{
		shared: func() (store.BreakerStatus, error) { return g.Store.BreakerStatus(ctx, name, p) },
		local:  func() (store.BreakerStatus, error) { return g.local.BreakerStatus(ctx, name, p) },
	})
}

// closeLocal releases the fallback store; the guarded store itself belongs to whoever made it.
func (g *guardedStore) closeLocal() {
	if g.local != nil {
		_ = g.local.Close()
	}
}

// learner is the store's store.Learner, nil when it has none.
func (g *guardedStore) learner() store.Learner {
	l, _ := g.Store.(store.Learner)
	return l
}

// learn and backoff pass what a server said to the store; while the store is down they go to
// the local fallback (FallBackLocal), or nowhere: what is learned then is lost, not fatal. They
// are only called when the store is a store.Learner.
func (g *guardedStore) learn(ctx context.Context, key string, req, units store.Pace) error {
	return guardErr(ctx, g, errCall{
		shared: func() error { return g.learner().Learn(ctx, key, req, units) },
		local:  func() error { return g.local.Learn(ctx, key, req, units) },
	})
}

func (g *guardedStore) backoff(ctx context.Context, key string, b store.Backoff) (store.Learned, error) {
	return guard(ctx, g, storeCall[store.Learned]{
		shared: func() (store.Learned, error) { return g.learner().Backoff(ctx, key, b) },
		local:  func() (store.Learned, error) { return g.local.Backoff(ctx, key, b) },
	})
}
