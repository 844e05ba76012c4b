package main

// The worker fleet's acceptance tests: real `worker run` processes (the binary built from this
// package) drain one shared queue in real Redis (REDIS_URL; otherwise a miniredis that this test
// process serves on loopback TCP) and send every job to a loopback upstream that records each
// arrival: when, which job (the Idempotency-Key that HTTPHandler sets, weir-<id>), which worker
// (a profile header the worker fills from its own environment), and the job's line and priority
// (in its path, /jobs/<line>/p<priority>).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/weir-go/weir/internal/fleet"
	"github.com/weir-go/weir/internal/workerfleet"
	"github.com/weir-go/weir/pkg/queue"
	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

const (
	fleetUpstream    = "api"
	fleetWorkers     = 3
	fleetConcurrency = 4
	fleetLease       = 2 * time.Second
	fleetGrace       = 10 * time.Second
	// fleetSlots is how many jobs the fleet holds at once: each of a worker's Concurrency loops
	// dequeues a job, runs it to its outcome, and only then dequeues the next.
	fleetSlots = fleetWorkers * fleetConcurrency
	// fleetBudget bounds each subtest, from its first process to its last check.
	fleetBudget = 60 * time.Second
	// workerHeader names the worker that sent a request: the profile sets it on every request
	// from ${WEIR_FLEET_WORKER}, which each worker process has in its own environment.
	workerHeader = "X-Fleet-Worker"
	// fleetTransit is how much longer than an interval between two arrivals the tokens of
	// its requests may have been decided over. The store decides each token (Redis TIME) before
	// the worker sends the request; the upstream notes its own time.Now when the request has
	// arrived. What lies between (the store's reply, the worker's send on loopback, the server
	// reading the request) is short but uneven, and it can make requests decided over t + d
	// arrive within t, where d is the spread of that transit across them. The limit's invariant,
	// at most Burst + Requests·t/Per admitted in any interval t, is therefore checked on arrivals
	// as at most Burst + Requests·(t + fleetTransit + stall)/Per: at 400 req/s, 2 requests more
	// on an idle machine. stall is the longest this test process (the upstream) waited for a
	// CPU during the run, at least 1 ms (see workerfleet.StallProbe): on a machine shared with other work,
	// requests that arrive while the upstream waits are all stamped when it runs again, and the
	// fleet's processes wait for CPUs as long between a token and its request; either way the
	// interval the requests are counted in shrinks by as much.
	fleetTransit = 5 * time.Millisecond
)

// fleetSize is how much work each test gives the fleet, and under what limit: modest, so that
// the limit, not the fleet's capacity, sets the pace, and the crash test lasts about 12 s.
type fleetSize struct {
	Limit                         store.Limit
	KillJobs, OrderJobs, TermJobs int
}

// sizeFor returns the sizes for a real Redis or for the miniredis of this process. A miniredis
// builds a Lua interpreter for every script call, several per job, and under the race detector
// it is slower still: it serves a fleet at a fraction of a real Redis's pace, so the limit and
// the jobs shrink with it.
func sizeFor(mini bool) fleetSize {
	switch {
	case !mini:
		return fleetSize{Limit: store.Limit{Requests: 400, Per: time.Second, Burst: 40}, KillJobs: 5000, OrderJobs: 2000, TermJobs: 1000}
	case !fleet.Race:
		return fleetSize{Limit: store.Limit{Requests: 100, Per: time.Second, Burst: 10}, KillJobs: 1200, OrderJobs: 500, TermJobs: 300}
	default:
		return fleetSize{Limit: store.Limit{Requests: 40, Per: time.Second, Burst: 5}, KillJobs: 500, OrderJobs: 200, TermJobs: 150}
	}
}

// fleetPriorities are the jobs' priorities: they cross digit counts (9, 10, 100) so that an
// ordering by text rather than number cannot pass.
var fleetPriorities = []int{0, 1, 2, 9, 10, 100}

