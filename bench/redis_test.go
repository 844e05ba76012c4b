package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-redis/redis_rate/v10"
	goredis "github.com/redis/go-redis/v9"

	"github.com/weir-go/weir/pkg/store"
	weirredis "github.com/weir-go/weir/pkg/store/redis"
)

const (
	// redisCallers is how many goroutines the concurrent benchmarks run, whatever GOMAXPROCS is,
	// so that runs on machines of different sizes put the same load on Redis.
	redisCallers = 32
	// redisPoolSize is every client's pool: twice the callers, so that no caller ever waits for
	// a connection and the pool is never what is measured.
	redisPoolSize = 2 * redisCallers
)

// A million a second with a burst of a million: no benchmark reaches it, so every call is
// admitted and writes its bucket back. It is not the 10⁹/s of alwaysAdmits because redis_rate
// keeps time in float seconds since 2017, where a step of 10⁻⁹ s is below the precision of a
// double: its bucket would never move and it would skip its write, measuring less work than
// Weir does.
var (
	weirRedisLimits = []store.Limit{store.PerSecond(1_000_000)}
	rateRedisLimit  = redis_rate.Limit{Rate: 1_000_000, Burst: 1_000_000, Period: time.Second}
)

// redisOp is one operation on key: a rate-limit decision that must admit, or a bare round trip.
type redisOp func(ctx context.Context, key string) error

// redisSide is one side of a Redis pair: make builds it on a client of its own and returns its
// operation.
type redisSide struct {
	name string
	make func(b *testing.B, rdb *goredis.Client, prefix string) redisOp
}

var (
	weirTakeSide = redisSide{"weir-take", func(b *testing.B, rdb *goredis.Client, prefix string) redisOp {
		st, err := weirredis.New(rdb, weirredis.Options{Prefix: prefix})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { st.Close() })
		return func(ctx context.Context, key string) error {
			d, err := st.Take(ctx, key, weirRedisLimits, 1)
			if err == nil && !d.Allowed {
				err = fmt.Errorf("weir refused key %q: %+v", key, d)
			}
			return err
		}
	}}
	pingSide = redisSide{"ping", func(_ *testing.B, rdb *goredis.Client, _ string) redisOp {
		return func(ctx context.Context, _ string) error { return rdb.Ping(ctx).Err() }
	}}
	redisRateSide = redisSide{"redis-rate", func(_ *testing.B, rdb *goredis.Client, prefix string) redisOp {
		l := redis_rate.NewLimiter(rdb)
		return func(ctx context.Context, key string) error {
			res, err := l.Allow(ctx, prefix+":"+key, rateRedisLimit)
			if err == nil && res.Allowed != 1 {
				err = fmt.Errorf("redis_rate refused key %q: %+v", key, res)
			}
			return err
		}
	}}
)

// The floor of a one-script decision, for reading the sequential pair: what any limiter built on
// one Lua call per decision pays before deciding anything. scriptNoop is the bare cost of
// EVALSHA; scriptShape makes the three calls a GCRA decision that keeps its state in a hash and
// its clock in Redis needs at least (TIME, HMGET, HSET) and returns five integers, as Weir's
// take.lua does, but decides nothing. Neither is a limiter.
var (
	scriptNoop  = goredis.NewScript(`return 1`)
	scriptShape = goredis.NewScript(`
local t = redis.call('TIME')
local now = t[1] * 1000000 + t[2]
local v = redis.call('HMGET', KEYS[1], 'b', 't', 'r')
local tat = tonumber(v[2]) or now
redis.call('HSET', KEYS[1], 't', tat + 1, 'r', 0)
return {1, 0, 0, 0, 0}`)

	scriptNoopSide  = redisSide{"script-noop", scriptSide(scriptNoop)}
	scriptShapeSide = redisSide{"script-shape", scriptSide(scriptShape)}
)

// scriptSide runs sc on the key under the run's prefix, through EVALSHA (go-redis loads it on
// the first NOSCRIPT).
func scriptSide(sc *goredis.Script) func(*testing.B, *goredis.Client, string) redisOp {
	return func(_ *testing.B, rdb *goredis.Client, prefix string) redisOp {
		return func(ctx context.Context, key string) error {
			return sc.Run(ctx, rdb, []string{prefix + ":" + key}).Err()
		}
	}
}

// redisSeq makes every run's key prefix unique, with the process id and start time, so that
// runs sharing one Redis never see each other's keys.
var (
	redisSeq   atomic.Int64
	redisStart = time.Now().UnixNano()
)

