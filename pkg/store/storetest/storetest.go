// Package storetest is the conformance suite that every store implementation must pass: Run checks
// the store.Store contract and store.Learner (a store without it fails), RunQueues the queue
// (store.Queues with the combined calls of store.AckDequeuer and store.BatchEnqueuer).
//
// A store's own test file is three lines:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, func(t *testing.T, clk *clock.Fake) store.Store { return memory.New(memory.Options{Clock: clk}) })
//	}
//
// The suites use only the public contracts of package store, so a networked store passes them as
// well as the in-memory one: every subtest gets a fresh store and a fresh fake clock, uses names
// with a random suffix (so stores sharing a server do not see each other's state), and moves time
// only through the fake clock, which the store must read for every decision.
package storetest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

// Start is the instant every subtest's fake clock reads when the subtest begins.
var Start = time.Date(2026, time.January, 1, 0, 0, 0, 0, time.UTC)

// NewStore returns a fresh, empty store that reads time from clk. It should register its own
// cleanup with t.Cleanup; the suite closes a store only in the subtest about Close, so Close may
// be called twice.
type NewStore = func(t *testing.T, clk *clock.Fake) store.Store

// Run runs the whole conformance suite against the stores newStore makes.
func Run(t *testing.T, newStore NewStore) {
	groups := []struct {
		name  string
		tests []test
	}{
		{"Take", takeTests},
		{"TakeOrdered", orderedTests},
		{"Block", blockTests},
		{"RateInvariant", propertyTests},
		{"Breaker", breakerTests},
		{"Concurrency", concurrencyTests},
		{"BadInput", badInputTests},
		{"Names", nameTests},
		{"Learn", learnTests},
	}
	for _, g := range groups {
		t.Run(g.name, func(t *testing.T) {
			for _, tc := range g.tests {
				t.Run(tc.name, func(t *testing.T) {
					tc.fn(t, newHarness(t, newStore))
				})
			}
		})
	}
}

// test is one subtest: it receives a fresh store and clock.
type test struct {
	name string
	fn   func(t *testing.T, h *harness)
}

// harness is one subtest's store, clock and context.
type harness struct {
	s   store.Store
	clk *clock.Fake
	ctx context.Context
}

func newHarness(t *testing.T, newStore NewStore) *harness {
	t.Helper()
	clk := clock.NewFake(Start)
	s := newStore(t, clk)
	require.NotNil(t, s, "newStore returned nil")
	return &harness{s: s, clk: clk, ctx: t.Context()}
}

// key returns a key (or breaker name) no other subtest uses.
func (h *harness) key(name string) string {
	return fmt.Sprintf("storetest:%s:%016x", name, rand.Uint64())
}

// elapsed is the time the subtest's clock has moved since Start.
func (h *harness) elapsed() time.Duration { return h.clk.Now().Sub(Start) }

// take calls Take and requires it to succeed.
func (h *harness) take(tb testing.TB, key string, limits []store.Limit, n int64) store.Decision {
	tb.Helper()
	d, err := h.s.Take(h.ctx, key, limits, n)
	require.NoError(tb, err, "Take(%q, %v, %d) at +%v", key, limits, n, h.elapsed())
	return d
}

// drain takes cost 1 until the first refusal at the current instant and returns how many were
// admitted.
func (h *harness) drain(tb testing.TB, key string, limits []store.Limit) int64 {
	tb.Helper()
	var n int64
	for {
		d := h.take(tb, key, limits, 1)
		if !d.Allowed {
			return n
		}
		n++
		require.Less(tb, n, int64(100_000), "Take never refuses")
	}
}

// block calls Block and requires it to succeed.
func (h *harness) block(tb testing.TB, key string, until time.Time) {
	tb.Helper()
	require.NoError(tb, h.s.Block(h.ctx, key, until), "Block(%q, %v)", key, until)
}

// acquire calls Acquire and requires it to succeed.
func (h *harness) acquire(tb testing.TB, name string, p store.BreakerPolicy) store.Permit {
	tb.Helper()
	pm, err := h.s.Acquire(h.ctx, name, p)
	require.NoError(tb, err, "Acquire(%q) at +%v", name, h.elapsed())
	return pm
}

// record calls Record and requires it to succeed.
func (h *harness) record(tb testing.TB, name string, p store.BreakerPolicy, pm store.Permit, o store.Outcome) store.BreakerStatus {
	tb.Helper()
	st, err := h.s.Record(h.ctx, name, p, pm, o)
	require.NoError(tb, err, "Record(%q, %v) at +%v", name, o, h.elapsed())
	return st
}

// status calls BreakerStatus and requires it to succeed.
func (h *harness) status(tb testing.TB, name string, p store.BreakerPolicy) store.BreakerStatus {
	tb.Helper()
	st, err := h.s.BreakerStatus(h.ctx, name, p)
	require.NoError(tb, err, "BreakerStatus(%q) at +%v", name, h.elapsed())
	return st
}

// call acquires a permit, requires it, and records o under it.
func (h *harness) call(tb testing.TB, name string, p store.BreakerPolicy, o store.Outcome) store.BreakerStatus {
	tb.Helper()
	pm := h.acquire(tb, name, p)
	require.True(tb, pm.Allowed, "Acquire(%q) refused in state %v at +%v", name, pm.State, h.elapsed())
	return h.record(tb, name, p, pm, o)
}

// requireInvalid requires err to wrap store.ErrInvalid and its message to name every word in
// fields.
func requireInvalid(tb testing.TB, err error, fields ...string) {
	tb.Helper()
	require.ErrorIs(tb, err, store.ErrInvalid)
	for _, f := range fields {
		require.True(tb, strings.Contains(err.Error(), f), "error %q does not name %q", err, f)
	}
}