// TestWorkerFleet builds the worker once, picks the Redis, and runs the fleet's acceptance tests
// on them, each with its own key prefix, upstream and processes.
func TestWorkerFleet(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("the fleet tests signal processes (SIGKILL, SIGTERM)")
	}
	url, mini := fleetRedisURL(t)
	env := &fleetEnv{bin: workerfleet.Build(t, "."), redisURL: url, size: sizeFor(mini)}
	t.Logf("sizes: limit %v; %d jobs to crash, %d to order, %d to stop", env.size.Limit, env.size.KillJobs, env.size.OrderJobs, env.size.TermJobs)
	t.Run("KillNine", func(t *testing.T) { testKillNine(t, env) })
	t.Run("StrictPriority", func(t *testing.T) { testStrictPriority(t, env) })
	t.Run("SIGTERM", func(t *testing.T) { testSIGTERM(t, env) })
}

// testKillNine: three workers drain 5,000 jobs of mixed priority (on a real Redis); one of them
// is killed with SIGKILL mid-run. Every job ends with exactly one result; the only jobs that reach
// the upstream twice are jobs the killed worker held at the kill, and they run again within
// lease + 2 s.
func testKillNine(t *testing.T, env *fleetEnv) {
	jobs := env.size.KillJobs
	r := newFleetRun(t, env, func() time.Duration { return time.Millisecond + rand.N(9*time.Millisecond) })
	ids := r.enqueue(mixedJobs(t, jobs))

	began := time.Now()
	ws := r.startWorkers(0, fleetWorkers)
	r.up.WaitCount(r.ctx, jobs*2/5)
	victim := ws[1]
	killAt := time.Now()
	victim.Kill(t)
	deadAt := time.Now()
	r.waitDrained(jobs)
	total := time.Since(began)
	r.stopWorkers(ws[0], ws[2])

	results := r.results(ids)
	arrivals := r.up.Arrivals()
	r.checkResultKeys(jobs)
	byJob := r.checkArrivals(ids, arrivals)

	// The jobs the victim held at the kill (leased, not finished: the ones it had sent and the
	// ones it had not) are exactly the jobs the store handed out twice, so with a second
	// attempt: no other job fails or loses its lease in this run.
	var held []string
	for i, res := range results {
		switch res.Attempts {
		case 1:
		case 2:
			held = append(held, ids[i])
		default:
			t.Errorf("job %s (line %d): %d attempts; only jobs of the killed worker may have two", ids[i], i, res.Attempts)
		}
	}
	if len(held) > fleetConcurrency {
		t.Errorf("%d jobs had a second attempt; the killed worker held at most %d (its concurrency): %v", len(held), fleetConcurrency, held)
	}
	heldSet := map[string]bool{}
	for _, id := range held {
		heldSet[id] = true
	}
	var dups []string
	var rerun []time.Duration
	for _, id := range ids {
		as := byJob[id]
		if len(as) > 1 {
			dups = append(dups, id)
		}
		if !heldSet[id] {
			if len(as) != 1 {
				t.Errorf("job %s reached the upstream %d times, yet the killed worker did not hold it (one attempt)", id, len(as))
			}
			continue
		}
		// A held job reaches the upstream at most once from the victim, before it died, and
		// then once from a survivor, after its lease ran out.
		var again []workerfleet.Arrival
		for _, a := range as {
			if a.Worker == victim.Name {
				if a.At.After(deadAt) {
					t.Errorf("job %s reached the upstream from the killed worker at %v, after it was dead", id, a.At.Sub(killAt))
				}
				if a.At.Before(killAt.Add(-time.Second)) {
					// The upstream answers within 10 ms: a job still held at the kill was sent just
					// before it.
					t.Errorf("job %s, held by the killed worker at the kill, reached the upstream %v before the kill", id, killAt.Sub(a.At))
				}
				continue
			}
			again = append(again, a)
		}
		if len(again) != 1 || len(as)-len(again) > 1 {
			t.Errorf("job %s held by the killed worker: %d arrivals from the victim and %d from the survivors, want at most 1 and exactly 1",
				id, len(as)-len(again), len(again))
			continue
		}
		d := again[0].At.Sub(killAt)
		rerun = append(rerun, d)
		// Its lease ran out at the earliest one lease after it was last extended (the lease
		// is extended every third of it), and a survivor's reaper returns it within a second
		// after that.
		if d < fleetLease/2 || d > fleetLease+2*time.Second {
			t.Errorf("job %s held by the killed worker ran again %v after the kill, want between %v and %v (lease + 2 s)",
				id, d.Round(time.Millisecond), fleetLease/2, fleetLease+2*time.Second)
		}
	}
	for _, id := range dups {
		if !heldSet[id] {
			t.Errorf("job %s reached the upstream %d times but was not held by the killed worker", id, len(byJob[id]))
		}
	}

	// The victim's last arrivals before the kill, for the log: the held jobs it had sent are
	// among them.
	var last []string
	for _, a := range workerfleet.SortedByTime(arrivals) {
		if a.Worker == victim.Name {
			last = append(last, fmt.Sprintf("%s@%v", a.Job, a.At.Sub(killAt).Round(time.Microsecond)))
		}
	}
	if len(last) > fleetConcurrency+2 {
		last = last[len(last)-fleetConcurrency-2:]
	}
	victimCount := 0
	for _, a := range arrivals {
		if a.Worker == victim.Name {
			victimCount++
		}
	}
	t.Logf("kill -9: %d jobs, %d arrivals; worker %s killed after %v (%d arrivals from it), %v to reap it",
		jobs, len(arrivals), victim.Name, killAt.Sub(began).Round(time.Millisecond), victimCount, deadAt.Sub(killAt).Round(time.Microsecond))
	t.Logf("kill -9: held at the kill (2 attempts): %d %v; delivered twice to the upstream: %d %v; ran again after the kill: %v",
		len(held), held, len(dups), dups, roundAll(rerun))
	t.Logf("kill -9: the victim's last arrivals (time from the kill): %v", last)
	t.Logf("kill -9: all %d results stored; total %v", jobs, total.Round(time.Millisecond))

	// The strict order of dequeues, from the arrivals: the killed worker's held jobs are in
	// flight without a slot, so they may be overtaken by up to as many more.
	r.checkOrder(ids, byJob, fleetSlots-1+fleetConcurrency)
	r.checkRate(arrivals)
}

