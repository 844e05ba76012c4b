package redis_test

// Fleet tests: real OS processes (this test binary, run again as children by internal/fleet)
// share one Redis and must behave as one client — one rate limit, one breaker.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/internal/fleet"
	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

// roleCaller is the one role of these tests' children: a client.Client on the shared Redis.
const roleCaller = "caller"

// TestFleetChild is the children's entry; in an ordinary run it passes, doing nothing.
func TestFleetChild(t *testing.T) {
	fleet.Serve(t, map[string]fleet.Role{roleCaller: callerRole})
}

// What the parent and the children say to each other, one JSON line each.
type (
	fleetCmd struct {
		Op string // "config", "run", "fire"
		// config
		Config *callerConfig `json:",omitempty"`
		// run: Workers goroutines call Get in a loop from Start (Unix ns, wall clock: one machine,
		// one clock) for Duration.
		Start    int64         `json:",omitempty"`
		Duration time.Duration `json:",omitempty"`
		Workers  int           `json:",omitempty"`
		// fire: N calls, all at once when Concurrent, else one after the other; each is answered
		// by a "call" reply carrying Tag.
		N          int    `json:",omitempty"`
		Concurrent bool   `json:",omitempty"`
		Tag        string `json:",omitempty"`
	}
	callerConfig struct {
		RedisURL, Prefix, Name string
		URL, WarmURL           string
		Limits                 []store.Limit
		Breaker                store.BreakerPolicy
	}
	fleetReply struct {
		Op string // "ready", "run", "call"
		// run
		OK, Limited, Late, Other int64  `json:",omitempty"`
		FirstErr                 string `json:",omitempty"`
		// call
		Tag     string        `json:",omitempty"`
		Status  int           `json:",omitempty"` // the response's, or the last one a failed call saw
		Open    bool          `json:",omitempty"` // refused by the breaker (errors.Is breaker.ErrOpen)
		State   string        `json:",omitempty"` // the breaker state of the refusal
		Err     string        `json:",omitempty"`
		Elapsed time.Duration `json:",omitempty"`
	}
)

// callerRole builds a client on "config", then obeys commands until stdin ends.
func callerRole(ctx context.Context, l *fleet.Link) error {
	var c *caller
	defer func() {
		if c != nil {
			c.close()
		}
	}()
	for {
		var cmd fleetCmd
		if err := l.Recv(ctx, &cmd); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if cmd.Op != "config" && c == nil {
			return fmt.Errorf("%q before config", cmd.Op)
		}
		var err error
		switch cmd.Op {
		case "config":
			if c, err = newCaller(ctx, *cmd.Config); err == nil {
				err = l.Send(fleetReply{Op: "ready"})
			}
		case "run":
			err = l.Send(c.run(ctx, cmd))
		case "fire":
			c.fire(ctx, l, cmd)
		default:
			err = fmt.Errorf("unknown command %q", cmd.Op)
		}
		if err != nil {
			return err
		}
	}
}

type caller struct {
	st  *weirredis.Store
	cl  *client.Client
	tr  *http.Transport
	url string
	wg  sync.WaitGroup // fires in flight
}

