package redis_test

import (
	"cmp"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"

	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

// diffSeeds are the differential test's fixed seeds: a failure names its seed and step, and the
// same seed replays the same sequence.
var diffSeeds = []uint64{1, 2, 3, 5, 8, 13}

// diffSteps is how many operations each seed drives.
const diffSteps = 1000

// TestDifferential drives random sequences of operations through the memory store and the Redis
// store at the same instants of one fake clock and requires the same answer from both, every
// time: decisions, permits and breaker statuses field for field, errors by class.
//
// ClockOverride passes the fake clock to the Redis store (Options.Clock), on REDIS_URL when set
// and on miniredis otherwise. RedisTime leaves the Redis store on Redis TIME, served by a
// miniredis whose time follows the fake clock to the microsecond (SetTime), with TTLs that run
// on that clock too (ClockTTL): this is the production path of the scripts, reading TIME, and
// it lets keys expire exactly when the scripts' TTLs say, so that an expiry that forgets state
// the memory store still holds shows up as a different decision.
func TestDifferential(t *testing.T) {
	eachDiffSetup(t, diffSeeds, storeStart, func(t *testing.T, seed uint64, clk *clock.Fake, s *weirredis.Store, setTime func(time.Time)) {
		runDifferential(t, seed, clk, s, setTime)
	})
}

// eachDiffSetup runs a differential test for every seed in both setups: ClockOverride, the fake
// clock passed to the Redis store (on REDIS_URL when set, miniredis otherwise), and RedisTime,
// the store on Redis TIME served by a miniredis whose time and TTLs follow the fake clock.
func eachDiffSetup(t *testing.T, seeds []uint64, start time.Time,
	run func(t *testing.T, seed uint64, clk *clock.Fake, s *weirredis.Store, setTime func(time.Time))) {
	t.Run("ClockOverride", func(t *testing.T) {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				clk := clock.NewFake(start)
				run(t, seed, clk, newStore(t, clk), nil)
			})
		}
	})
	t.Run("RedisTime", func(t *testing.T) {
		for _, seed := range seeds {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				clk := clock.NewFake(start)
				mr := miniredis.RunT(t)
				mr.SetTime(clk.Now())
				mr.ClockTTL(true)
				s := storeOn(t, miniClient(t, mr), nil)
				run(t, seed, clk, s, func(now time.Time) { mr.SetTime(now) })
			})
		}
	})
}

// storeStart is where the differential test's clocks start: a whole second, like Redis TIME's.
var storeStart = time.Date(2026, time.March, 1, 12, 0, 0, 0, time.UTC)

// diffLimits are the limits the sequences draw from: equal limits written two ways, limits whose
// interval does not divide a microsecond evenly, and a slow one whose bucket outlives the others.
var diffLimits = []store.Limit{
	store.PerSecond(3),
	{Requests: 3, Per: time.Second, Burst: 3}, // the same bucket as PerSecond(3)
	{Requests: 10, Per: time.Second, Burst: 4},
	store.PerMinute(7),
	{Requests: 7, Per: 10 * time.Microsecond, Burst: 5},
	{Requests: 3, Per: time.Millisecond, Burst: 6},
	{Requests: 1, Per: 250 * time.Millisecond, Burst: 1},
}

// diffPolicies are the breakers the sequences use, by name. "mixed" is called with either policy.
var diffPolicies = map[string]store.BreakerPolicy{
	"consecutive": {ConsecutiveFailures: 3, OpenTimeout: 2 * time.Second, MaxOpenTimeout: 10 * time.Second,
		HalfOpenProbes: 2, SuccessThreshold: 2},
	"rate": {ConsecutiveFailures: -1, FailureRate: 0.5, MinCalls: 4, Window: time.Second,
		OpenTimeout: 500 * time.Millisecond},
}

// diffRun is one sequence: the two stores, the clock, and what it did so far.
type diffRun struct {
	t        *testing.T
	rng      *rand.Rand
	clk      *clock.Fake
	mem, red store.Store
	advanced func(time.Time)
	permits  map[string][]store.Permit
	lastWait time.Duration
	history  []string
	counts   map[string]int
	step     int
	seed     uint64
}