// testStrictPriority: 2,000 jobs of mixed priority (on a real Redis), all enqueued before three
// workers start, are dequeued highest priority first and first in, first out within a priority.
func testStrictPriority(t *testing.T, env *fleetEnv) {
	jobs := env.size.OrderJobs
	r := newFleetRun(t, env, func() time.Duration { return time.Millisecond + rand.N(9*time.Millisecond) })
	ids := r.enqueue(mixedJobs(t, jobs))
	began := time.Now()
	ws := r.startWorkers(0, fleetWorkers)
	r.waitDrained(jobs)
	total := time.Since(began)
	r.stopWorkers(ws...)

	results := r.results(ids)
	for i, res := range results {
		if res.Attempts != 1 {
			t.Errorf("job %s (line %d): %d attempts, want 1: nothing fails in this run", ids[i], i, res.Attempts)
		}
	}
	arrivals := r.up.Arrivals()
	r.checkResultKeys(jobs)
	byJob := r.checkArrivals(ids, arrivals)
	for id, as := range byJob {
		if len(as) != 1 {
			t.Errorf("job %s reached the upstream %d times, want once", id, len(as))
		}
	}
	r.checkOrder(ids, byJob, fleetSlots-1)
	r.checkRate(arrivals)
	t.Logf("strict priority: %d jobs drained in %v", jobs, total.Round(time.Millisecond))
}

