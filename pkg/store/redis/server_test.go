package redis_test

import (
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"
)

// ownRedis is a Redis server of one test's own, on a loopback port, that the test may kill,
// freeze and start again on the same port: a redis-server process when the binary is on PATH,
// a miniredis otherwise (which can only be closed and restarted). Under WEIR_REQUIRE_REDIS=1 the
// binary is required.
type ownRedis struct {
	tb   testing.TB
	port int
	dir  string
	cmd  *exec.Cmd            // the running process; nil while stopped
	mr   *miniredis.Miniredis // the stand-in
}

func startOwnRedis(tb testing.TB) *ownRedis {
	tb.Helper()
	o := &ownRedis{tb: tb}
	if _, err := exec.LookPath("redis-server"); err != nil {
		if redisRequired() {
			tb.Fatalf("WEIR_REQUIRE_REDIS=1 but there is no redis-server on PATH: %v", err)
		}
		tb.Logf("no redis-server on PATH (%v): using miniredis", err)
		o.mr = miniredis.RunT(tb)
		return o
	}
	o.port = freePort(tb)
	o.dir = tb.TempDir()
	o.start()
	tb.Cleanup(o.kill)
	return o
}

// real reports whether the server is a redis-server process.
func (o *ownRedis) real() bool { return o.mr == nil }

func (o *ownRedis) addr() string {
	if o.mr != nil {
		return o.mr.Addr()
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(o.port))
}

// start starts the server (again, on the same port) and waits until it answers.
func (o *ownRedis) start() {
	o.tb.Helper()
	if o.mr != nil {
		require.NoError(o.tb, o.mr.Restart())
		return
	}
	require.Nil(o.tb, o.cmd, "already running")
	cmd := exec.Command("redis-server",
		"--port", strconv.Itoa(o.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
		"--dir", o.dir, "--logfile", filepath.Join(o.dir, "redis.log"), "--daemonize", "no")
	require.NoError(o.tb, cmd.Start())
	o.cmd = cmd
	rdb := goredis.NewClient(&goredis.Options{Addr: o.addr(), MaxRetries: -1, DialTimeout: 100 * time.Millisecond})
	defer rdb.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
		err := rdb.Ping(ctx).Err()
		cancel()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(filepath.Join(o.dir, "redis.log"))
			o.tb.Fatalf("redis-server on port %d does not answer: %v\n%s", o.port, err, log)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// kill stops the server at once: SIGKILL, no goodbye to its clients.
func (o *ownRedis) kill() {
	if o.mr != nil {
		o.mr.Close()
		return
	}
	if o.cmd == nil {
		return
	}
	_ = o.cmd.Process.Signal(syscall.SIGKILL)
	_ = o.cmd.Wait()
	o.cmd = nil
}

// freeze stops the process without closing its connections (SIGSTOP): requests go unanswered.
func (o *ownRedis) freeze() { require.NoError(o.tb, o.cmd.Process.Signal(syscall.SIGSTOP)) }

// thaw lets a frozen process go on (SIGCONT).
func (o *ownRedis) thaw() { require.NoError(o.tb, o.cmd.Process.Signal(syscall.SIGCONT)) }

// freePort returns a loopback port that nothing listens on.
func freePort(tb testing.TB) int {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(tb, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(tb, ln.Close())
	return port
}
