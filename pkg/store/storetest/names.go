package storetest

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
)

var nameTests = []test{
	{"BadKeysRefused", testNamesBadKeys},
	{"BadBreakerNamesRefused", testNamesBadBreakers},
	{"GoodNamesAccepted", testNamesGood},
}

// badNames are names that no store accepts, whatever they name: a brace would let two names
// share a Redis key (the queue "x" with the idempotency key "foo}:ready" and the queue
// "x}:idem:foo"), a control character hides in logs, and a name's length is bounded.
func badNames() []string {
	return []string{
		"",
		"{", "}", "a{b", "a}b", "x}:idem:foo", "foo}:ready", "{q:x}",
		"line\nbreak", "\n", "cr\r", "nul\x00", "tab\t", "unit\x1f", "del\x7f",
		strings.Repeat("k", store.MaxNameLen+1),
		strings.Repeat("k", 8<<20),
	}
}

// goodNames are names at the edges of what stores accept, each made unique with tag: colons,
// slashes, spaces and any UTF-8, up to store.MaxNameLen bytes.
func goodNames(tag string) []string {
	return []string{
		tag + ":a:idem:b",
		tag + "/with space/ключ/✓",
		tag + "~!@#$%^&*()[]<>|\\\"';,.?",
		tag + ":" + strings.Repeat("k", store.MaxNameLen-len(tag)-1),
	}
}

// quoted is a name fit for a failure message: a long one is cut short.
func quoted(name string) string {
	if len(name) > 40 {
		return strings.ReplaceAll(name[:40], "\n", `\n`) + "..."
	}
	return name
}

func testNamesBadKeys(t *testing.T, h *harness) {
	limits := []store.Limit{store.PerSecond(10)}
	l := h.learner(t)
	b := store.Backoff{Factor: 0.5, Ceiling: time.Second, Recover: 0.1, Pause: time.Second, RetryAfter: -1}
	for _, key := range badNames() {
		what := quoted(key)
		d, err := h.s.Take(h.ctx, key, limits, 1)
		requireInvalid(t, err, "key")
		require.False(t, d.Allowed, "Take(%q)", what)
		_, err = h.s.TakeOrdered(h.ctx, key, limits, []int64{1})
		requireInvalid(t, err, "key")
		requireInvalid(t, h.s.Block(h.ctx, key, h.clk.Now().Add(time.Second)), "key")
		requireInvalid(t, l.Learn(h.ctx, key, store.Pace{}, store.Pace{}), "key")
		_, err = l.Backoff(h.ctx, key, b)
		requireInvalid(t, err, "key")
		_, err = l.Learned(h.ctx, key)
		requireInvalid(t, err, "key")
	}
}

func testNamesBadBreakers(t *testing.T, h *harness) {
	p := store.BreakerPolicy{ConsecutiveFailures: 1}
	for _, name := range badNames() {
		pm, err := h.s.Acquire(h.ctx, name, p)
		requireInvalid(t, err, "breaker name")
		require.False(t, pm.Allowed, "Acquire(%q)", quoted(name))
		_, err = h.s.Record(h.ctx, name, p, store.Permit{Allowed: true}, store.Failure)
		requireInvalid(t, err, "breaker name")
		_, err = h.s.BreakerStatus(h.ctx, name, p)
		requireInvalid(t, err, "breaker name")
	}
}

func testNamesGood(t *testing.T, h *harness) {
	limits := []store.Limit{store.PerSecond(10)}
	p := store.BreakerPolicy{ConsecutiveFailures: 1}
	for _, name := range goodNames(h.key("good")) {
		require.Equal(t, int64(10), h.drain(t, name, limits), "key %q", name)
		h.block(t, name, h.clk.Now().Add(time.Second))
		require.Equal(t, time.Second, h.take(t, name, limits, 1).RetryAfter, "key %q", name)
		require.Equal(t, store.Open, h.call(t, name, p, store.Failure).State, "breaker %q", name)
	}
}