// testSIGTERM: three workers draining 1,000 jobs (on a real Redis), which the upstream answers in
// 20 ms, get SIGTERM mid-run; each finishes what it holds and exits 0. Three new workers finish
// the queue. No job is lost and none runs twice.
func testSIGTERM(t *testing.T, env *fleetEnv) {
	jobs := env.size.TermJobs
	r := newFleetRun(t, env, func() time.Duration { return 20 * time.Millisecond })
	ids := r.enqueue(mixedJobs(t, jobs))

	began := time.Now()
	first := r.startWorkersLease(0, fleetWorkers, 30*time.Second)
	r.up.WaitCount(r.ctx, jobs*3/10)
	termAt := time.Now()
	for _, w := range first {
		w.Signal(t, syscall.SIGTERM)
	}
	var exits []time.Duration
	for _, w := range first {
		if err := w.Wait(r.ctx, fleetGrace+5*time.Second); err != nil {
			t.Fatalf("worker %s after SIGTERM: %v, want exit 0; its output:\n%s", w.Name, err, w.Output())
		}
		exits = append(exits, w.ExitedAt().Sub(termAt))
	}
	phase1 := r.up.Count()
	st, err := r.st.QueueStats(r.ctx, fleetUpstream)
	if err != nil {
		t.Fatalf("QueueStats: %v", err)
	}
	if st.InFlight != 0 {
		t.Errorf("after every worker stopped, %d jobs are still in flight; a stopped worker finishes or hands back what it holds", st.InFlight)
	}
	late := 0
	for _, a := range r.up.Arrivals() {
		if a.At.After(termAt) {
			late++
		}
	}

	second := r.startWorkersLease(fleetWorkers, fleetWorkers, 30*time.Second)
	r.waitDrained(jobs)
	total := time.Since(began)
	r.stopWorkers(second...)

	results := r.results(ids)
	arrivals := r.up.Arrivals()
	r.checkResultKeys(jobs)
	byJob := r.checkArrivals(ids, arrivals)
	twice := 0
	for id, as := range byJob {
		if len(as) != 1 {
			twice++
			t.Errorf("job %s reached the upstream %d times, want once", id, len(as))
		}
	}
	for i, res := range results {
		if res.Attempts != 1 {
			t.Errorf("job %s (line %d): %d attempts, want 1: jobs in flight at SIGTERM finish within the grace period", ids[i], i, res.Attempts)
		}
	}
	r.checkRate(arrivals)
	t.Logf("SIGTERM: %d jobs; SIGTERM to all three workers after %v and %d arrivals; exited (code 0) after %v; "+
		"%d jobs reached the upstream after the signal (jobs the workers held); %d jobs left in flight",
		jobs, termAt.Sub(began).Round(time.Millisecond), phase1-late, roundAll(exits), late, st.InFlight)
	t.Logf("SIGTERM: three new workers finished the rest (%d jobs); %d results, %d jobs ran twice; total %v",
		jobs-phase1, len(results), twice, total.Round(time.Millisecond))
}

// fleetEnv is what every fleet test shares: the worker binary and the Redis.
type fleetEnv struct {
	bin      string
	redisURL string
	size     fleetSize
}

// fleetRedisURL returns REDIS_URL, or the address of a miniredis served by this process for the
// test's life (mini true). With WEIR_REQUIRE_REDIS=1 (as CI sets it) an unset REDIS_URL fails the
// test.
func fleetRedisURL(tb testing.TB) (url string, mini bool) {
	tb.Helper()
	if url := os.Getenv("REDIS_URL"); url != "" {
		shown := "(unparsable)"
		if u, err := neturl.Parse(url); err == nil {
			shown = u.Redacted()
		}
		tb.Logf("Redis: REDIS_URL %s", shown)
		return url, false
	}
	if os.Getenv("WEIR_REQUIRE_REDIS") == "1" {
		tb.Fatal("WEIR_REQUIRE_REDIS=1 but REDIS_URL is not set: the fleet tests would run on miniredis")
	}
	mr := miniredis.RunT(tb)
	tb.Logf("Redis: miniredis at %s (REDIS_URL is not set)", mr.Addr())
	return "redis://" + mr.Addr(), true
}

// fleetRun is one subtest's world: its key prefix, configuration, upstream and store.
type fleetRun struct {
	t      *testing.T
	env    *fleetEnv
	ctx    context.Context
	prefix string
	dir    string
	config string
	up     *workerfleet.Upstream
	st     *weirredis.Store
	stall  *workerfleet.StallProbe
}

