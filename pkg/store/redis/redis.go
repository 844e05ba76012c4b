// Package redis is the Redis store: every process that uses the same Redis (standalone, Sentinel
// or Cluster) shares the same limits, learned paces, breakers and queues, decided by Lua scripts
// (pkg/lua) on the server with Redis TIME as the one clock of the fleet. Open connects to a URL;
// New wraps a go-redis client the caller already has. A Store is safe for concurrent use.
//
// Calls that one process makes about the same key or queue at the same moment share round trips,
// each caller still getting its own answer: docs/combining.md tells how. docs/store.md tells how
// the keys are laid out.
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	neturl "net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

// Defaults of Options' zero fields.
const (
	DefaultPrefix  = "weir"
	DefaultTimeout = time.Second
)

// Options configures a Store. Zero fields mean the defaults.
type Options struct {
	// Prefix starts every key the store writes. Default "weir".
	Prefix string
	// Timeout bounds each operation (one round trip) when the caller's context allows longer.
	// Default 1 s.
	Timeout time.Duration
	// Clock, when set, replaces Redis TIME: its reading is passed to every script. It exists for
	// tests that move time; production leaves it nil so that the whole fleet reads one clock.
	Clock clock.Clock
}

// Store is the Redis store. It is safe for concurrent use.
type Store struct {
	rdb     goredis.UniversalClient
	owns    bool
	prefix  string
	timeout time.Duration
	now     func() int64 // nil: Redis TIME

	takes     *lines[string, *takeReq] // Take's lines, by lane (take.go)
	oneServer bool                     // rdb talks to one server: every key's takes share a line
	args      argCache

	queueOnce  sync.Once
	queueState *queueState // the queues' lines, key lists and job ids (queue_line.go)

	mu     sync.Mutex // held to start a goroutine that Close must wait for (WaitReady)
	wg     sync.WaitGroup
	closed atomic.Bool
}

var _ store.Store = (*Store)(nil)

// New returns a store over an existing client (*redis.Client, *redis.ClusterClient, a failover
// client...). The caller keeps ownership of the client: Close does not close it. For an
// operation to give up within its context's deadline, the client should have
// ContextTimeoutEnabled set (Open sets it).
func New(rdb goredis.UniversalClient, opts Options) (*Store, error) {
	if rdb == nil {
		return nil, fmt.Errorf("%w: weir/store/redis: nil client", store.ErrInvalid)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultPrefix
	}
	if opts.Timeout == 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.Timeout < 0 {
		return nil, fmt.Errorf("%w: weir/store/redis: Options.Timeout must be > 0, got %v", store.ErrInvalid, opts.Timeout)
	}
	if strings.ContainsAny(opts.Prefix, "{}") {
		return nil, fmt.Errorf("%w: weir/store/redis: Options.Prefix must not contain braces (they make hash tags), got %q", store.ErrInvalid, opts.Prefix)
	}
	s := &Store{rdb: rdb, prefix: opts.Prefix, timeout: opts.Timeout}
	s.takes = newLines(s, maxBatch, s.decide)
	_, s.oneServer = rdb.(*goredis.Client)
	if opts.Clock != nil {
		s.now = clock.Micros(opts.Clock)
	}
	return s, nil
}

// Open connects to the Redis named by url and checks that it answers. It accepts redis:// and
// rediss:// (TLS) URLs with user, password and database (redis://user:pass@host:6379/0), and
// redis:// URLs naming several nodes of a Cluster (redis://host1:7000?addr=host2:7001&addr=...).
// The store owns the client and closes it on Close.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	var rdb goredis.UniversalClient
	if strings.Contains(url, "addr=") {
		copts, err := goredis.ParseClusterURL(url)
		if err != nil {
			return nil, fmt.Errorf("%w: weir/store/redis: bad cluster URL: %v", store.ErrInvalid, parseReason(err))
		}
		copts.ContextTimeoutEnabled = true
		rdb = goredis.NewClusterClient(copts)
	} else {
		o, err := goredis.ParseURL(url)
		if err != nil {
			return nil, fmt.Errorf("%w: weir/store/redis: bad URL: %v", store.ErrInvalid, parseReason(err))
		}
		o.ContextTimeoutEnabled = true
		rdb = goredis.NewClient(o)
	}
	s, err := New(rdb, opts)
	if err != nil {
		_ = rdb.Close()
		return nil, err
	}
	s.owns = true
	pctx, cancel := s.opContext(ctx)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		_ = rdb.Close()
		where := "weir/store/redis: " + redactURL(url)
		if ctx.Err() != nil { // the caller's own deadline or cancellation: still name the server
			return nil, fmt.Errorf("%s: %w", where, callerDone(ctx))
		}
		return nil, s.wrap(ctx, fmt.Errorf("%s: %w", where, err))
	}
	return s, nil
}

