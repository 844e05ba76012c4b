package redis_test

import (
	"context"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
	"github.com/weir-go/weir/pkg/store/storetest"
)

// The Redis Cluster tests run where REDIS_CLUSTER_ADDRS names the nodes of a cluster (.ci/run
// starts one); elsewhere they skip, and under WEIR_REQUIRE_REDIS=1 they fail.

func TestConformanceCluster(t *testing.T) {
	rdb := newClusterClient(t)
	storetest.Run(t, func(t *testing.T, clk *clock.Fake) store.Store { return storeOn(t, rdb, clk) })
}

// TestClusterKeysInOneSlot runs every script on keys spread over the whole cluster: each call's
// keys must lie in one slot (a script whose keys do not fails with CROSSSLOT), every key the
// store writes must carry one hash tag that decides its slot, and the keys must land on every
// master, so that the test exercised more than one node.
func TestClusterKeysInOneSlot(t *testing.T) {
	ctx := t.Context()
	rdb := newClusterClient(t)
	s := storeOn(t, rdb, nil)
	const keys = 200
	limits := []store.Limit{store.PerSecond(100), store.PerMinute(1000)}
	p := store.BreakerPolicy{ConsecutiveFailures: 1}
	for i := range keys {
		key := spreadKey(i)
		d, err := s.Take(ctx, key, limits, 1)
		require.NoError(t, err, "Take(%q)", key)
		require.True(t, d.Allowed)
		require.NoError(t, s.Block(ctx, key, time.Now().Add(time.Minute)), "Block(%q)", key)
		pm, err := s.Acquire(ctx, key, p)
		require.NoError(t, err, "Acquire(%q)", key)
		st, err := s.Record(ctx, key, p, pm, store.Failure)
		require.NoError(t, err, "Record(%q)", key)
		require.Equal(t, store.Open, st.State)
	}

	written := keysUnder(t, rdb, testPrefix(t))
	require.Len(t, written, 2*keys, "one limiter hash and one breaker hash per key")
	slots := map[int64]bool{}
	for _, k := range written {
		tag := requireOneHashTag(t, testPrefix(t), k)
		slot, err := rdb.ClusterKeySlot(ctx, k).Result()
		require.NoError(t, err)
		tagSlot, err := rdb.ClusterKeySlot(ctx, tag).Result()
		require.NoError(t, err)
		require.Equal(t, tagSlot, slot, "%s: the hash tag decides the slot", k)
		slots[slot] = true
	}
	assert.Greater(t, len(slots), keys, "the keys spread over many slots")

	// Every master holds some of them.
	perMaster := countPerMaster(t, rdb, testPrefix(t))
	t.Logf("keys per master: %v", perMaster)
	require.GreaterOrEqual(t, len(perMaster), 2, "a cluster of several masters")
	for addr, n := range perMaster {
		assert.Positive(t, n, "master %s holds none of the keys", addr)
	}
}

// TestClusterScriptsReload flushes the scripts on every master and requires every operation on
// keys all over the cluster to go on working: each node loads the scripts for itself.
func TestClusterScriptsReload(t *testing.T) {
	rdb := newClusterClient(t)
	scriptsReload(t, rdb, storeOn(t, rdb, nil), 50, false)
}

// TestClusterOpen opens a store by a cluster URL naming every node, as a worker's configuration
// would.
func TestClusterOpen(t *testing.T) {
	addrs := clusterAddrs(t)
	url := "redis://" + addrs[0]
	if len(addrs) > 1 {
		url += "?addr=" + strings.Join(addrs[1:], "&addr=")
	}
	prefix := testPrefix(t)
	s, err := weirredis.Open(t.Context(), url, weirredis.Options{Prefix: prefix})
	require.NoError(t, err, url)
	t.Cleanup(func() {
		cleanPrefix(t, s.Client(), prefix)
		_ = s.Close()
	})
	_, ok := s.Client().(*goredis.ClusterClient)
	require.True(t, ok, "a cluster URL makes a cluster client")
	for i := range 20 {
		d, err := s.Take(t.Context(), spreadKey(i), []store.Limit{store.PerSecond(1)}, 1)
		require.NoError(t, err)
		require.True(t, d.Allowed)
	}
}

// countPerMaster counts the keys under prefix on each master of the cluster.
func countPerMaster(t *testing.T, rdb *goredis.ClusterClient, prefix string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	results := make(chan struct {
		addr string
		n    int
	}, 64)
	require.NoError(t, rdb.ForEachMaster(context.Background(), func(ctx context.Context, c *goredis.Client) error {
		n := 0
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			n++
		}
		results <- struct {
			addr string
			n    int
		}{c.Options().Addr, n}
		return iter.Err()
	}))
	close(results)
	for r := range results {
		counts[r.addr] = r.n
	}
	return counts
}