func newFleetRun(t *testing.T, env *fleetEnv, delay func() time.Duration) *fleetRun {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), fleetBudget)
	t.Cleanup(cancel)
	r := &fleetRun{t: t, env: env, ctx: ctx, dir: t.TempDir()}
	// Unique per run, so that runs sharing one Redis (with and without -race) never meet.
	r.prefix = fmt.Sprintf("weirfleet-%s-%d-%x", strings.ReplaceAll(t.Name(), "/", "-"), os.Getpid(), rand.Uint32())
	st, err := weirredis.Open(ctx, env.redisURL, weirredis.Options{Prefix: r.prefix})
	if err != nil {
		t.Fatalf("opening the store: %v", err)
	}
	t.Cleanup(func() {
		deleted, left := deleteKeys(st, r.prefix)
		_ = st.Close()
		if left > 0 {
			t.Errorf("%d keys under %s are left after deleting %d", left, r.prefix, deleted)
		}
	})
	r.st = st
	r.up = workerfleet.NewUpstream(t, workerHeader, delay) // closed before the store's keys go: cleanups run last first
	r.stall = workerfleet.StartStallProbe(t)
	l := env.size.Limit
	cfg := map[string]any{
		"queue": map[string]any{"max_attempts": 5},
		"upstreams": []any{map[string]any{
			"name":     fleetUpstream,
			"base_url": r.up.URL,
			"limits":   []any{map[string]any{"requests": l.Requests, "per": l.Per.String(), "burst": l.Burst}},
			"headers":  map[string]string{workerHeader: "${WEIR_FLEET_WORKER}"},
			"timeout":  "5s",
		}},
	}
	b, err := json.MarshalIndent(cfg, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	r.config = filepath.Join(r.dir, "config.json")
	if err := os.WriteFile(r.config, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

// deleteKeys deletes every key under prefix (never FLUSHALL: the Redis may be shared) and returns
// how many it deleted and how many are left.
func deleteKeys(st *weirredis.Store, prefix string) (deleted, left int) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rdb := st.Client()
	var keys []string
	iter := rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	for len(keys) > 0 {
		n := min(len(keys), 500)
		if m, err := rdb.Del(ctx, keys[:n]...).Result(); err == nil {
			deleted += int(m)
		}
		keys = keys[n:]
	}
	iter = rdb.Scan(ctx, 0, prefix+":*", 1000).Iterator()
	for iter.Next(ctx) {
		left++
	}
	return deleted, left
}

// fleetJob is one line of the jobs file.
type fleetJob struct{ Line, Priority int }

// mixedJobs returns n jobs of random priorities.
func mixedJobs(tb testing.TB, n int) []fleetJob {
	tb.Helper()
	seed := uint64(time.Now().UnixNano())
	rng := rand.New(rand.NewPCG(seed, 0x5eed))
	jobs := make([]fleetJob, n)
	for i := range jobs {
		jobs[i] = fleetJob{Line: i, Priority: fleetPriorities[rng.IntN(len(fleetPriorities))]}
	}
	tb.Logf("%d jobs, priorities %v at random (seed %d)", n, fleetPriorities, seed)
	return jobs
}

// enqueue adds the jobs with `worker enqueue --file`, in order, and returns their ids by line.
func (r *fleetRun) enqueue(jobs []fleetJob) []string {
	r.t.Helper()
	var b bytes.Buffer
	for _, j := range jobs {
		fmt.Fprintf(&b, `{"upstream":%q,"method":"GET","path":%q,"priority":%d}`+"\n", fleetUpstream, workerfleet.JobPath(j.Line, j.Priority), j.Priority)
	}
	file := filepath.Join(r.dir, "jobs.jsonl")
	if err := os.WriteFile(file, b.Bytes(), 0o600); err != nil {
		r.t.Fatal(err)
	}
	began := time.Now()
	cmd := exec.CommandContext(r.ctx, r.env.bin, "enqueue", "--config", r.config, "--redis", r.env.redisURL, "--prefix", r.prefix, "--file", file)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		r.t.Fatalf("worker enqueue: %v\n%s", err, stderr.String())
	}
	ids := strings.Fields(stdout.String())
	if len(ids) != len(jobs) {
		r.t.Fatalf("worker enqueue printed %d ids for %d jobs; stderr:\n%s", len(ids), len(jobs), stderr.String())
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if seen[id] {
			r.t.Fatalf("worker enqueue returned id %s twice", id)
		}
		seen[id] = true
	}
	r.t.Logf("enqueued %d jobs with worker enqueue in %v", len(ids), time.Since(began).Round(time.Millisecond))
	return ids
}