func runDifferential(t *testing.T, seed uint64, clk *clock.Fake, red store.Store, advanced func(time.Time)) {
	t.Logf("seed %d, %d steps", seed, diffSteps)
	mem := memory.New(memory.Options{Clock: clk})
	t.Cleanup(func() { _ = mem.Close() })
	r := &diffRun{t: t, rng: rand.New(rand.NewPCG(seed, 0x5eed)), clk: clk, mem: mem, red: red,
		advanced: advanced, permits: map[string][]store.Permit{}, counts: map[string]int{}, seed: seed}
	for r.step = range diffSteps {
		switch x := r.rng.IntN(100); {
		case x < 38:
			r.take()
		case x < 42:
			r.ordered()
		case x < 45:
			r.burst()
		case x < 52:
			r.block()
		case x < 64:
			r.acquire()
		case x < 76:
			r.record()
		case x < 80:
			r.status()
		default:
			r.advance()
		}
	}
	t.Logf("operations: %v", r.counts)
}

func (r *diffRun) note(format string, args ...any) {
	r.history = append(r.history, fmt.Sprintf("#%d +%v ", r.step, r.clk.Now().Sub(storeStart))+fmt.Sprintf(format, args...))
	if len(r.history) > 30 {
		r.history = r.history[1:]
	}
}

func (r *diffRun) fail(format string, args ...any) {
	r.t.Helper()
	r.t.Fatalf("seed %d, step %d: %s\nthe last operations:\n  %s", r.seed, r.step,
		fmt.Sprintf(format, args...), strings.Join(r.history, "\n  "))
}

// errClass names the sentinel an error wraps, so that the stores' messages may differ.
func errClass(err error) string {
	for _, s := range []error{store.ErrInvalid, store.ErrNeverAllowed, store.ErrUnavailable, store.ErrClosed} {
		if errors.Is(err, s) {
			return s.Error()
		}
	}
	if err != nil {
		return "other: " + err.Error()
	}
	return "nil"
}

func (r *diffRun) sameErr(op string, memErr, redErr error) {
	r.t.Helper()
	if errClass(memErr) != errClass(redErr) {
		r.fail("%s: memory error %v, redis error %v", op, memErr, redErr)
	}
	if redErr != nil && !errors.Is(redErr, store.ErrInvalid) && !errors.Is(redErr, store.ErrNeverAllowed) {
		r.fail("%s: unexpected error %v", op, redErr)
	}
}

func (r *diffRun) key() string { return fmt.Sprintf("k%d", r.rng.IntN(3)) }

func (r *diffRun) take() {
	key := r.key()
	limits := []store.Limit{diffLimits[r.rng.IntN(len(diffLimits))]}
	if r.rng.IntN(3) == 0 {
		limits = append(limits, diffLimits[r.rng.IntN(len(diffLimits))])
	}
	maxBurst := int64(0)
	for _, l := range limits {
		maxBurst = max(maxBurst, l.EffectiveBurst())
	}
	var n int64
	switch x := r.rng.IntN(100); {
	case x < 10:
		n = 0
	case x < 60:
		n = 1
	case x < 95:
		n = r.rng.Int64N(maxBurst + 3) // sometimes above a burst, sometimes above every burst
	case x < 97:
		n = -1 - r.rng.Int64N(3)
	case x < 98:
		key = ""
	case x < 99:
		limits = nil
	default:
		limits = append(limits, store.Limit{Requests: 0, Per: time.Second})
	}
	op := fmt.Sprintf("Take(%q, %v, %d)", key, limits, n)
	md, merr := r.mem.Take(r.t.Context(), key, limits, n)
	rd, rerr := r.red.Take(r.t.Context(), key, limits, n)
	r.note("%s = %+v, %v", op, rd, rerr)
	r.count("take", rerr, rd.Allowed)
	r.sameErr(op, merr, rerr)
	if md != rd {
		r.fail("%s: memory %+v, redis %+v", op, md, rd)
	}
	if rerr == nil && !rd.Allowed {
		r.lastWait = rd.RetryAfter
	}
}

