package lua_test

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/lua"
)

var scripts = []*lua.Script{lua.Take, lua.Block, lua.Breaker}

// replyErr is a Redis error reply as go-redis reports one: an error that is a redis.Error.
type replyErr string

func (e replyErr) Error() string { return string(e) }
func (replyErr) RedisError()     {}

var _ redis.Error = replyErr("")

// client returns a client of REDIS_URL when set, of a fresh miniredis otherwise, and whether the
// server is the test's alone (other tests may load and flush scripts on a shared one).
func client(t *testing.T) (rdb redis.UniversalClient, private bool) {
	t.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		o, err := redis.ParseURL(url)
		require.NoError(t, err)
		rdb = redis.NewClient(o)
	} else {
		rdb, private = redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()}), true
	}
	t.Cleanup(func() { _ = rdb.Close() })
	return rdb, private
}

func TestIsNoScript(t *testing.T) {
	ctx := context.Background()
	mr := miniredis.RunT(t)
	rdb := redis.NewClient(&redis.Options{Addr: mr.Addr()})
	t.Cleanup(func() { _ = rdb.Close() })

	// Real replies from a server.
	noscript := rdb.EvalSha(ctx, strings.Repeat("0", 40), []string{"k"}).Err()
	require.Error(t, noscript)
	require.NoError(t, rdb.HSet(ctx, "h", "f", "v").Err())
	wrongtype := rdb.Get(ctx, "h").Err()
	require.Error(t, wrongtype)
	require.Contains(t, wrongtype.Error(), "WRONGTYPE")

	// A network error: nothing listens on a port just freed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	dead := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialTimeout: time.Second})
	t.Cleanup(func() { _ = dead.Close() })
	network := dead.EvalSha(ctx, lua.Take.SHA(), []string{"k"}).Err()
	require.Error(t, network)

	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"NOSCRIPT reply", noscript, true},
		{"NOSCRIPT reply, wrapped", fmt.Errorf("weir: %w", noscript), true},
		{"NOSCRIPT, as go-redis types it", replyErr("NOSCRIPT No matching script. Please use EVAL."), true},
		{"NOSCRIPT alone", replyErr("NOSCRIPT"), true},
		{"nil", nil, false},
		{"WRONGTYPE reply", wrongtype, false},
		{"network error", network, false},
		{"deadline", context.DeadlineExceeded, false},
		{"text that is no reply", errors.New("NOSCRIPT No matching script"), false},
		{"another code that starts alike", replyErr("NOSCRIPTS are fine"), false},
		{"NOSCRIPT later in a reply", replyErr("ERR NOSCRIPT"), false},
		{"lower case", replyErr("noscript no matching script"), false},
	} {
		assert.Equal(t, c.want, lua.IsNoScript(c.err), "%s: %v", c.name, c.err)
	}
}

// scriptFiles returns every script in the package, by file name, as the files on disk hold them:
// the contract applies to scripts added later as much as to these.
func scriptFiles(t *testing.T) map[string]string {
	t.Helper()
	names, err := filepath.Glob("*.lua")
	require.NoError(t, err)
	require.NotEmpty(t, names)
	files := map[string]string{}
	for _, name := range names {
		src, err := os.ReadFile(name)
		require.NoError(t, err)
		files[name] = string(src)
	}
	return files
}

// TestHeaders checks that every script opens with its contract, and that the contract declares
// every key and every numbered argument the script reads.
func TestHeaders(t *testing.T) {
	for name, src := range scriptFiles(t) {
		t.Run(name, func(t *testing.T) {
			header, body := splitHeader(src)
			require.True(t, strings.HasPrefix(header, "-- "+name+":"), "the header opens with the script's name: %q", firstLine(header))
			for _, want := range []string{"-- KEYS[1] -> ", "-- returns -> "} {
				assert.Contains(t, header, want)
			}
			if strings.Contains(body, "ARGV") { // a script may take no arguments at all
				assert.Contains(t, header, "-- ARGV[1] -> ")
			}
			for _, m := range regexp.MustCompile(`\b(KEYS|ARGV)\[(\d+)\]`).FindAllStringSubmatch(body, -1) {
				assert.Contains(t, header, m[1]+"["+m[2]+"] -> ", "%s is used but not declared", m[0])
			}
			// The header's own numbering is complete: KEYS[1..n] and ARGV[1..m] without gaps.
			for _, kind := range []string{"KEYS", "ARGV"} {
				declared := regexp.MustCompile(`\b`+kind+`\[(\d+)\] -> `).FindAllStringSubmatch(header, -1)
				for i, m := range declared {
					n, _ := strconv.Atoi(m[1])
					assert.Equal(t, i+1, n, "%s[%d] declared out of order", kind, n)
				}
			}
		})
	}
}

