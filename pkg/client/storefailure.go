package client

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync/atomic"
	"time"

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
		g.local = memory.New(memory.WithClock(cfg.Clock))
	}
	return g
}

// usable reports whether the store should be asked now.
func (g *guardedStore) usable() bool {
	until := g.downUntil.Load()
	return until == 0 || g.clock.Now().UnixNano() >= until
}

// observe notes how a call to the store went, and reports whether it failed for want of the store.
// A call whose own context ended says nothing about the store's health: one caller's short
// deadline must not take the store away from every other caller. Only a store that failed while
// the caller could still wait is down: one that did not answer within its own timeout, or could
// not be reached.
func (g *guardedStore) observe(ctx context.Context, err error) bool {
	if err != nil && store.CallerEnded(ctx) {
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

func (g *guardedStore) Take(ctx context.Context, key string, limits []store.Limit, n int64) (store.Decision, error) {
	err := g.downErr()
	if g.usable() {
		var d store.Decision
		d, err = g.Store.Take(ctx, key, limits, n)
		if !g.observe(ctx, err) {
			return d, err
		}
	}
	switch g.policy {
	case FailOpen:
		return store.Decision{Allowed: true}, nil
	case FallBackLocal:
		return g.local.Take(ctx, key, g.scale(limits), n)
	}
	return store.Decision{}, err
}

func (g *guardedStore) TakeOrdered(ctx context.Context, key string, limits []store.Limit, costs []int64) ([]store.Decision, error) {
	err := g.downErr()
	if g.usable() {
		var ds []store.Decision
		ds, err = g.Store.TakeOrdered(ctx, key, limits, costs)
		if !g.observe(ctx, err) {
			return ds, err
		}
	}
	switch g.policy {
	case FailOpen:
		ds := make([]store.Decision, len(costs))
		for i := range ds {
			ds[i].Allowed = true
		}
		return ds, nil
	case FallBackLocal:
		return g.local.TakeOrdered(ctx, key, g.scale(limits), costs)
	}
	return nil, err
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
	err := g.downErr()
	if g.usable() {
		err = g.Store.Block(ctx, key, until)
		if !g.observe(ctx, err) {
			return err
		}
	}
	switch g.policy {
	case FailOpen:
		return nil
	case FallBackLocal:
		return g.local.Block(ctx, key, until)
	}
	return err
}

// Local permits carry negative generations, so that an outcome always goes back to the
// breaker that granted its permit.
func toLocal(p store.Permit) store.Permit   { p.Generation = -p.Generation - 1; return p }
func fromLocal(p store.Permit) store.Permit { p.Generation = -p.Generation - 1; return p }

func (g *guardedStore) Acquire(ctx context.Context, name string, p store.BreakerPolicy) (store.Permit, error) {
	err := g.downErr()
	if g.usable() {
		var permit store.Permit
		permit, err = g.Store.Acquire(ctx, name, p)
		if !g.observe(ctx, err) {
			return permit, err
		}
	}
	switch g.policy {
	case FailOpen:
		return store.Permit{Allowed: true, State: store.Closed, Generation: math.MinInt64}, nil
	case FallBackLocal:
		permit, err := g.local.Acquire(ctx, name, p)
		return fromLocal(permit), err
	}
	return store.Permit{}, err
}

func (g *guardedStore) Record(ctx context.Context, name string, p store.BreakerPolicy, permit store.Permit, o store.Outcome) (store.BreakerStatus, error) {
	switch {
	case permit.Generation == math.MinInt64: // granted while failing open: nobody to tell
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
	if g.usable() {
		st, err := g.Store.BreakerStatus(ctx, name, p)
		if !g.observe(ctx, err) {
			return st, err
		}
	}
	if g.policy == FallBackLocal {
		return g.local.BreakerStatus(ctx, name, p)
	}
	return store.BreakerStatus{}, g.downErr()
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
// the local fallback (FallBackLocal), or nowhere: what is learned then is lost, not fatal.
func (g *guardedStore) learn(ctx context.Context, key string, req, units store.Pace) error {
	err := g.downErr()
	if l := g.learner(); l != nil && g.usable() {
		err = l.Learn(ctx, key, req, units)
		if !g.observe(ctx, err) {
			return err
		}
	}
	if g.policy == FallBackLocal {
		return g.local.Learn(ctx, key, req, units)
	}
	return err
}

func (g *guardedStore) backoff(ctx context.Context, key string, b store.Backoff) (store.Learned, error) {
	err := g.downErr()
	if l := g.learner(); l != nil && g.usable() {
		var got store.Learned
		got, err = l.Backoff(ctx, key, b)
		if !g.observe(ctx, err) {
			return got, err
		}
	}
	if g.policy == FallBackLocal {
		return g.local.Backoff(ctx, key, b)
	}
	return store.Learned{}, err
}
