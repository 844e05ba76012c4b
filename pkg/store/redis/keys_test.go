package redis_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

// pttl reads a key's time to live.
func pttl(t *testing.T, rdb goredis.UniversalClient, key string) time.Duration {
	t.Helper()
	d, err := rdb.PTTL(context.Background(), key).Result()
	require.NoError(t, err)
	return d
}

// limiterKeyOf finds the one limiter hash the test wrote for key.
func limiterKeyOf(t *testing.T, rdb goredis.UniversalClient, key string) string {
	t.Helper()
	var found []string
	for _, k := range keysUnder(t, rdb, testPrefix(t)) {
		if strings.Contains(k, "rl:"+key+"}") {
			found = append(found, k)
		}
	}
	require.Len(t, found, 1, "one limiter hash for %q", key)
	return found[0]
}

// TestIdleKeysExpire checks that a limiter hash lives no longer than it matters, on Redis TIME:
// until every bucket is full again and every pause is over, plus one to two seconds (the scripts
// move an expiry only when it falls short by a second, to spare a busy key a PEXPIRE a take);
// never shorter, even when a later call takes only from a faster limit.
func TestIdleKeysExpire(t *testing.T) {
	rdb := newClient(t)
	s := storeOn(t, rdb, nil)
	ctx := t.Context()
	between := func(key string, lo, hi time.Duration) {
		t.Helper()
		d := pttl(t, rdb, limiterKeyOf(t, rdb, key))
		hi += time.Second + time.Millisecond // the second of slack, rounded up to whole ms
		require.True(t, d > lo && d <= hi, "PTTL of %q is %v, want in (%v, %v]", key, d, lo, hi)
	}
	slack := 500 * time.Millisecond // the test's own time between the script and PTTL

	fast := []store.Limit{{Requests: 10, Per: time.Second, Burst: 10}}
	for range 10 {
		_, err := s.Take(ctx, "fast", fast, 1)
		require.NoError(t, err)
	}
	// Empty now, full again in 1 s.
	between("fast", 2*time.Second-slack, 2*time.Second)

	// A slow limit on the same key holds the hash for its minute...
	slow := []store.Limit{store.PerMinute(1)}
	_, err := s.Take(ctx, "fast", slow, 1)
	require.NoError(t, err)
	between("fast", 61*time.Second-slack, 61*time.Second)
	// ...even when the next call takes only from the fast one.
	_, err = s.Take(ctx, "fast", fast, 1)
	require.NoError(t, err)
	between("fast", 61*time.Second-slack, 61*time.Second)

	// A pause holds the hash until it is over; a shorter one changes nothing.
	require.NoError(t, s.Block(ctx, "paused", time.Now().Add(5*time.Second)))
	between("paused", 6*time.Second-slack, 6*time.Second)
	require.NoError(t, s.Block(ctx, "paused", time.Now().Add(time.Second)))
	between("paused", 6*time.Second-slack, 6*time.Second)
	// A take on a paused key is refused, charges nothing, and leaves the expiry alone.
	d, err := s.Take(ctx, "paused", fast, 1)
	require.NoError(t, err)
	require.False(t, d.Allowed)
	between("paused", 6*time.Second-slack, 6*time.Second)

	// A take of nothing on a key never seen leaves a hash that is gone within a second.
	_, err = s.Take(ctx, "zero", fast, 0)
	require.NoError(t, err)
	between("zero", time.Second-slack, time.Second)
}

// TestIdleKeysExpireOnTime lets time pass on a miniredis whose TTLs follow its clock: a limiter
// hash disappears within a second of no longer mattering, and the bucket it held is full again,
// as if never used.
func TestIdleKeysExpireOnTime(t *testing.T) {
	mr := miniredis.RunT(t)
	now := time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)
	mr.SetTime(now)
	mr.ClockTTL(true)
	rdb := miniClient(t, mr)
	s := storeOn(t, rdb, nil)
	ctx := t.Context()
	limits := []store.Limit{{Requests: 4, Per: time.Second, Burst: 2}}
	for range 2 {
		d, err := s.Take(ctx, "k", limits, 1)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
	key := limiterKeyOf(t, rdb, "k")
	// Full again after 500ms; the hash lives one to two seconds more.
	mr.SetTime(now.Add(1500 * time.Millisecond))
	require.True(t, mr.Exists(key), "still there at +1.5s")
	mr.SetTime(now.Add(2501 * time.Millisecond))
	require.False(t, mr.Exists(key), "gone at +2.501s")
	d, err := s.Take(ctx, "k", limits, 2)
	require.NoError(t, err)
	require.True(t, d.Allowed, "the bucket is full, as if never used")
}