// ordered asks both stores for a waiting line's takes in one TakeOrdered: runs of equal costs
// and changes of cost, one limit or two, so that every take after the first refusal is refused.
func (r *diffRun) ordered() {
	key := r.key()
	limits := []store.Limit{diffLimits[r.rng.IntN(len(diffLimits))]}
	if r.rng.IntN(3) == 0 {
		limits = append(limits, diffLimits[r.rng.IntN(len(diffLimits))])
	}
	minBurst := limits[0].EffectiveBurst()
	for _, l := range limits {
		minBurst = min(minBurst, l.EffectiveBurst())
	}
	costs := make([]int64, 1+r.rng.IntN(8))
	for i := range costs {
		if i > 0 && r.rng.IntN(2) == 0 {
			costs[i] = costs[i-1]
		} else {
			costs[i] = r.rng.Int64N(minBurst + 1)
		}
	}
	op := fmt.Sprintf("TakeOrdered(%q, %v, %v)", key, limits, costs)
	md, merr := r.mem.TakeOrdered(r.t.Context(), key, limits, costs)
	rd, rerr := r.red.TakeOrdered(r.t.Context(), key, limits, costs)
	r.note("%s = %+v, %v", op, rd, rerr)
	r.count("ordered", rerr, len(rd) > 0 && rd[0].Allowed)
	r.sameErr(op, merr, rerr)
	if !slices.Equal(md, rd) {
		r.fail("%s: memory %+v, redis %+v", op, md, rd)
	}
	for _, d := range rd {
		if !d.Allowed {
			r.lastWait = d.RetryAfter
			break
		}
	}
}

// burst sends several equal takes of one key at once: the Redis store decides them together,
// in one script call or a few, in whatever order they arrived, and must answer as the same takes
// one after the other would. Which caller gets which answer may differ; the answers may not.
func (r *diffRun) burst() {
	key := r.key()
	limits := []store.Limit{diffLimits[r.rng.IntN(len(diffLimits))]}
	n := r.rng.Int64N(limits[0].EffectiveBurst()) + 1
	k := 2 + r.rng.IntN(7)
	op := fmt.Sprintf("%d concurrent Take(%q, %v, %d)", k, key, limits, n)
	mem := make([]store.Decision, k)
	for i := range mem {
		d, err := r.mem.Take(r.t.Context(), key, limits, n)
		if err != nil {
			r.fail("%s: memory: %v", op, err)
		}
		mem[i] = d
	}
	red := make([]store.Decision, k)
	errs := make([]error, k)
	var wg sync.WaitGroup
	for i := range red {
		wg.Go(func() { red[i], errs[i] = r.red.Take(r.t.Context(), key, limits, n) })
	}
	wg.Wait()
	r.note("%s = %+v, %v", op, red, errs)
	for i, err := range errs {
		r.count("burst", err, red[i].Allowed)
		if err != nil {
			r.fail("%s: redis: %v", op, err)
		}
	}
	for _, ds := range [][]store.Decision{mem, red} {
		slices.SortFunc(ds, func(a, b store.Decision) int {
			return cmp.Or(cmp.Compare(fmt.Sprint(a.Allowed), fmt.Sprint(b.Allowed)), cmp.Compare(a.Remaining, b.Remaining),
				cmp.Compare(a.RetryAfter, b.RetryAfter), cmp.Compare(a.ResetAfter, b.ResetAfter))
		})
	}
	if !slices.Equal(mem, red) {
		r.fail("%s: memory %+v, redis %+v", op, mem, red)
	}
}

func (r *diffRun) block() {
	key := r.key()
	var d time.Duration
	switch r.rng.IntN(5) {
	case 0:
		d = -time.Duration(r.rng.Int64N(int64(time.Second)))
	case 1:
		d = 0
	case 2:
		d = time.Duration(r.rng.Int64N(2000)) // a pause within the next 2µs, to the nanosecond
	case 3:
		d = time.Duration(r.rng.Int64N(int64(2 * time.Millisecond)))
	default:
		d = time.Duration(r.rng.Int64N(int64(3 * time.Second)))
	}
	until := r.clk.Now().Add(d)
	op := fmt.Sprintf("Block(%q, now%+v)", key, d)
	merr := r.mem.Block(r.t.Context(), key, until)
	rerr := r.red.Block(r.t.Context(), key, until)
	r.note("%s = %v", op, rerr)
	r.count("block", rerr, true)
	r.sameErr(op, merr, rerr)
}

