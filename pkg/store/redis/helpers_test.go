package redis_test

import (
	"context"
	"os"
	"strings"
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
	rdb := newClient(tb)
	prefix := "weirtest-" + strings.ReplaceAll(tb.Name(), "/", "-")
	s, err := weirredis.New(rdb, weirredis.Options{Prefix: prefix, Clock: clk})
	require.NoError(tb, err)
	tb.Cleanup(func() {
		_ = s.Close()
		cleanPrefix(tb, rdb, prefix)
	})
	return s
}

func newClient(tb testing.TB) goredis.UniversalClient {
	tb.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		o, err := goredis.ParseURL(url)
		require.NoError(tb, err)
		o.ContextTimeoutEnabled = true
		rdb := goredis.NewClient(o)
		tb.Cleanup(func() { _ = rdb.Close() })
		return rdb
	}
	mr := miniredis.RunT(tb)
	rdb := goredis.NewClient(&goredis.Options{Addr: mr.Addr(), ContextTimeoutEnabled: true})
	tb.Cleanup(func() { _ = rdb.Close() })
	return rdb
}

// cleanPrefix deletes the keys a test wrote.
func cleanPrefix(tb testing.TB, rdb goredis.UniversalClient, prefix string) {
	ctx := context.Background()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		rdb.Del(ctx, iter.Val())
	}
}