// startWorkers starts n `worker run` processes, named w<from+1>…, and returns once each serves
// /readyz (it has read its configuration and reached the store).
func (r *fleetRun) startWorkers(from, n int) []*workerfleet.Proc {
	return r.startWorkersLease(from, n, fleetLease)
}

// startWorkersLease is startWorkers with another lease: the SIGTERM test asks that no job run
// twice, which a lease lost to a machine stalled for seconds (at-least-once, as designed) would
// break for reasons that have nothing to do with the signal.
func (r *fleetRun) startWorkersLease(from, n int, lease time.Duration) []*workerfleet.Proc {
	r.t.Helper()
	ws := make([]*workerfleet.Proc, n)
	for i := range ws {
		name := fmt.Sprintf("w%d", from+i+1)
		ws[i] = workerfleet.Start(r.t, r.ctx, name, r.env.bin, []string{"WEIR_FLEET_WORKER=" + name},
			"run", "--config", r.config, "--redis", r.env.redisURL, "--prefix", r.prefix,
			"--concurrency", fmt.Sprint(fleetConcurrency), "--lease", lease.String(), "--grace", fleetGrace.String(),
			"--listen", "127.0.0.1:0")
	}
	for _, w := range ws {
		w.WaitReady(r.t, r.ctx)
	}
	return ws
}

// stopWorkers sends SIGTERM to the workers and requires each to exit 0.
func (r *fleetRun) stopWorkers(ws ...*workerfleet.Proc) {
	r.t.Helper()
	for _, w := range ws {
		w.Signal(r.t, syscall.SIGTERM)
	}
	for _, w := range ws {
		if err := w.Wait(r.ctx, fleetGrace+5*time.Second); err != nil {
			r.t.Errorf("worker %s after SIGTERM: %v, want exit 0; its output:\n%s", w.Name, err, w.Output())
		}
	}
}

// waitDrained waits until the upstream has seen n distinct jobs and the queue holds nothing
// ready, delayed or in flight.
func (r *fleetRun) waitDrained(n int) {
	r.t.Helper()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var st store.QueueStats
	for {
		var err error
		if r.up.Distinct() >= n {
			st, err = r.st.QueueStats(r.ctx, fleetUpstream)
			if err == nil && len(st.Ready) == 0 && st.InFlight == 0 && st.Delayed == 0 {
				return
			}
		}
		select {
		case <-r.ctx.Done():
			r.t.Fatalf("the queue was not drained within the test's %v: %d of %d jobs reached the upstream; queue %+v (last error %v)",
				fleetBudget, r.up.Distinct(), n, st, err)
		case <-tick.C:
		}
	}
}

