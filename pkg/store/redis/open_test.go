package redis_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

const secret = "s3cr3t-Pa55"

// TestOpenUnreachable opens a URL where nothing listens: the error wraps store.ErrUnavailable,
// names the address, and hides the password, whether the store's timeout or the caller's
// deadline ends the wait.
func TestOpenUnreachable(t *testing.T) {
	addr := fmt.Sprintf("127.0.0.1:%d", freePort(t))
	for _, c := range []struct {
		name     string
		url      string
		timeout  time.Duration // Options.Timeout
		deadline time.Duration // the caller's
	}{
		{"store timeout", "redis://weir:" + secret + "@" + addr + "/0", 300 * time.Millisecond, 5 * time.Second},
		{"caller deadline", "redis://weir:" + secret + "@" + addr + "/0", 0, 300 * time.Millisecond},
		{"password with @ and :", "redis://weir:" + secret + "@x:y@" + addr + "/0", 300 * time.Millisecond, 5 * time.Second},
		{"password only", "redis://:" + secret + "@" + addr, 300 * time.Millisecond, 5 * time.Second},
		{"cluster", "redis://weir:" + secret + "@" + addr + "?addr=" + addr, 300 * time.Millisecond, 5 * time.Second},
	} {
		t.Run(c.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), c.deadline)
			defer cancel()
			start := time.Now()
			s, err := weirredis.Open(ctx, c.url, weirredis.Options{Timeout: c.timeout})
			took := time.Since(start)
			require.Nil(t, s)
			require.ErrorIs(t, err, store.ErrUnavailable)
			require.ErrorContains(t, err, addr, "the error names the address")
			require.NotContains(t, err.Error(), secret, "the error hides the password")
			require.NotContains(t, err.Error(), "x:y", "the error hides the whole password")
			require.Less(t, took, time.Second, "Open gives up in time")
			t.Logf("%v after %v", err, took)
		})
	}
}

// TestOpenMalformed opens URLs that do not parse: the error wraps store.ErrInvalid, comes at once,
// and never repeats the password.
func TestOpenMalformed(t *testing.T) {
	for _, url := range []string{
		"",
		"not a url",
		"http://weir:" + secret + "@127.0.0.1:6379/0",
		"redis://weir:" + secret + "%zz@127.0.0.1:6379/0",
		"redis://weir:" + secret + "@127.0.0.1:6379/not-a-db",
		"redis://weir:" + secret + "@127.0.0.1:6379/0?dial_timeout=soon",
		"redis://weir:" + secret + "@[::1/0",
		"redis://weir:" + secret + "@127.0.0.1:7000?addr=127.0.0.1:7001&dial_timeout=soon",
	} {
		start := time.Now()
		s, err := weirredis.Open(t.Context(), url, weirredis.Options{})
		require.Nil(t, s, url)
		require.ErrorIs(t, err, store.ErrInvalid, url)
		require.NotErrorIs(t, err, store.ErrUnavailable, url)
		require.NotContains(t, err.Error(), secret, "the error hides the password")
		require.Less(t, time.Since(start), 250*time.Millisecond, "%s: no connection attempted", url)
		t.Logf("%q: %v", url, err)
	}
}

// TestOptionsValidated checks that New and Open reject bad options with an error naming the
// field, and accept the zero Options.
func TestOptionsValidated(t *testing.T) {
	mr := miniredis.RunT(t)
	rdb := miniClient(t, mr)
	for _, c := range []struct {
		opts  weirredis.Options
		field string
	}{
		{weirredis.Options{Prefix: "my{app}"}, "Prefix"},
		{weirredis.Options{Prefix: "{"}, "Prefix"},
		{weirredis.Options{Prefix: "app}"}, "Prefix"},
		{weirredis.Options{Timeout: -time.Second}, "Timeout"},
		{weirredis.Options{Timeout: -1}, "Timeout"},
	} {
		s, err := weirredis.New(rdb, c.opts)
		require.Nil(t, s)
		require.ErrorIs(t, err, store.ErrInvalid, "%+v", c.opts)
		require.ErrorContains(t, err, c.field)

		s, err = weirredis.Open(t.Context(), "redis://"+mr.Addr(), c.opts)
		require.Nil(t, s)
		require.ErrorIs(t, err, store.ErrInvalid, "%+v", c.opts)
		require.ErrorContains(t, err, c.field)
	}
	_, err := weirredis.New(nil, weirredis.Options{})
	require.ErrorIs(t, err, store.ErrInvalid)

	s, err := weirredis.New(rdb, weirredis.Options{})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	s, err = weirredis.Open(t.Context(), "redis://"+mr.Addr()+"/0", weirredis.Options{Prefix: "app", Timeout: time.Second})
	require.NoError(t, err)
	require.NoError(t, s.Close())
	require.NoError(t, s.Close(), "Close twice")
	_, err = s.Take(t.Context(), "k", []store.Limit{store.PerSecond(1)}, 1)
	require.ErrorIs(t, err, store.ErrClosed)
}