// Close stops the store; it closes the client only when Open made it.
func (s *Store) Close() error {
	s.mu.Lock() // WaitReady starts a goroutine only under mu, having seen the store open
	closed := s.closed.Swap(true)
	s.mu.Unlock()
	if closed {
		return nil
	}
	// The lines start goroutines under their own mutex, having seen the store open: once each
	// mutex has been held after the swap, every goroutine they started is counted in wg.
	s.takes.barrier()
	queueStateOf(s).lines.barrier()
	s.wg.Wait()
	if s.owns {
		return s.rdb.Close()
	}
	return nil
}

// Client returns the underlying client.
func (s *Store) Client() goredis.UniversalClient { return s.rdb }

// limiterKey names the hash that holds every bucket of key and its pause: one key, one slot.
func (s *Store) limiterKey(key string) string { return s.prefix + ":{rl:" + key + "}" }

// breakerKey names the hash that holds a breaker's state.
func (s *Store) breakerKey(name string) string { return s.prefix + ":{br:" + name + "}" }

// nowArg is the clock argument of every script: "0" asks the script to read Redis TIME.
func (s *Store) nowArg() int64 {
	if s.now == nil {
		return 0
	}
	return s.now()
}

// opContext bounds one operation by the store's timeout as well as the caller's context.
func (s *Store) opContext(ctx context.Context) (context.Context, context.CancelFunc) {
	return context.WithTimeout(ctx, s.timeout)
}

// check is checkName for a limiter key.
func (s *Store) check(ctx context.Context, key string) error { return s.checkName(ctx, "key", key) }

// checkName refuses a call on a closed store, with a bad name (kind says what it names) or an
// ended context.
func (s *Store) checkName(ctx context.Context, kind, name string) error {
	if s.closed.Load() {
		return store.ErrClosed
	}
	if err := contract.ValidateName(kind, name); err != nil {
		return err
	}
	return ctx.Err()
}

// wrap translates a failed round trip, judged against the caller's own context: its cancellation
// or deadline stays what it is (callerDone), whatever the round trip's error says; anything else
// that says the server could not be reached or could not answer becomes store.ErrUnavailable.
func (s *Store) wrap(ctx context.Context, err error) error {
	if err == nil {
		return nil
	}
	if contract.CallerEnded(ctx) {
		return callerDone(ctx)
	}
	if unavailable(err) {
		return fmt.Errorf("%w: %w", store.ErrUnavailable, err)
	}
	return fmt.Errorf("weir/store/redis: %w", err)
}

// callerDoneWait bounds how long callerDone waits for a passed deadline's timer to fire.
const callerDoneWait = 100 * time.Millisecond

// callerDone is the error of a caller whose context ended (or whose deadline passed: see
// contract.CallerEnded) before the store answered: a deadline that passed means the store did not
// answer in time, so it also counts as unavailable; the caller tells its own deadline by its
// context's error.
func callerDone(ctx context.Context) error {
	if ctx.Err() == nil {
		// The deadline has passed, its timer not yet fired: it fires at once, unless the wall
		// clock jumped past a deadline set by it, so wait a little, not for ever.
		t := time.NewTimer(callerDoneWait)
		select {
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	err, cause := ctx.Err(), context.Cause(ctx)
	if err == nil {
		err, cause = context.DeadlineExceeded, context.DeadlineExceeded
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%w: no answer before the deadline: %w", store.ErrUnavailable, cause)
	}
	return fmt.Errorf("weir/store/redis: %w", cause)
}

func unavailable(err error) bool {
	var rerr goredis.Error
	if errors.As(err, &rerr) {
		code, _, _ := strings.Cut(rerr.Error(), " ")
		switch code {
		case "LOADING", "CLUSTERDOWN", "TRYAGAIN", "MASTERDOWN", "READONLY", "BUSY", "MOVED", "ASK":
			return true
		}
		return false
	}
	var nerr net.Error
	return errors.As(err, &nerr) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, goredis.ErrClosed) || errors.Is(err, goredis.ErrPoolTimeout) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// redactURL hides the password of a Redis URL. The URL parser, not a search for '@', decides what
// the password is, so that one holding '@' or ':' is hidden whole.
func redactURL(u string) string {
	pu, err := neturl.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	if _, ok := pu.User.Password(); ok {
		pu.User = neturl.UserPassword(pu.User.Username(), "REDACTED")
	}
	return pu.String()
}

// parseReason is what is wrong with a URL that does not parse, without the URL: a *url.Error
// quotes the whole URL, password and all, and an escape error quotes part of it.
func parseReason(err error) error {
	var esc neturl.EscapeError
	if errors.As(err, &esc) {
		return errors.New("invalid %-escape in the URL")
	}
	var uerr *neturl.Error
	if errors.As(err, &uerr) {
		return uerr.Err
	}
	return err
}

// ints reads a script's reply of integers.
func ints(v any, want int) ([]int64, error) {
	arr, ok := v.([]any)
	if !ok || len(arr) < want {
		return nil, fmt.Errorf("weir/store/redis: unexpected script reply %v", v)
	}
	out := make([]int64, len(arr))
	for i, x := range arr {
		n, ok := x.(int64)
		if !ok {
			return nil, fmt.Errorf("weir/store/redis: unexpected script reply %v", v)
		}
		out[i] = n
	}
	return out, nil
}