// TestKeysComeFromKEYS checks that every Redis command a script runs names its key through KEYS
// (at a literal index, or one the script computes, as queue_dequeue.lua does for its acks' results),
// never a name built inside the script: on a Cluster a built name may live in another slot, and
// only KEYS tells Redis (and a proxy) where the script must run.
func TestKeysComeFromKEYS(t *testing.T) {
	call := regexp.MustCompile(`redis\.(?:p?call)\(\s*'([A-Za-z]+)'\s*(?:,\s*([^,)]+))?`)
	for name, src := range scriptFiles(t) {
		_, body := splitHeader(src)
		calls := call.FindAllStringSubmatch(body, -1)
		require.NotEmpty(t, calls, name)
		for _, c := range calls {
			cmd, key := strings.ToUpper(c[1]), strings.TrimSpace(c[2])
			if cmd == "TIME" {
				assert.Empty(t, key, "%s: TIME takes no key", name)
				continue
			}
			assert.Regexp(t, `^KEYS\[[^\[\]]+\]$`, key, "%s: %s names its key %q", name, cmd, key)
		}
	}
}

func TestSourceAndSHA(t *testing.T) {
	rdb, _ := client(t)
	shas := map[string]string{}
	for _, s := range scripts {
		onDisk, err := os.ReadFile(s.Name())
		require.NoError(t, err)
		assert.Equal(t, string(onDisk), s.Source(), "%s: the embedded source is the file", s.Name())
		sum := sha1.Sum(onDisk)
		assert.Equal(t, hex.EncodeToString(sum[:]), s.SHA(), s.Name())
		loaded, err := rdb.ScriptLoad(context.Background(), s.Source()).Result()
		require.NoError(t, err)
		assert.Equal(t, loaded, s.SHA(), "%s: the server names the script by the same SHA", s.Name())
		assert.NotContains(t, shas, s.SHA())
		shas[s.SHA()] = s.Name()
	}
}

// TestRunReloads runs a script on a server that has never seen it, then after SCRIPT FLUSH: each
// time EVALSHA answers NOSCRIPT and Run loads the script and runs it.
func TestRunReloads(t *testing.T) {
	ctx := context.Background()
	rdb, private := client(t)
	key := fmt.Sprintf("weirtest-lua:{rl:%d}", time.Now().UnixNano())
	t.Cleanup(func() { rdb.Del(context.Background(), key) })
	until := time.Now().Add(time.Hour).UnixMicro()
	block := func() int64 {
		t.Helper()
		v, err := lua.Block.Run(ctx, rdb, []string{key}, 0, until).Int64()
		require.NoError(t, err)
		return v
	}
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	first := block()
	assert.Equal(t, until, first)
	if private {
		exists, err := rdb.ScriptExists(ctx, lua.Block.SHA()).Result()
		require.NoError(t, err)
		assert.Equal(t, []bool{true}, exists, "Run loaded the script")
	}
	assert.Equal(t, first, block(), "by EVALSHA now")
	require.NoError(t, rdb.ScriptFlush(ctx).Err())
	assert.Equal(t, first, block(), "loaded again after SCRIPT FLUSH")
}

// forgetful is a Scripter whose server never knows the script and cannot load it.
type forgetful struct{ loads int }

func (f *forgetful) EvalSha(ctx context.Context, sha string, keys []string, args ...any) *redis.Cmd {
	cmd := redis.NewCmd(ctx)
	cmd.SetErr(replyErr("NOSCRIPT No matching script. Please use EVAL."))
	return cmd
}

func (f *forgetful) ScriptLoad(ctx context.Context, script string) *redis.StringCmd {
	f.loads++
	cmd := redis.NewStringCmd(ctx)
	cmd.SetErr(replyErr("ERR scripts are disabled here"))
	return cmd
}

func TestRunReportsFailedLoad(t *testing.T) {
	f := &forgetful{}
	err := lua.Take.Run(context.Background(), f, []string{"k"}, 0).Err()
	require.Error(t, err)
	assert.Contains(t, err.Error(), "take.lua")
	assert.Contains(t, err.Error(), "scripts are disabled")
	assert.Equal(t, 1, f.loads, "one load, no loop")
}

// splitHeader splits a script into its opening comment block and the rest.
func splitHeader(src string) (header, body string) {
	lines := strings.SplitAfter(src, "\n")
	i := 0
	for i < len(lines) && strings.HasPrefix(lines[i], "--") {
		i++
	}
	return strings.Join(lines[:i], ""), strings.Join(lines[i:], "")
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}

// TestRunIntsReloads does for RunInts what TestRunReloads does for Run, with a script whose reply
// is an array of integers, read into []int64.
func TestRunIntsReloads(t *testing.T) {
	ctx := context.Background()
	rdb, _ := client(t)
	key := fmt.Sprintf("weirtest-lua:{rl:%d}", time.Now().UnixNano())
	t.Cleanup(func() { rdb.Del(context.Background(), key) })
	until := time.Now().Add(time.Hour).UnixMicro()
	require.NoError(t, lua.Block.Run(ctx, rdb, []string{key}, 0, until).Err())
	for range 2 {
		require.NoError(t, rdb.ScriptFlush(ctx).Err())
		got, err := lua.Learned.RunInts(ctx, rdb, []string{key}, 0).Result()
		require.NoError(t, err)
		assert.Equal(t, []int64{0, 0, 0, 0, 0, 0, until, 0}, got, "no paces; the pause's end")
	}
}
