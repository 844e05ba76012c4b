package main

// An end-to-end test of a hostile producer against real `worker run` processes: jobs that make the
// upstream redirect to another loopback server, and an upstream that echoes credentials back. The
// second server must get nothing, the redirected jobs must fail naming the refused redirect, and
// the profile's secret must appear nowhere: not in a result, a dead-letter entry, the workers'
// logs (at debug level), or any key the fleet left in Redis.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/weir-go/weir/internal/workerfleet"
	"github.com/weir-go/weir/pkg/queue"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

func TestHostileJobsAgainstWorkerProcesses(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the worker processes are stopped with SIGTERM")
	}
	redisURL, mini := fleetRedisURL(t)
	bin := workerfleet.Build(t, ".")
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	secret := fmt.Sprintf("pr0file-s3cret-%x", rand.Uint64())

	var stolen atomic.Int64
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		stolen.Add(1)
		_, _ = io.WriteString(w, "elsewhere")
	}))
	defer elsewhere.Close()
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The profile's header is X-Partner, which no built-in rule takes for a credential: only
		// the profile's naming it keeps it out of the debug log.
		key := r.Header.Get("X-Partner")
		switch r.URL.Path {
		case "/reason":
			// The credential echoed in the status line's reason phrase.
			conn, buf, err := w.(http.Hijacker).Hijack()
			if err == nil {
				_, _ = buf.WriteString("HTTP/1.1 503 Unavailable " + key + "\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
				_ = buf.Flush()
				_ = conn.Close()
			}
		case "/badlocation":
			w.Header().Set("Location", "/x%zz?k="+key)
			w.WriteHeader(http.StatusFound)
		case "/climb":
			w.Header().Set("Location", "/%2e%2e/admin?k="+key)
			w.WriteHeader(http.StatusFound)
		case "/steal":
			http.Redirect(w, r, elsewhere.URL+"/loot?from=steal", http.StatusFound)
		case "/replay":
			http.Redirect(w, r, elsewhere.URL+"/loot", http.StatusTemporaryRedirect)
		case "/echo":
			// Credentials echoed back, in headers and a cookie, and 2 MB of body.
			for k, vs := range r.Header {
				w.Header()[k] = vs
			}
			w.Header().Set("Set-Cookie", "session="+key)
			w.Header().Set("Content-Length", fmt.Sprint(2<<20))
			_, _ = io.WriteString(w, strings.Repeat("x", 2<<20))
		default:
			http.NotFound(w, r)
		}
	}))
	defer up.Close()

	prefix := fmt.Sprintf("weirhostile-%d-%x", os.Getpid(), rand.Uint32())
	st, err := weirredis.Open(ctx, redisURL, weirredis.Options{Prefix: prefix})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteKeys(st, prefix); _ = st.Close() })

	// On a real Redis the workers run as the README's ACL user, limited to their prefix.
	workerURL := redisURL
	if !mini {
		workerURL = aclUser(t, st.Client(), redisURL, prefix)
	}

	cfg := map[string]any{
		"queue": map[string]any{"max_attempts": 3, "max_result": 256 << 10},
		"upstreams": []any{map[string]any{
			"name": "api", "base_url": up.URL, "timeout": "5s",
			"limits":  []any{map[string]any{"requests": 100, "per": "1s"}},
			"headers": map[string]string{"X-Partner": "${HOSTILE_SECRET}"},
			"retry":   map[string]any{"max_retries": -1},
		}},
	}
	b, _ := json.Marshal(cfg)
	config := filepath.Join(t.TempDir(), "config.json")
	if err := os.WriteFile(config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var ws []*workerfleet.Proc
	for i := range 2 {
		w := workerfleet.Start(t, ctx, fmt.Sprintf("w%d", i+1), bin, []string{"HOSTILE_SECRET=" + secret},
			"run", "--config", config, "--redis", workerURL, "--prefix", prefix, "--concurrency", "2",
			"--listen", "127.0.0.1:0", "--log-level", "debug", "--grace", "5s")
		ws = append(ws, w)
	}
	for _, w := range ws {
		w.WaitReady(t, ctx)
	}

	p, err := queue.NewProducer(st, queue.ProducerConfig{Upstreams: map[string]queue.Rules{"api": {SecretHeaders: []string{"X-Partner"}}}})
	if err != nil {
		t.Fatal(err)
	}
	jobs := []queue.Request{
		{Upstream: "api", Method: http.MethodGet, Path: "/steal"},
		{Upstream: "api", Method: http.MethodPost, Path: "/replay", Body: []byte("the producer's body")},
		{Upstream: "api", Method: http.MethodGet, Path: "/echo"},
		{Upstream: "api", Method: http.MethodGet, Path: "/reason"},
		{Upstream: "api", Method: http.MethodGet, Path: "/badlocation"},
		{Upstream: "api", Method: http.MethodGet, Path: "/climb"},
	}
	results := make([]queue.Response, len(jobs))
	for i, j := range jobs {
		tk, err := p.Enqueue(ctx, j, queue.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if results[i], err = tk.Wait(ctx); err != nil {
			t.Fatalf("job %s %s: %v", j.Method, j.Path, err)
		}
	}
	for _, w := range ws {
		w.Signal(t, syscall.SIGTERM)
	}
	for _, w := range ws {
		if err := w.Wait(ctx, 10*time.Second); err != nil {
			t.Errorf("worker %s after SIGTERM: %v", w.Name, err)
		}
	}

	if n := stolen.Load(); n != 0 {
		t.Errorf("the other server got %d requests, want none", n)
	}
	for i, res := range results[:2] {
		if !res.Dead || res.Attempts != 1 || !strings.Contains(res.Error, "redirect refused") || !strings.Contains(res.Error, elsewhere.URL+"/loot") {
			t.Errorf("job %s: %+v, want dead after one attempt, naming the refused redirect to %s/loot", jobs[i].Path, res, elsewhere.URL)
		}
	}
	if r := results[3]; !r.Dead || r.Attempts != 3 || !strings.Contains(r.Error, "503 Service Unavailable") {
		t.Errorf("job /reason: %+v, want dead after 3 attempts, naming the status", r)
	}
	for i, r := range results[4:] {
		if !r.Dead || r.Attempts != 1 || !strings.Contains(r.Error, "redirect refused") {
			t.Errorf("job %s: %+v, want dead after one attempt, naming the refused redirect", jobs[4+i].Path, r)
		}
	}
	echo := results[2]
	if echo.Dead || echo.Status != http.StatusOK || !echo.Truncated || echo.Length != 2<<20 {
		t.Errorf("echo: status %d, dead %v (%s), truncated %v, length %d; want 200, truncated, length %d",
			echo.Status, echo.Dead, echo.Error, echo.Truncated, echo.Length, 2<<20)
	}
	dead, err := st.Dead(ctx, "api", 10)
	if err != nil {
		t.Fatal(err)
	}
	if len(dead) != 5 {
		t.Errorf("%d dead jobs, want the 4 redirected ones and the one refused with 503", len(dead))
	}

	// Nowhere a trace of the secret.
	var places []string
	for i, res := range results {
		raw, _ := json.Marshal(res)
		places = append(places, fmt.Sprintf("result of %s", jobs[i].Path), string(raw))
	}
	for _, d := range dead {
		raw, _ := json.Marshal(d)
		places = append(places, "dead job "+d.ID, string(raw))
	}
	for _, w := range ws {
		places = append(places, "the log of "+w.Name, w.Output())
	}
	keys := dumpKeys(t, st.Client(), prefix)
	if len(keys) == 0 {
		t.Fatal("no key under the prefix: the scan looked in the wrong place")
	}
	for k, v := range keys {
		places = append(places, "Redis key "+k, v)
	}
	for i := 0; i < len(places); i += 2 {
		if strings.Contains(places[i+1], secret) {
			t.Errorf("the secret appears in %s", places[i])
		}
	}
	if !strings.Contains(ws[0].Output()+ws[1].Output(), "level=DEBUG") {
		t.Error("the workers logged nothing at debug level: the log check proves nothing")
	}
	t.Logf("checked %d results, %d dead jobs, %d Redis keys and %d logs", len(results), len(dead), len(keys), len(ws))
}

// aclUser creates a Redis user with the rights the README gives a worker fleet, limited to
// prefix, removed when the test ends, and returns redisURL with that user's credentials.
func aclUser(t *testing.T, rdb goredis.UniversalClient, redisURL, prefix string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	name, pass := "weir-acl-"+prefix, fmt.Sprintf("pw-%x", rand.Uint64())
	err := rdb.Do(ctx, "ACL", "SETUSER", name, "on", ">"+pass, "~"+prefix+":*", "resetchannels",
		"-@all", "+@read", "+@write", "+@scripting", "+@connection", "+time", "-@dangerous").Err()
	if err != nil {
		t.Fatalf("creating the ACL user: %v", err)
	}
	t.Cleanup(func() { _ = rdb.Do(context.Background(), "ACL", "DELUSER", name).Err() })
	u, err := neturl.Parse(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	u.User = neturl.UserPassword(name, pass)
	return u.String()
}

// dumpKeys returns every key under prefix with its whole content as text, whatever its type.
func dumpKeys(t *testing.T, rdb goredis.UniversalClient, prefix string) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var mu sync.Mutex // ForEachMaster scans the nodes at once
	out := map[string]string{}
	scan := func(c *goredis.Client) error {
		iter := c.Scan(ctx, 0, prefix+":*", 1000).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			var v any
			var err error
			switch typ := c.Type(ctx, k).Val(); typ {
			case "string":
				v, err = c.Get(ctx, k).Result()
			case "hash":
				v, err = c.HGetAll(ctx, k).Result()
			case "zset":
				v, err = c.ZRangeWithScores(ctx, k, 0, -1).Result()
			case "list":
				v, err = c.LRange(ctx, k, 0, -1).Result()
			case "set":
				v, err = c.SMembers(ctx, k).Result()
			case "stream":
				v, err = c.XRange(ctx, k, "-", "+").Result()
			case "none":
				continue // gone since the scan saw it
			default:
				t.Errorf("key %s has type %s, which this test cannot read", k, typ)
			}
			if err != nil {
				return fmt.Errorf("reading %s: %w", k, err)
			}
			mu.Lock()
			out[k] = fmt.Sprint(v)
			mu.Unlock()
		}
		return iter.Err()
	}
	var err error
	switch c := rdb.(type) {
	case *goredis.ClusterClient:
		err = c.ForEachMaster(ctx, func(ctx context.Context, n *goredis.Client) error { return scan(n) })
	case *goredis.Client:
		err = scan(c)
	default:
		t.Fatalf("a Redis client of type %T", rdb)
	}
	if err != nil {
		t.Fatal(err)
	}
	return out
}
