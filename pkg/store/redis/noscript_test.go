package redis_test

import (
	"context"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/lua"
	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

// TestScriptsReloadAfterFlush forgets every script on the server (as a restart or a failover to
// a replica that never saw them would) and requires every operation to go on working.
func TestScriptsReloadAfterFlush(t *testing.T) {
	rdb := newClient(t)
	scriptsReload(t, rdb, storeOn(t, rdb, nil), 1, redisURL(t) == "")
}

// scriptsReload runs every operation, flushes the scripts, and runs them all again on keys
// number of keys (on a Cluster, keys spread over the nodes, each of which must load them). On a
// private server it also checks that the flush did forget the scripts and the calls loaded them
// again; on a shared one, other tests may load or flush them at any moment.
func scriptsReload(t *testing.T, rdb goredis.UniversalClient, s *weirredis.Store, keys int, private bool) {
	t.Helper()
	ctx := t.Context()
	limits := []store.Limit{store.PerSecond(1000)}
	p := store.BreakerPolicy{}
	round := func() {
		t.Helper()
		for i := range keys {
			key := spreadKey(i)
			d, err := s.Take(ctx, key, limits, 1)
			require.NoError(t, err, "Take(%q)", key)
			require.True(t, d.Allowed)
			require.NoError(t, s.Block(ctx, key, time.Now().Add(-time.Second)), "Block(%q)", key)
			pm, err := s.Acquire(ctx, key, p)
			require.NoError(t, err, "Acquire(%q)", key)
			_, err = s.Record(ctx, key, p, pm, store.Success)
			require.NoError(t, err, "Record(%q)", key)
			_, err = s.BreakerStatus(ctx, key, p)
			require.NoError(t, err, "BreakerStatus(%q)", key)
		}
	}
	round()
	for range 2 {
		require.NoError(t, rdb.ScriptFlush(ctx).Err())
		if private {
			requireScripts(t, rdb, false)
		}
		round()
		if private {
			requireScripts(t, rdb, true)
		}
	}
}

// requireScripts requires the server (every master of a cluster) to know all scripts, or none.
func requireScripts(t *testing.T, rdb goredis.UniversalClient, known bool) {
	t.Helper()
	ctx := context.Background()
	shas := []string{lua.Take.SHA(), lua.Block.SHA(), lua.Breaker.SHA()}
	want := []bool{known, known, known}
	cc, ok := rdb.(*goredis.ClusterClient)
	if !ok {
		exists, err := rdb.ScriptExists(ctx, shas...).Result()
		require.NoError(t, err)
		require.Equal(t, want, exists)
		return
	}
	var (
		mu      sync.Mutex // the masters answer concurrently; the test asserts once they have
		answers = map[string][]bool{}
	)
	require.NoError(t, cc.ForEachMaster(ctx, func(ctx context.Context, c *goredis.Client) error {
		exists, err := c.ScriptExists(ctx, shas...).Result()
		mu.Lock()
		defer mu.Unlock()
		answers[c.Options().Addr] = exists
		return err
	}))
	require.NotEmpty(t, answers)
	for addr, exists := range answers {
		require.Equal(t, want, exists, "scripts known on master %s", addr)
	}
}