// newRedis returns a fresh client on the Redis that REDIS_URL names, with the options every side
// shares, and a key prefix of its own whose keys are deleted when b ends. Without REDIS_URL it
// skips b: these benchmarks mean nothing without a real server.
func newRedis(b *testing.B) (*goredis.Client, string) {
	b.Helper()
	url := os.Getenv("REDIS_URL")
	if url == "" {
		b.Skip("REDIS_URL is not set: the Redis benchmarks need a real server, e.g. REDIS_URL=redis://127.0.0.1:6379/0")
	}
	o, err := goredis.ParseURL(url)
	if err != nil {
		b.Fatalf("REDIS_URL: %v", err)
	}
	o.PoolSize = redisPoolSize
	o.ContextTimeoutEnabled = true // as weir's redis.Open sets it
	rdb := goredis.NewClient(o)
	b.Cleanup(func() { rdb.Close() })
	if err := rdb.Ping(context.Background()).Err(); err != nil {
		b.Fatalf("REDIS_URL: %v", err)
	}
	prefix := fmt.Sprintf("weirbench-%d-%d-%d", os.Getpid(), redisStart, redisSeq.Add(1))
	b.Cleanup(func() { deleteKeys(b, rdb, prefix+":*", "rate:"+prefix+":*") })
	return rdb, prefix
}

// deleteKeys deletes the keys matching each pattern: Weir's keys start with the prefix,
// redis_rate puts "rate:" before the key it is given.
func deleteKeys(b *testing.B, rdb *goredis.Client, patterns ...string) {
	b.Helper()
	ctx := context.Background()
	for _, p := range patterns {
		iter := rdb.Scan(ctx, 0, p, 1000).Iterator()
		for iter.Next(ctx) {
			if err := rdb.Del(ctx, iter.Val()).Err(); err != nil {
				b.Errorf("deleting %s: %v", iter.Val(), err)
			}
		}
		if err := iter.Err(); err != nil {
			b.Errorf("scanning %s: %v", p, err)
		}
	}
}

// BenchmarkRedisSequential is one caller on one key, one call after another: the latency of a
// decision, beside a bare PING on the same client options (the floor: one round trip), and the
// two floors of a one-script decision (scriptNoop, scriptShape).
func BenchmarkRedisSequential(b *testing.B) {
	for _, side := range []redisSide{weirTakeSide, pingSide, redisRateSide, scriptNoopSide, scriptShapeSide} {
		b.Run(side.name, func(b *testing.B) {
			rdb, prefix := newRedis(b)
			op := side.make(b, rdb, prefix)
			ctx := context.Background()
			if err := op(ctx, "one"); err != nil { // a connection made, the script cached
				b.Fatal(err)
			}
			b.ReportAllocs()
			for b.Loop() {
				if err := op(ctx, "one"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkRedisConcurrent is exactly redisCallers goroutines deciding at once, all on one key
// (where Weir combines the takes waiting for a key into one script call) and each on a key of its
// own (where there is nothing to combine). It reports decisions/s: round trips/s for ping, the
// ceiling of a limiter that makes one round trip per decision.
func BenchmarkRedisConcurrent(b *testing.B) {
	for _, keys := range []struct {
		name string
		n    int
	}{{"one-key", 1}, {"32-keys", redisCallers}} {
		b.Run(keys.name, func(b *testing.B) {
			for _, side := range []redisSide{weirTakeSide, pingSide, redisRateSide} {
				b.Run(side.name, func(b *testing.B) {
					rdb, prefix := newRedis(b)
					runCallers(b, side.make(b, rdb, prefix), keys.n)
				})
			}
		})
	}
}

// runCallers runs b.N operations from redisCallers goroutines, caller i on key i mod nkeys.
func runCallers(b *testing.B, op redisOp, nkeys int) {
	keys := make([]string, redisCallers)
	for i := range keys {
		keys[i] = "k" + strconv.Itoa(i%nkeys)
	}
	ctx := context.Background()
	// Every caller once before the clock starts: connections made, scripts cached.
	if err := callers(ctx, redisCallers, keys, op); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	err := callers(ctx, b.N, keys, op)
	b.StopTimer()
	if err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "decisions/s")
}

// callers runs n operations from one goroutine per key, each taking the next operation until
// none is left, and returns their errors.
func callers(ctx context.Context, n int, keys []string, op redisOp) error {
	var left atomic.Int64
	left.Store(int64(n))
	errs := make([]error, len(keys))
	var wg sync.WaitGroup
	for i, key := range keys {
		wg.Go(func() {
			for left.Add(-1) >= 0 {
				if err := op(ctx, key); err != nil {
					errs[i] = err
					return
				}
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