// results reads every job's result through the store's Result, and requires each to be an
// acked 200 whose body is the job's own id (the upstream echoes it).
func (r *fleetRun) results(ids []string) []store.Result {
	r.t.Helper()
	out := make([]store.Result, len(ids))
	errs := make([]error, len(ids))
	var wg sync.WaitGroup
	const readers = 4
	for k := range readers {
		wg.Go(func() {
			for i := k; i < len(ids); i += readers {
				out[i], errs[i] = r.st.Result(r.ctx, fleetUpstream, ids[i])
			}
		})
	}
	wg.Wait()
	missing := 0
	for i, id := range ids {
		if errs[i] != nil {
			missing++
			if missing <= 10 {
				r.t.Errorf("job %s (line %d): no result: %v", id, i, errs[i])
			}
			continue
		}
		res := out[i]
		if res.Dead {
			r.t.Errorf("job %s (line %d) is dead: %s", id, i, res.Reason)
			continue
		}
		var resp queue.Response
		if err := json.Unmarshal(res.Body, &resp); err != nil {
			r.t.Errorf("job %s: undecodable result %q: %v", id, res.Body, err)
			continue
		}
		if resp.Status != http.StatusOK || string(resp.Body) != id {
			r.t.Errorf("job %s: result status %d body %q, want 200 and its own id", id, resp.Status, resp.Body)
		}
	}
	if missing > 0 {
		r.t.Fatalf("%d of %d jobs have no result", missing, len(ids))
	}
	return out
}

// checkResultKeys requires exactly n result keys in the queue: one per job, none other.
func (r *fleetRun) checkResultKeys(n int) {
	r.t.Helper()
	rdb := r.st.Client()
	count := 0
	iter := rdb.Scan(r.ctx, 0, r.prefix+":{q:"+fleetUpstream+"}:result:*", 1000).Iterator()
	for iter.Next(r.ctx) {
		count++
	}
	if err := iter.Err(); err != nil {
		r.t.Fatalf("scanning result keys: %v", err)
	}
	if count != n {
		r.t.Errorf("%d result keys, want %d: exactly one per job", count, n)
	}
}

// checkArrivals requires that every arrival is one of the jobs, carried the right path and a
// worker's name, and that every job arrived at least once; it returns the arrivals by job, in
// time order.
func (r *fleetRun) checkArrivals(ids []string, arrivals []workerfleet.Arrival) map[string][]workerfleet.Arrival {
	r.t.Helper()
	line := map[string]int{}
	for i, id := range ids {
		line[id] = i
	}
	byJob := map[string][]workerfleet.Arrival{}
	for _, a := range workerfleet.SortedByTime(arrivals) {
		i, ok := line[a.Job]
		switch {
		case !ok:
			r.t.Errorf("an arrival names job %q, which was not enqueued (path line %d)", a.Job, a.Line)
			continue
		case a.Line != i:
			r.t.Errorf("job %s arrived with the path of line %d, want %d", a.Job, a.Line, i)
		case a.Worker == "":
			r.t.Errorf("job %s arrived without the %s header of the worker's profile", a.Job, workerHeader)
		}
		byJob[a.Job] = append(byJob[a.Job], a)
	}
	missing := 0
	for _, id := range ids {
		if len(byJob[id]) == 0 {
			missing++
		}
	}
	if missing > 0 {
		r.t.Errorf("%d of %d jobs never reached the upstream", missing, len(ids))
	}
	if bad := r.up.Rejected(); len(bad) > 0 {
		r.t.Errorf("the upstream saw %d requests that were no job of this test, e.g. %s", len(bad), bad[0])
	}
	return byJob
}