// TestClockOverrideKeysLive checks the expiry under a clock override (tests): the override's time
// need not pass at all in real time, so a hash lives at least ten minutes of Redis's time.
func TestClockOverrideKeysLive(t *testing.T) {
	rdb := newClient(t)
	clk := clock.NewFake(time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC))
	s := storeOn(t, rdb, clk)
	ctx := t.Context()
	tenMinutes := 10 * time.Minute
	slack := 500 * time.Millisecond
	within := func(d, want time.Duration) {
		t.Helper()
		// want, less the test's own time, rounded up to whole milliseconds by the script
		require.True(t, d > want-slack && d <= want+time.Millisecond, "PTTL %v, want about %v", d, want)
	}

	_, err := s.Take(ctx, "k", []store.Limit{store.PerSecond(10)}, 10)
	require.NoError(t, err)
	d := pttl(t, rdb, limiterKeyOf(t, rdb, "k"))
	within(d, tenMinutes)

	require.NoError(t, s.Block(ctx, "paused", clk.Now().Add(5*time.Second)))
	d = pttl(t, rdb, limiterKeyOf(t, rdb, "paused"))
	within(d, tenMinutes)

	// Longer than ten minutes: the state's own time, plus two seconds (the slack of an expiry
	// that moves only when it falls short by a second).
	require.NoError(t, s.Block(ctx, "paused", clk.Now().Add(time.Hour)))
	d = pttl(t, rdb, limiterKeyOf(t, rdb, "paused"))
	within(d, time.Hour+2*time.Second)
	_, err = s.Take(ctx, "slow", []store.Limit{store.PerHour(2)}, 2)
	require.NoError(t, err)
	d = pttl(t, rdb, limiterKeyOf(t, rdb, "slow"))
	within(d, time.Hour+2*time.Second)
}

// TestKeysCarryPrefixAndOneHashTag writes through every operation and requires every key to
// start with the configured prefix and carry exactly one hash tag, and nothing to be written
// outside the prefix.
func TestKeysCarryPrefixAndOneHashTag(t *testing.T) {
	mr := miniredis.RunT(t) // a server of its own, so that every key on it is ours
	rdb := miniClient(t, mr)
	s := storeOn(t, rdb, nil)
	exercise(t, s)

	all := mr.Keys()
	require.NotEmpty(t, all)
	for _, k := range all {
		requireOneHashTag(t, testPrefix(t), k)
	}

	if redisURL(t) == "" {
		return
	}
	// The same on the real server, where other tests' keys live too: find ours by their names.
	real := newClient(t)
	s = storeOn(t, real, nil)
	exercise(t, s)
	written := keysUnder(t, real, testPrefix(t))
	require.Len(t, written, len(all))
	for _, k := range written {
		requireOneHashTag(t, testPrefix(t), k)
	}
	iter := real.Scan(t.Context(), 0, "*hygiene-*", 1000).Iterator()
	for iter.Next(t.Context()) {
		require.True(t, strings.HasPrefix(iter.Val(), testPrefix(t)+":"), "key %q outside the prefix", iter.Val())
	}
	require.NoError(t, iter.Err())
}

// exercise calls every operation on a few keys and breakers.
func exercise(t *testing.T, s store.Store) {
	t.Helper()
	ctx := t.Context()
	for i, key := range []string{"hygiene-a", "hygiene-api.example.com:443", "hygiene-b/c d"} {
		_, err := s.Take(ctx, key, []store.Limit{store.PerSecond(5), store.PerHour(100)}, 1)
		require.NoError(t, err)
		require.NoError(t, s.Block(ctx, key, time.Now().Add(time.Minute)))
		name := fmt.Sprintf("hygiene-breaker-%d", i)
		pm, err := s.Acquire(ctx, name, store.BreakerPolicy{})
		require.NoError(t, err)
		_, err = s.Record(ctx, name, store.BreakerPolicy{}, pm, store.Failure)
		require.NoError(t, err)
	}
}

// requireOneHashTag requires key to start with prefix and a colon and to hold exactly one hash
// tag, {…} with something inside; it returns the tag's content, which decides the key's slot.
func requireOneHashTag(t *testing.T, prefix, key string) string {
	t.Helper()
	require.True(t, strings.HasPrefix(key, prefix+":"), "key %q does not start with %q", key, prefix+":")
	require.Equal(t, 1, strings.Count(key, "{"), "key %q: one hash tag", key)
	require.Equal(t, 1, strings.Count(key, "}"), "key %q: one hash tag", key)
	open, end := strings.Index(key, "{"), strings.Index(key, "}")
	require.Less(t, open+1, end, "key %q: an empty or inverted hash tag", key)
	assert.True(t, strings.HasSuffix(key, "}"), "key %q: the tag closes the key", key)
	return key[open+1 : end]
}

// TestBreakerKeyExpiresOnceIdle checks that a breaker's hash does not stay forever: it outlives
// the open period (grown to its longest) and the window by a day, and no more.
func TestBreakerKeyExpiresOnceIdle(t *testing.T) {
	s := newStore(t, nil)
	ctx := t.Context()
	p := store.BreakerPolicy{ConsecutiveFailures: 1, OpenTimeout: time.Minute, MaxOpenTimeout: time.Hour, Window: 10 * time.Minute}
	pm, err := s.Acquire(ctx, "idle", p)
	require.NoError(t, err)
	_, err = s.Record(ctx, "idle", p, pm, store.Failure)
	require.NoError(t, err)
	key := s.Client().Keys(ctx, testPrefix(t)+"*br:idle*").Val()
	require.Len(t, key, 1)
	ttl, err := s.Client().PTTL(ctx, key[0]).Result()
	require.NoError(t, err)
	// Open for a minute, then up to an hour of growth, a 10-minute window, a day.
	want := time.Minute + time.Hour + 10*time.Minute + 24*time.Hour
	assert.InDelta(t, want.Seconds(), ttl.Seconds(), 5, "the breaker's key expires once idle")
}
