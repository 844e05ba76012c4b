package adaptfleet_test

// The acceptance fleet: three OS processes (this test binary, run again as children by
// internal/fleet) share one Redis and call every imitation server at once.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/internal/adaptfleet"
	"github.com/weir-go/weir/internal/fleet"
	"github.com/weir-go/weir/internal/vendorapi"
	"github.com/weir-go/weir/pkg/client"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

const roleAdapt = "adapt"

// TestFleetChild is the children's entry; in an ordinary run it passes, doing nothing.
func TestFleetChild(t *testing.T) {
	fleet.Serve(t, map[string]fleet.Role{roleAdapt: adaptRole})
}

// adaptCmd tells a child where Redis and the servers are; its reply is one adaptReply.
type adaptCmd struct {
	RedisURL, Prefix string
	URLs             []string // one per adaptfleet.Scenarios(), in order
	Members          int
}

type adaptReply struct {
	Failed []int  // per scenario, calls made again after their retries ran out
	Err    string `json:",omitempty"`
}

// adaptRole runs every scenario at once, its share of each, on a Redis store, then replies.
func adaptRole(ctx context.Context, l *fleet.Link) error {
	var cmd adaptCmd
	if err := l.Recv(ctx, &cmd); err != nil {
		if errors.Is(err, io.EOF) {
			return nil
		}
		return err
	}
	st, err := weirredis.Open(ctx, cmd.RedisURL, weirredis.Options{Prefix: cmd.Prefix, Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer st.Close()
	log := slog.New(slog.DiscardHandler)
	scs := adaptfleet.Scenarios()
	reply := adaptReply{Failed: make([]int, len(scs))}
	var mu sync.Mutex
	var errs []error
	var wg sync.WaitGroup
	for i, sc := range scs {
		c, err := client.New(adaptfleet.ClientConfig(sc, st, log))
		if err != nil {
			return err
		}
		defer c.Close()
		wg.Go(func() {
			res, err := adaptfleet.Drive(ctx, c, cmd.URLs[i], sc, sc.Requests/cmd.Members)
			mu.Lock()
			defer mu.Unlock()
			reply.Failed[i] = res.Failed
			if err != nil {
				errs = append(errs, fmt.Errorf("%s: %w", sc.Kind, err))
			}
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		reply.Err = err.Error()
	}
	return l.Send(reply)
}

// TestFleet is the acceptance test of adaptive limits: for each imitation server, with the
// configured limit far above the server's, three processes sharing Redis get at most one
// rejection per server window after the first signal and finish within 15% of the ideal time.
// It uses the Redis REDIS_URL names, or else a miniredis on a TCP port the children reach.
func TestFleet(t *testing.T) {
	if testing.Short() {
		t.Skip("a 40 s fleet run")
	}
	const members = 3
	url := os.Getenv("REDIS_URL")
	if url == "" {
		if os.Getenv("WEIR_REQUIRE_REDIS") == "1" {
			t.Fatal("WEIR_REQUIRE_REDIS=1 but REDIS_URL is not set: the fleet test would run on miniredis")
		}
		url = "redis://" + miniredis.RunT(t).Addr()
	}
	prefix := fmt.Sprintf("weiradapt-%d-%d", os.Getpid(), time.Now().UnixNano())
	t.Cleanup(func() { deletePrefix(t, url, prefix) })

	scs := adaptfleet.Scenarios()
	servers := make([]*vendorapi.Server, len(scs))
	urls := make([]string, len(scs))
	for i, sc := range scs {
		srv, err := vendorapi.New(sc.Kind, sc.Config)
		require.NoError(t, err)
		hs := httptest.NewServer(srv)
		t.Cleanup(hs.Close)
		servers[i], urls[i] = srv, hs.URL+"/v1/thing"
	}
	f := fleet.Start(t, members, fleet.Spec{Role: roleAdapt, Lifetime: 3 * time.Minute})
	require.NoError(t, f.Broadcast(adaptCmd{RedisURL: url, Prefix: prefix, URLs: urls, Members: members}))
	failed := make([]int, len(scs))
	for range members {
		m, err := f.Recv(2 * time.Minute)
		require.NoError(t, err)
		var r adaptReply
		require.NoError(t, m.Decode(&r))
		require.Empty(t, r.Err, "child %d", m.From)
		for i, n := range r.Failed {
			failed[i] += n
		}
	}
	for i, sc := range scs {
		v, err, missed := adaptfleet.Judge(servers[i], sc, adaptfleet.Strict())
		t.Logf("%v  calls made again %d %s", v, failed[i], windows(servers[i]))
		if missed != nil {
			t.Logf("acceptance missed: %v", missed)
		}
		if err != nil {
			t.Error(err)
		}
	}
}

func deletePrefix(tb testing.TB, url, prefix string) {
	o, err := goredis.ParseURL(url)
	if err != nil {
		tb.Error(err)
		return
	}
	rdb := goredis.NewClient(o)
	defer rdb.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		_ = rdb.Del(ctx, iter.Val()).Err()
	}
}
