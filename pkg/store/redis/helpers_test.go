package redis_test

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/clock"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

// newStore returns a store on the Redis that REDIS_URL names, or on a fresh miniredis, with a
// key prefix of its own so that tests never see each other's keys.
func newStore(tb testing.TB, clk clock.Clock) *weirredis.Store {
	tb.Helper()
	return storeOn(tb, newClient(tb), clk)
}

// storeOn returns a store over rdb with the test's own key prefix, and deletes the test's keys
// when the test ends.
func storeOn(tb testing.TB, rdb goredis.UniversalClient, clk clock.Clock) *weirredis.Store {
	tb.Helper()
	prefix := testPrefix(tb)
	s, err := weirredis.New(rdb, weirredis.Options{Prefix: prefix, Clock: clk})
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = s.Close()
		cleanPrefix(tb, rdb, prefix)
	})
	return s
}

// testPrefix is the key prefix of one test: its name, which no other test shares.
func testPrefix(tb testing.TB) string {
	return "weirtest-" + strings.NewReplacer("/", "-", "{", "(", "}", ")", " ", "_").Replace(tb.Name())
}

// redisRequired reports whether the environment demands real servers (CI sets
// WEIR_REQUIRE_REDIS=1): then a Redis test that would skip, or fall back to miniredis, fails
// instead, so that CI cannot pass without having tested against real Redis.
func redisRequired() bool { return os.Getenv("WEIR_REQUIRE_REDIS") == "1" }

// skipWithout skips the test for want of something the environment does not provide, or fails it
// when WEIR_REQUIRE_REDIS=1.
func skipWithout(tb testing.TB, format string, args ...any) {
	tb.Helper()
	if redisRequired() {
		tb.Fatalf("WEIR_REQUIRE_REDIS=1 but "+format, args...)
	}
	tb.Skipf(format, args...)
}

// redisURL returns REDIS_URL, or "" when the tests should run on miniredis. With
// WEIR_REQUIRE_REDIS=1 an unset REDIS_URL fails the test.
func redisURL(tb testing.TB) string {
	tb.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" && redisRequired() {
		tb.Fatal("WEIR_REQUIRE_REDIS=1 but REDIS_URL is not set: the Redis tests would run on miniredis")
	}
	return url
}

func newClient(tb testing.TB) goredis.UniversalClient {
	tb.Helper()
	if url := redisURL(tb); url != "" {
		o, err := goredis.ParseURL(url)
		require.NoError(tb, err)
		o.ContextTimeoutEnabled = true
		rdb := goredis.NewClient(o)
		tb.Cleanup(func() { _ = rdb.Close() })
		return rdb
	}
	return miniClient(tb, miniredis.RunT(tb))
}

// miniClient returns a client of mr, closed when the test ends.
func miniClient(tb testing.TB, mr *miniredis.Miniredis) *goredis.Client {
	tb.Helper()
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// clusterAddrs returns the nodes that REDIS_CLUSTER_ADDRS names (host:port, comma-separated), or
// skips the test when it is unset (fails it under WEIR_REQUIRE_REDIS=1).
func clusterAddrs(tb testing.TB) []string {
	tb.Helper()
	v := os.Getenv("REDIS_CLUSTER_ADDRS")
	if v == "" {
		skipWithout(tb, "REDIS_CLUSTER_ADDRS is not set: no Redis Cluster to test against")
	}
	var addrs []string
	for _, a := range strings.Split(v, ",") {
		if a = strings.TrimSpace(a); a != "" {
			addrs = append(addrs, a)
		}
	}
	require.NotEmpty(tb, addrs, "REDIS_CLUSTER_ADDRS=%q names no node", v)
	return addrs
}

// newClusterClient returns a client of the Redis Cluster that REDIS_CLUSTER_ADDRS names.
func newClusterClient(tb testing.TB) *goredis.ClusterClient {
	tb.Helper()
	rdb := goredis.NewClusterClient(&goredis.ClusterOptions{Addrs: clusterAddrs(tb), ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = rdb.Close() })
	require.NoError(tb, rdb.Ping(context.Background()).Err(), "the cluster at REDIS_CLUSTER_ADDRS answers")
	return rdb
}

// cleanPrefix deletes the keys a test wrote, on every master of a cluster.
func cleanPrefix(tb testing.TB, rdb goredis.UniversalClient, prefix string) {
	ctx := context.Background()
	clean := func(c goredis.UniversalClient) {
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			c.Del(ctx, iter.Val())
		}
	}
	if cc, ok := rdb.(*goredis.ClusterClient); ok {
		_ = cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
			clean(c)
			return nil
		})
		return
	}
	clean(rdb)
}

// keysUnder returns every key under prefix, on every master of a cluster.
func keysUnder(tb testing.TB, rdb goredis.UniversalClient, prefix string) []string {
	tb.Helper()
	ctx := context.Background()
	var (
		mu   sync.Mutex // ForEachMaster visits the masters concurrently
		keys []string
	)
	scan := func(c goredis.UniversalClient) error {
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			mu.Lock()
			keys = append(keys, iter.Val())
			mu.Unlock()
		}
		return iter.Err()
	}
	if cc, ok := rdb.(*goredis.ClusterClient); ok {
		require.NoError(tb, cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error { return scan(c) }))
	} else {
		require.NoError(tb, scan(rdb))
	}
	return keys
}

// spreadKey is the i-th of many keys whose hash tags fall in different Cluster slots.
func spreadKey(i int) string { return fmt.Sprintf("upstream-%d.example:%d", i, i*7919) }