func newCaller(ctx context.Context, cfg callerConfig) (*caller, error) {
	// A patient store: on a busy machine (-race, miniredis in the parent) a script can take longer
	// than the default second, and a store that times out fails every call closed for a while,
	// which is a test of availability, not of the limits.
	st, err := weirredis.Open(ctx, cfg.RedisURL, weirredis.Options{Prefix: cfg.Prefix, Timeout: 10 * time.Second})
	if err != nil {
		return nil, err
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConnsPerHost = 256
	base := client.Config{
		Store:     fleet.StampGrants(st),
		Limits:    cfg.Limits,
		Breaker:   breaker.Config{BreakerPolicy: cfg.Breaker},
		Retry:     client.RetryConfig{MaxRetries: client.NoRetries},
		Transport: fleet.Stamp(tr),
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
	// Warm up under a name of its own (its own bucket and breaker): the scripts get loaded and
	// the connections opened before anything is measured.
	warm := base
	warm.Name = cfg.Name + "-warm"
	wc, err := client.New(warm)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	// A few calls at once, so that there are a few connections to Redis and to the upstream.
	var errs = make(chan error, warmCalls)
	var wg sync.WaitGroup
	for range warmCalls {
		wg.Go(func() {
			resp, err := wc.Get(ctx, cfg.WarmURL)
			if err == nil {
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
			errs <- err
		})
	}
	wg.Wait()
	close(errs)
	_ = wc.Close()
	for e := range errs {
		err = errors.Join(err, e)
	}
	if err != nil {
		return nil, errors.Join(fmt.Errorf("warming up: %w", err), st.Close())
	}
	base.Name = cfg.Name
	cl, err := client.New(base)
	if err != nil {
		return nil, errors.Join(err, st.Close())
	}
	return &caller{st: st, cl: cl, tr: tr, url: cfg.URL}, nil
}

func (c *caller) close() {
	_ = c.cl.Close() // cuts short whatever is still in flight
	c.wg.Wait()
	c.tr.CloseIdleConnections()
	_ = c.st.Close()
}

// run calls Get from cmd.Workers goroutines, as fast as the client lets them, from cmd.Start
// until cmd.Start + cmd.Duration, and counts the outcomes.
func (c *caller) run(ctx context.Context, cmd fleetCmd) fleetReply {
	start := time.Unix(0, cmd.Start)
	end := start.Add(cmd.Duration)
	wait := time.NewTimer(time.Until(start))
	defer wait.Stop()
	select {
	case <-wait.C:
	case <-ctx.Done():
		return fleetReply{Op: "run", FirstErr: "stopped before the start"}
	}
	rctx, cancel := context.WithDeadline(ctx, end)
	defer cancel()
	var ok, limited, late, other atomic.Int64
	var firstErr atomic.Pointer[string]
	var wg sync.WaitGroup
	for range cmd.Workers {
		wg.Go(func() {
			for rctx.Err() == nil {
				resp, err := c.cl.Get(fleet.WithGrant(rctx), c.url)
				var rle *client.RateLimitError
				switch {
				case err == nil:
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if resp.StatusCode == http.StatusOK {
						ok.Add(1)
					} else {
						other.Add(1)
						s := resp.Status
						firstErr.CompareAndSwap(nil, &s)
					}
				case errors.As(err, &rle):
					// The next token lies after the deadline: no later call can get one either.
					limited.Add(1)
					if rle.RetryAfter >= time.Until(end) {
						return
					}
				case rctx.Err() != nil || !time.Now().Before(end):
					late.Add(1) // cut short by the end of the run
				default:
					other.Add(1)
					s := err.Error()
					firstErr.CompareAndSwap(nil, &s)
					time.Sleep(10 * time.Millisecond) // do not spin on a persistent failure
				}
			}
		})
	}
	wg.Wait()
	r := fleetReply{Op: "run", OK: ok.Load(), Limited: limited.Load(), Late: late.Load(), Other: other.Load()}
	if s := firstErr.Load(); s != nil {
		r.FirstErr = *s
	}
	return r
}

// fire makes cmd.N calls and answers each with a "call" reply; it returns at once.
func (c *caller) fire(ctx context.Context, l *fleet.Link, cmd fleetCmd) {
	one := func() {
		start := time.Now()
		resp, err := c.cl.Get(ctx, c.url)
		r := fleetReply{Op: "call", Tag: cmd.Tag, Elapsed: time.Since(start)}
		if err == nil {
			r.Status = resp.StatusCode
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		} else {
			r.Err = err.Error()
			var oe *breaker.OpenError
			if errors.As(err, &oe) {
				r.State = oe.State.String()
			}
			r.Open = errors.Is(err, breaker.ErrOpen)
			var ce *client.Error
			if errors.As(err, &ce) {
				r.Status = ce.StatusCode
			}
		}
		_ = l.Send(r) // a lost reply shows as a missing one in the parent
	}
	c.wg.Go(func() {
		if !cmd.Concurrent {
			for range cmd.N {
				one()
			}
			return
		}
		var wg sync.WaitGroup
		for range cmd.N {
			wg.Go(one)
		}
		wg.Wait()
	})
}

// fleetEnv is what a fleet test's parent holds: the shared Redis, a key prefix of the test's own,
// and the upstream the children call.
type fleetEnv struct {
	redisURL  string
	realRedis bool // REDIS_URL, not miniredis
	rdb       *goredis.Client
	prefix    string
	up        *fleet.Upstream
}

// newFleetEnv uses the Redis that REDIS_URL names, or else a miniredis on a real TCP port that the
// children reach like any Redis. Its keys are deleted when the test ends (never FLUSHALL).
func newFleetEnv(tb testing.TB) *fleetEnv {
	tb.Helper()
	url := os.Getenv("REDIS_URL")
	realRedis := url != ""
	if !realRedis {
		if os.Getenv("WEIR_REQUIRE_REDIS") == "1" { // CI's race run: real servers or nothing
			tb.Fatal("WEIR_REQUIRE_REDIS=1 but REDIS_URL is not set: the fleet tests would run on miniredis")
		}
		url = "redis://" + miniredis.RunT(tb).Addr()
	}
	o, err := goredis.ParseURL(url)
	require.NoError(tb, err)
	o.ContextTimeoutEnabled = true
	rdb := goredis.NewClient(o)
	tb.Cleanup(func() { _ = rdb.Close() })
	e := &fleetEnv{redisURL: url, realRedis: realRedis, rdb: rdb}
	return e.sub(tb)
}

// sub returns an environment on the same Redis for tb: a key prefix of its own, unique to this
// run (its keys are deleted when tb ends), and an upstream of its own.
func (e *fleetEnv) sub(tb testing.TB) *fleetEnv {
	tb.Helper()
	s := *e
	s.prefix = fmt.Sprintf("weirfleet-%s-%d-%d", strings.ReplaceAll(tb.Name(), "/", "-"), os.Getpid(), time.Now().UnixNano())
	tb.Cleanup(func() { deleteKeys(tb, s.rdb, s.prefix) })
	s.up = fleet.NewUpstream(tb)
	return &s
}

func deleteKeys(tb testing.TB, rdb goredis.UniversalClient, prefix string) {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		if err := rdb.Del(ctx, iter.Val()).Err(); err != nil {
			tb.Errorf("deleting %s: %v", iter.Val(), err)
		}
	}
	if err := iter.Err(); err != nil {
		tb.Errorf("scanning %s:*: %v", prefix, err)
	}
}

func (e *fleetEnv) config(name string, limits []store.Limit, p store.BreakerPolicy) *callerConfig {
	return &callerConfig{RedisURL: e.redisURL, Prefix: e.prefix, Name: name, URL: e.up.URL, WarmURL: e.up.WarmURL, Limits: limits, Breaker: p}
}

// startCallers starts n caller children configured with cfg and waits until each is ready.
func startCallers(tb testing.TB, n int, cfg *callerConfig) *fleet.Fleet {
	tb.Helper()
	f := fleet.Start(tb, n, fleet.Spec{Role: roleCaller, Lifetime: time.Minute})
	require.NoError(tb, f.Broadcast(fleetCmd{Op: "config", Config: cfg}))
	for _, r := range receive(tb, f, n, 30*time.Second) {
		require.Equal(tb, "ready", r.Op)
	}
	return f
}

type fromReply struct {
	From int
	fleetReply
}

// receive waits for the next n replies, from any child.
func receive(tb testing.TB, f *fleet.Fleet, n int, timeout time.Duration) []fromReply {
	tb.Helper()
	deadline := time.Now().Add(timeout)
	out := make([]fromReply, 0, n)
	for len(out) < n {
		m, err := f.Recv(time.Until(deadline))
		require.NoError(tb, err, "after %d of %d replies", len(out), n)
		var r fleetReply
		require.NoError(tb, m.Decode(&r))
		out = append(out, fromReply{From: m.From, fleetReply: r})
	}
	return out
}

// warmCalls is how many calls a child makes at once to warm up.
const warmCalls = 4

// Rate test parameters. Four processes of sixteen goroutines each ask for far more than the limit
// allows, so demand saturates it throughout, with -race as without.
const (
	rateProcs   = 4
	rateWorkers = 16
	rateRun     = 5 * time.Second
	// minShare is the least share of what the limits allow over the run that must be admitted.
	minShare = 0.97
)

// fleetRate returns the per-second rate and burst of the rate tests. On a real Redis they are the
// acceptance numbers, 200/s with a burst of 20. Miniredis runs inside this test process and
// interprets each script afresh: about 1 ms a script, 7 ms under -race, on the two cores this was
// sized on. A fleet of four runs some six scripts per admitted request (each process's waiting
// line asks for every token, and the breaker acquires and records), so at 200/s the store, not
// the limiter, would be what the test measures: on miniredis the rate is what it serves with room
// to spare. The bursts hold from a tenth of a second's worth (the acceptance numbers) to half a
// second's (miniredis under -race, where every process is slowest): a bucket left full wastes
// tokens, so a fleet held up longer than that by a busy machine admits less than it could.
func fleetRate(realRedis bool) (rate, burst int64) {
	switch {
	case realRedis && !fleet.Race:
		return 200, 20
	case realRedis:
		// Under -race every process of the fleet is several times slower and store answers stall
		// for hundreds of ms on two cores: the acceptance numbers run without -race (CI has a
		// step for it), and this run keeps the same checks at a rate the machine can serve.
		return 50, 25
	case fleet.Race:
		return 20, 10
	default:
		return 50, 10
	}
}

func TestFleetRate(t *testing.T) {
	env := newFleetEnv(t)
	rate, burst := fleetRate(env.realRedis)
	perSecond := store.PerSecond(rate).WithBurst(burst)
	// Three seconds' worth at the per-second rate: with its burst as large, the per-minute limit
	// binds after about three seconds, so both limits shape the run (200/s, then 10/s on a real
	// Redis).
	perMinute := store.PerMinute(3 * rate)
	for _, tc := range []struct {
		name   string
		limits []store.Limit
	}{
		{"one-limit", []store.Limit{perSecond}},
		{"two-limits", []store.Limit{perSecond, perMinute}},
	} {
		t.Run(tc.name, func(t *testing.T) { testFleetRate(t, env.sub(t), tc.limits) })
	}
}

func testFleetRate(t *testing.T, env *fleetEnv, limits []store.Limit) {
	f := startCallers(t, rateProcs, env.config("rate", limits, store.BreakerPolicy{}))

	// A start far enough ahead that every child has the command before it comes, even on a busy
	// machine.
	start := time.Now().Add(500 * time.Millisecond)
	require.NoError(t, f.Broadcast(fleetCmd{Op: "run", Start: start.UnixNano(), Duration: rateRun, Workers: rateWorkers}))
	var sent int64
	for _, r := range receive(t, f, rateProcs, rateRun+30*time.Second) {
		require.Equal(t, "run", r.Op)
		require.Zero(t, r.Other, "child %d: unexpected failures, first: %s", r.From, r.FirstErr)
		t.Logf("child %d: %d ok, %d refused at the end (no token before the deadline), %d cut short by the deadline", r.From, r.OK, r.Limited, r.Late)
		sent += r.OK
	}
	require.NoError(t, f.Stop(10*time.Second))

	arrivals := env.up.Arrivals()
	times := fleet.Sorted(fleet.Times(arrivals))
	n := len(arrivals)
	require.NotZero(t, n)
	require.GreaterOrEqual(t, int64(n), sent, "every call answered 200 arrived")
	grants := map[string]bool{}
	for _, a := range arrivals {
		require.False(t, a.Granted.IsZero(), "a request arrived without a token's stamps: %+v", a)
		require.False(t, grants[a.Grant], "two requests arrived on one token: %+v", a)
		grants[a.Grant] = true
	}
	delays := describeDelays(arrivals)
	t.Logf("%s", delays)

	// The upper bound: each limit's invariant, in any interval of length t at most
	// Burst + rate·t, checked three ways.
	for _, l := range limits {
		// 1. On the server's arrival times alone. They are taken after the answer reached the
		// child, the breaker's round trip, the HTTP request and two schedulers on loaded cores,
		// so a request decided early may arrive late, and an interval between arrivals can hold
		// requests decided over a longer one. Where the bound is tight (intervals opening on the
		// first burst) a delay of d shows as rate·d requests of excess: 2 requests at 200/s for
		// 10 ms, which an idle machine stays under, but -race or a busy machine delays requests by
		// tens, at times hundreds, of milliseconds. So this view is logged, not asserted: 2 and 3
		// judge the same data without guessing a tolerance.
		raw := fleet.WorstInterval(times, l)
		t.Logf("%s, arrivals: worst interval [%v, %v] holds %d where %.2f are allowed: excess %+.2f (%v at the rate)",
			l, raw.Start.Round(time.Microsecond), (raw.Start + raw.Span).Round(time.Microsecond), raw.Count, raw.Allowed, raw.Excess(), atRate(l, raw.Excess()))

		// 2. On the arrivals, with the tolerance measured instead of guessed: the requests that
		// arrived within an interval were decided between the earliest Asked and the latest
		// Granted stamp among them, so the limit allows them Burst + rate·(the longer of the two
		// spans). No delay can fail a correct limiter here, and with delays short the check is as
		// sharp as the bare one.
		judged := fleet.WorstArrivals(arrivals, l)
		t.Logf("%s, arrivals judged by their stamps: worst interval [%v, %v] (decided within %v) holds %d where %.2f are allowed: excess %+.2f",
			l, judged.Start.Round(time.Microsecond), (judged.Start + judged.Span).Round(time.Microsecond), judged.Decided.Round(time.Microsecond), judged.Count, judged.Allowed, judged.Excess())
		require.LessOrEqual(t, judged.Excess(), 1e-9, "%s: the fleet admitted more than the limit allows", l)

		// 3. On the decisions themselves: the decisions whose brackets (Asked to Granted, one
		// round trip to the store) lie wholly inside a window were made inside it.
		exact := fleet.WorstDecisions(fleet.Brackets(arrivals), l)
		t.Logf("%s, decisions: worst window [%v, %v] holds %d where %.2f are allowed: excess %+.2f",
			l, exact.Start.Round(time.Microsecond), (exact.Start + exact.Span).Round(time.Microsecond), exact.Count, exact.Allowed, exact.Excess())
		require.LessOrEqual(t, exact.Excess(), 1e-9, "%s: the store decided more than the limit allows", l)
	}

	// The lower bound, over the fixed window in which the children asked: [start, start+rateRun]
	// by the wall clock they share with the parent. Every arrival comes from a token taken in it
	// (a child asks nothing outside it, and a token decided after the deadline is refused by the
	// caller's context), and the limits together allow at most min over the limits of
	// Burst + rate·rateRun in it (fresh buckets start full).
	allowed := math.Inf(1)
	for _, l := range limits {
		allowed = min(allowed, fleet.Allowed(l, rateRun))
	}
	first, last := times[0].Sub(start), times[n-1].Sub(start)
	t.Logf("admitted %d (%d answered 200 to the children) in the %v window, where the limits allow %.0f: %.1f%%; first arrival %v, last %v after the window opened",
		n, sent, rateRun, allowed, 100*float64(n)/allowed, first.Round(time.Microsecond), last.Round(time.Microsecond))
	require.GreaterOrEqual(t, first, -time.Millisecond, "an arrival before the window opened")
	require.GreaterOrEqual(t, float64(n), minShare*allowed,
		"demand saturated the limit, yet the fleet admitted less than %.0f%% of what it allows; a bucket left full wastes tokens, so a fleet held up for longer than Burst/rate by a slow store or a busy machine admits less: %s",
		100*minShare, delays)
}

// atRate is how long the limit takes to admit x requests.
func atRate(l store.Limit, x float64) time.Duration {
	return time.Duration(x * float64(l.Per) / float64(l.Requests)).Round(time.Microsecond)
}

// describeDelays says how long the store took to answer (the width of each decision's bracket)
// and how long a request took from its token to the server: the measurement's own noise.
func describeDelays(arrivals []fleet.Arrival) string {
	var answer, transit []time.Duration
	for _, a := range arrivals {
		answer = append(answer, a.Granted.Sub(a.Asked))
		transit = append(transit, a.At.Sub(a.Granted)) // both on the wall clock
	}
	q := func(d []time.Duration) string {
		slices.Sort(d)
		at := func(p float64) time.Duration { return d[min(len(d)-1, int(p*float64(len(d))))].Round(time.Microsecond) }
		return fmt.Sprintf("median %v, p99 %v, max %v", at(0.5), at(0.99), d[len(d)-1].Round(time.Microsecond))
	}
	return fmt.Sprintf("store answers (Asked to Granted): %s; token to server (Granted to arrival): %s", q(answer), q(transit))
}

// Breaker test parameters.
const (
	breakerProcs = 3
	openCalls    = 3 // per process but the one that tripped the breaker, at once, while open
	probeCalls   = 4 // per process, at once, while half-open
)

var fleetBreaker = store.BreakerPolicy{
	ConsecutiveFailures: 3,
	OpenTimeout:         2 * time.Second,
	HalfOpenProbes:      2,
	// Both probes must succeed to close: the breaker stays half-open, and the two probe slots
	// stay the only way in, until the second probe's outcome is recorded.
	SuccessThreshold: 2,
}

// TestFleetBreaker: one process trips the shared breaker; the others are refused at once, without
// a request; after the open time exactly HalfOpenProbes probes reach the server from the whole
// fleet, and their success closes the breaker for everyone.
func TestFleetBreaker(t *testing.T) {
	env := newFleetEnv(t)
	env.up.SetStatus(http.StatusInternalServerError)
	f := startCallers(t, breakerProcs, env.config("brk", nil, fleetBreaker))
	// The parent reads the breaker's state straight from Redis.
	st, err := weirredis.New(env.rdb, weirredis.Options{Prefix: env.prefix})
	require.NoError(t, err)
	defer st.Close()
	status := func() store.BreakerStatus {
		s, err := st.BreakerStatus(context.Background(), "brk", fleetBreaker)
		require.NoError(t, err)
		return s
	}
	fire := func(i, n int, concurrent bool, tag string) {
		require.NoError(t, f.Send(i, fleetCmd{Op: "fire", N: n, Concurrent: concurrent, Tag: tag}))
	}

	// Phase 1: process 0 trips the breaker with three failures in a row; its next call is refused.
	fire(0, fleetBreaker.ConsecutiveFailures, false, "trip")
	for _, r := range receive(t, f, fleetBreaker.ConsecutiveFailures, 10*time.Second) {
		require.Equal(t, http.StatusInternalServerError, r.Status, "%+v", r)
		require.False(t, r.Open, "%+v", r)
	}
	tripped := time.Now() // after the trip: Redis opened the breaker before this
	require.Equal(t, store.Open, status().State)
	fire(0, 1, false, "after-trip")
	r := receive(t, f, 1, 10*time.Second)[0]
	require.True(t, r.Open, "%+v", r)
	require.Equal(t, fleetBreaker.ConsecutiveFailures, env.up.Count())

	// Phase 2: the other processes are refused at once, and no request reaches the server.
	var worst time.Duration
	for i := 1; i < breakerProcs; i++ {
		fire(i, openCalls, true, "open")
	}
	for _, r := range receive(t, f, openCalls*(breakerProcs-1), 10*time.Second) {
		require.True(t, r.Open, "child %d: %+v", r.From, r)
		require.Equal(t, store.Open.String(), r.State)
		require.NotZero(t, r.From)
		worst = max(worst, r.Elapsed)
	}
	// Refused at once: a refusal that waited would have waited for the open time to pass.
	require.Less(t, worst, fleetBreaker.OpenTimeout/2, "a refusal waited")
	require.Equal(t, fleetBreaker.ConsecutiveFailures, env.up.Count(), "a refused call reached the server")
	t.Logf("open: %d refusals from the other processes, the slowest in %v; still %d arrivals", openCalls*(breakerProcs-1), worst, env.up.Count())

	// Phase 3: once the open time is over (and every process's cached verdict with it: each
	// expires by the open time plus the round trip that brought it, hence the margin), the
	// server succeeds but holds each request, and every process fires at once. The probes stay
	// in flight while everyone else tries, so a breaker that let more than HalfOpenProbes
	// through, fleet-wide, would show them here: every call is either refused or arrives.
	time.Sleep(time.Until(tripped.Add(fleetBreaker.OpenTimeout + 500*time.Millisecond)))
	env.up.SetStatus(http.StatusOK)
	env.up.Hold()
	before := env.up.Count()
	holdStart := time.Now()
	require.NoError(t, f.Broadcast(fleetCmd{Op: "fire", N: probeCalls, Concurrent: true, Tag: "probe"}))
	calls, probes := breakerProcs*probeCalls, fleetBreaker.HalfOpenProbes
	refused := 0
	var recvErr error // why refusals stopped coming, if they did
	for deadline := time.Now().Add(5 * time.Second); refused < calls-probes; refused++ {
		m, err := f.Recv(time.Until(deadline))
		if err != nil {
			recvErr = err // fewer refusals than expected: more calls went out, as counted below
			break
		}
		var r fleetReply
		require.NoError(t, m.Decode(&r))
		// Every reply before the release is a refusal: the calls let through are held.
		require.True(t, r.Open, "child %d: %+v", m.From, r)
		require.Equal(t, store.HalfOpen.String(), r.State, "child %d", m.From)
	}
	// Every call not refused was sent: wait for all of them to arrive, then count.
	got := env.up.WaitCount(before+calls-refused, 5*time.Second) - before
	s := status()
	held := time.Since(holdStart)
	t.Logf("half-open: %d calls from %d processes, %d refused, %d probes reached the server; store: %s, %d probes in flight; held %v",
		calls, breakerProcs, refused, got, s.State, s.ProbesInFlight, held)
	require.Equal(t, probes, got, "probes that reached the server while half-open")
	require.Equal(t, calls-probes, refused, "refusals while half-open (%v)", recvErr)
	require.Equal(t, store.HalfOpen, s.State)
	require.Equal(t, probes, s.ProbesInFlight)
	// A probe held longer than the open time would be counted lost and its slot handed out again.
	require.Less(t, held, fleetBreaker.OpenTimeout, "the probes were held too long for the check to mean anything")

	// Release: both probes succeed, which closes the breaker.
	env.up.Release()
	for _, r := range receive(t, f, probes, 10*time.Second) {
		require.Equal(t, http.StatusOK, r.Status, "child %d: %+v", r.From, r)
		require.Equal(t, "probe", r.Tag)
	}
	require.Equal(t, store.Closed, status().State)
	require.Equal(t, before+probes, env.up.Count())

	// Phase 4: closed for every process.
	require.NoError(t, f.Broadcast(fleetCmd{Op: "fire", N: 2, Concurrent: true, Tag: "closed"}))
	for _, r := range receive(t, f, 2*breakerProcs, 10*time.Second) {
		require.Equal(t, http.StatusOK, r.Status, "child %d: %+v", r.From, r)
	}
	require.Equal(t, before+probes+2*breakerProcs, env.up.Count())
	require.NoError(t, f.Stop(10*time.Second))
}