// checkOrder checks strict priority, and first in, first out within a priority, from the first
// arrival of each job. With every job enqueued before any worker starts, and no job returning to
// the queue except one whose worker was killed, the store must hand the jobs out in one exact
// order: by priority, highest first, then by line. Dequeues are not observable from outside the
// workers, but their order has a consequence that arrivals show. Let x be due before y in that
// order and reach the upstream after y. Then x was dequeued before y, y before it arrived; so
// when y arrived, x was dequeued and not yet sent — in flight, holding one of the fleet's
// slots (a worker's loop runs one job to its outcome before it dequeues the next), as y held
// another, or lost with a killed worker. So no job is overtaken, in arrival order, by more than
// maxOvertaken jobs due after it: the fleet's slots less one, plus the jobs a killed worker held.
// A queue that let one job of a lower priority (or a later line) out while others were ready
// before it would have them overtaken by everything the fleet ran meanwhile.
//
// For the log, it also counts, for each priority level, the jobs of lower priority that reached
// the upstream before the last of that level and above did: those overtook it, and there may be
// more of them than slots when a slot holding a job of the higher level is slow (the others go on
// with lower ones meanwhile), so that figure is reported, not bounded.
func (r *fleetRun) checkOrder(ids []string, byJob map[string][]workerfleet.Arrival, maxOvertaken int) {
	r.t.Helper()
	var firsts []workerfleet.Arrival
	for _, id := range ids {
		if as := byJob[id]; len(as) > 0 {
			firsts = append(firsts, as[0])
		}
	}
	due := workerfleet.DueOrder(firsts)
	worst, who := workerfleet.Overtaken(firsts, due)
	if worst > maxOvertaken {
		r.t.Errorf("job %s (priority %d, line %d) was overtaken by %d jobs due before it; strict priority allows at most %d (jobs in flight)",
			who.Job, who.Priority, who.Line, worst, maxOvertaken)
	}
	r.t.Logf("order: at most %d jobs due earlier reached the upstream after a job (bound %d)", worst, maxOvertaken)
	r.t.Logf("order: by level, lower-priority jobs that reached the upstream before the last of the level and above: %s", workerfleet.LevelOvertakes(firsts, fleetPriorities[1:]))
}

// checkRate checks the shared limit's invariant on the arrivals, re-runs included (each one
// spent a token), and logs the admitted rate. Each worker process's first requests, one per
// loop, are left out of the check: they dial the process's connections and run its code for the
// first time, and arrive up to tens of milliseconds after their tokens were decided, which would
// compress an interval beyond any small allowance. Leaving requests out can only hide an
// excess, never make one: what the check finds on the rest is real (within the allowance). The
// worst interval over all arrivals is logged too.
func (r *fleetRun) checkRate(arrivals []workerfleet.Arrival) {
	r.t.Helper()
	l := r.env.size.Limit
	sorted := workerfleet.SortedByTime(arrivals)
	all := make([]time.Time, len(sorted))
	var warm []time.Time
	sent := map[string]int{}
	for i, a := range sorted {
		all[i] = a.At
		if sent[a.Worker]++; sent[a.Worker] > fleetConcurrency {
			warm = append(warm, a.At)
		}
	}
	// The stalls that matter are those while requests were on their way.
	stall := r.stall.Worst(all[0].Add(-time.Second), all[len(all)-1])
	iv := fleet.WorstInterval(warm, l)
	allowed := fleet.Allowed(l, iv.Span+fleetTransit+stall)
	if float64(iv.Count) > allowed {
		r.t.Errorf("rate: %d arrivals within %v (from %v into the run); the limit %v allows %.1f there, %.1f with %v for transit and %v for stalls",
			iv.Count, iv.Span, iv.Start, l, iv.Allowed, allowed, fleetTransit, stall)
	}
	raw := fleet.WorstInterval(all, l)
	run := all[len(all)-1].Sub(all[0])
	busiest := 0
	for i, j := 0, 0; j < len(all); j++ { // the most arrivals within any second
		for all[j].Sub(all[i]) > time.Second {
			i++
		}
		busiest = max(busiest, j-i+1)
	}
	rate := float64(len(all)-int(l.EffectiveBurst())) / run.Seconds()
	r.t.Logf("rate: %d arrivals over %v: %.1f req/s after the burst (limit %v); busiest second %d (limit %.0f)",
		len(all), run.Round(time.Millisecond), rate, l, busiest, fleet.Allowed(l, time.Second))
	r.t.Logf("rate: worst interval %d arrivals in %v where %.1f are allowed (%+.2f); %.1f with %v for transit and %v for stalls (%+.2f); "+
		"with every worker's first %d requests: %d in %v (%+.2f)",
		iv.Count, iv.Span.Round(time.Microsecond), iv.Allowed, iv.Excess(), allowed, fleetTransit, stall.Round(10*time.Microsecond), float64(iv.Count)-allowed,
		fleetConcurrency, raw.Count, raw.Span.Round(time.Microsecond), raw.Excess())
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}