// breaker picks a breaker and the policy to call it with.
func (r *diffRun) breaker() (string, store.BreakerPolicy) {
	switch r.rng.IntN(3) {
	case 0:
		return "consecutive", diffPolicies["consecutive"]
	case 1:
		return "rate", diffPolicies["rate"]
	}
	if r.rng.IntN(2) == 0 {
		return "mixed", diffPolicies["consecutive"]
	}
	return "mixed", diffPolicies["rate"]
}

func (r *diffRun) acquire() {
	name, p := r.breaker()
	op := fmt.Sprintf("Acquire(%q)", name)
	mp, merr := r.mem.Acquire(r.t.Context(), name, p)
	rp, rerr := r.red.Acquire(r.t.Context(), name, p)
	r.note("%s = %+v, %v", op, rp, rerr)
	r.count("acquire", rerr, rp.Allowed)
	r.sameErr(op, merr, rerr)
	if mp != rp {
		r.fail("%s: memory %+v, redis %+v", op, mp, rp)
	}
	r.permits[name] = append(r.permits[name], rp)
}

func (r *diffRun) record() {
	name, p := r.breaker()
	var permit store.Permit
	held := r.permits[name]
	switch x := r.rng.IntN(100); {
	case len(held) == 0 || x < 10:
		permit = store.Permit{Allowed: r.rng.IntN(2) == 0, Generation: r.rng.Int64N(4)}
	case x < 70:
		permit = held[len(held)-1]
	default:
		permit = held[r.rng.IntN(len(held))]
	}
	o := store.Outcome(r.rng.IntN(3))
	op := fmt.Sprintf("Record(%q, %+v, %v)", name, permit, o)
	ms, merr := r.mem.Record(r.t.Context(), name, p, permit, o)
	rs, rerr := r.red.Record(r.t.Context(), name, p, permit, o)
	r.note("%s = %+v, %v", op, rs, rerr)
	r.count("record", rerr, !rs.Stale)
	r.sameErr(op, merr, rerr)
	if ms != rs {
		r.fail("%s: memory %+v, redis %+v", op, ms, rs)
	}
}

func (r *diffRun) status() {
	name, p := r.breaker()
	op := fmt.Sprintf("BreakerStatus(%q)", name)
	ms, merr := r.mem.BreakerStatus(r.t.Context(), name, p)
	rs, rerr := r.red.BreakerStatus(r.t.Context(), name, p)
	r.note("%s = %+v, %v", op, rs, rerr)
	r.count("status", rerr, true)
	r.sameErr(op, merr, rerr)
	if ms != rs {
		r.fail("%s: memory %+v, redis %+v", op, ms, rs)
	}
}

func (r *diffRun) advance() {
	var d time.Duration
	switch x := r.rng.IntN(100); {
	case x < 10:
		d = 0
	case x < 25:
		d = time.Duration(1 + r.rng.Int64N(999)) // under a microsecond: may not move it at all
	case x < 45:
		d = time.Duration(1+r.rng.Int64N(999)) * time.Microsecond
	case x < 60:
		d = time.Duration(1+r.rng.Int64N(100)) * time.Millisecond
	case x < 75:
		d = time.Duration(r.rng.Int64N(int64(3 * time.Second)))
	case x < 95:
		d = r.lastWait // exactly when the last refusal said to come back
	default:
		d = time.Duration(1+r.rng.Int64N(20)) * time.Minute
	}
	r.clk.Advance(d)
	if r.advanced != nil {
		r.advanced(r.clk.Now())
	}
	r.note("advance %v", d)
	r.counts["advance"]++
}

// count tallies the operations by kind and outcome, for the log: a sequence that never reaches
// a refusal or an error would prove little.
func (r *diffRun) count(kind string, err error, yes bool) {
	switch {
	case err != nil:
		kind += "/error"
	case yes:
		kind += "/yes"
	default:
		kind += "/no"
	}
	r.counts[kind]++
}
