package client

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"sync"
	"time"

	"github.com/weir-go/weir/pkg/headers"
	"github.com/weir-go/weir/pkg/store"
)

// Defaults of AdaptConfig's zero fields.
const (
	DefaultAdaptFactor   = 0.9
	DefaultAdaptRecover  = 0.002
	DefaultAdaptPause    = time.Second
	DefaultAdaptMaxPause = time.Minute
)

// AdaptConfig is how the client listens to what servers say about their limits: a spent or
// running-low quota pauses or paces the key, a rejection without one pauses it or cuts its rate
// (the package documentation has the rules). What it learns is kept in the store for the whole
// fleet, and the configured Limits stay the ceiling. It needs Limits and a store that implements
// store.Learner (both of Weir's do).
type AdaptConfig struct {
	// Off turns adaptation off: rate-limit headers are ignored, and only Retry-After on a 429 or
	// 503 pauses the key (as it always does).
	Off bool
	// Factor is the multiplicative decrease on a rejection without quota, in (0, 1). Default 0.9.
	Factor float64
	// Recover is the additive increase per admitted request after a cut, as a share of the rate
	// the cut set, in [0, 1]. Default 0.002: 500 admitted requests restore the cut rate's worth.
	Recover float64
	// Pause is how long a rejection with neither quota nor Retry-After pauses the key when the
	// fleet was sending far above what the server admitted (the server's window is likely young).
	// Rejections that come back while the key is paused cut nothing more. Default 1 s.
	Pause time.Duration
	// MaxPause caps what a quota's reset may hold the key to: the pause for a spent quota, and a
	// pace's interval and life (a response restating the quota renews it). A reset further away,
	// absurd or garbled ("1e309", a bad epoch), counts as MaxPause. Default 1 minute, like
	// Retry.MaxRetryAfter; a server with longer windows (a daily quota) needs a longer one.
	MaxPause time.Duration
}

func (a AdaptConfig) withDefaults() AdaptConfig {
	if a.Factor == 0 {
		a.Factor = DefaultAdaptFactor
	}
	if a.Recover == 0 {
		a.Recover = DefaultAdaptRecover
	}
	if a.Pause == 0 {
		a.Pause = DefaultAdaptPause
	}
	if a.MaxPause == 0 {
		a.MaxPause = DefaultAdaptMaxPause
	}
	return a
}

func (a AdaptConfig) validate() error {
	switch {
	case !(a.Factor > 0 && a.Factor < 1):
		return fieldError("Adapt.Factor", a.Factor, "in (0, 1)")
	case !(a.Recover > 0 && a.Recover <= 1):
		return fieldError("Adapt.Recover", a.Recover, "in (0, 1]")
	case a.Pause < time.Millisecond:
		return fieldError("Adapt.Pause", a.Pause, "≥ 1ms")
	case a.MaxPause < time.Millisecond:
		return fieldError("Adapt.MaxPause", a.MaxPause, "≥ 1ms")
	}
	return nil
}

// adapter turns responses into what the store learns. It remembers the paces it last sent, so
// that a server that repeats itself (every response of a fixed window says about the same) costs
// one store call per change, not one per response.
type adapter struct {
	cfg     AdaptConfig
	key     string
	limits  []store.Limit // the configured limits
	ceiling time.Duration // the strictest configured limit's interval
	// maxRetryAfter caps a server's Retry-After, as Config.Retry.MaxRetryAfter caps it for retries.
	maxRetryAfter time.Duration
	st            *guardedStore
	m             *metrics
	log           *slog.Logger

	mu       sync.Mutex
	sentReq  store.Pace
	sentUnit store.Pace
	// sentReqReset and sentUnitReset are when the quotas behind sentReq and sentUnit reset.
	sentReqReset, sentUnitReset time.Time
	maxCost                     int64
	windows                     map[string]*quotaWindow // per quota, what its responses told of its window
	// quotaAt is when a response last stated a quota: within quotaFresh of it, the key is paced
	// by what the server states, and a rejection without a quota but with a Retry-After (such as
	// Discord's global limit) only pauses it.
	quotaAt time.Time
}

// maxQuotaWindows bounds the quotas whose windows one key's adapter follows at once.
const maxQuotaWindows = 64

// quotaFresh is how long a stated quota keeps a key's pace the server's business.
const quotaFresh = time.Minute

// resetOf returns how long until q resets, as tightly as this window's responses tell, and about
// how long q's window is (see quotaWindow), for a response that arrived at now to a request sent
// at sent. It reports false for old news: a word on a window already over.
func (a *adapter) resetOf(q headers.Quota, now, sent time.Time) (reset, window time.Duration, ok bool) {
	id := q.Name + "\x00" + q.Unit
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.windows == nil {
		a.windows = make(map[string]*quotaWindow)
	}
	w := a.windows[id]
	if w == nil {
		if len(a.windows) >= maxQuotaWindows {
			// The names come from the upstream: one that names a new quota on every answer
			// must not grow this map without end. Forgetting costs only what was learned.
			clear(a.windows)
		}
		w = &quotaWindow{least: -1}
		a.windows[id] = w
	}
	if !w.hear(q, now, sent, a.admits) {
		return 0, 0, false
	}
	return w.reset.Sub(now), w.longest, true
}

// spreadSlack is how far a new pace may differ from the one last sent before it is sent again.
const spreadSlack = 0.1

// observe reads one response (arrived at now, rtt after its request was sent, for a request of
// cost) and tells the store what it learned. It reports whether the response was a rate-limit rejection and whether the key
// was paused because of it, so that the retry waits in the line rather than on a timer.
func (a *adapter) observe(ctx context.Context, resp *http.Response, cost int64, now time.Time, rtt time.Duration) (rejected, paused bool) {
	sig := headers.Parse(resp.Header, now)
	sent := now.Add(-max(rtt, 0))
	exhaustedFor, exhausted := sig.Exhausted()
	if exhausted {
		exhaustedFor = 0
		for _, q := range sig.Quotas {
			if q.Remaining == 0 && q.Reset >= 0 {
				// A quota spent in a window already over holds nothing back.
				if reset, _, ok := a.resetOf(q, now, sent); ok {
					exhaustedFor = max(exhaustedFor, reset)
				}
			}
		}
		// One response must not hold the key for the day an absurd reset says.
		exhaustedFor = min(exhaustedFor, a.cfg.MaxPause)
	}
	// A 503 or a 403 is a rate-limit refusal only when it says so (Retry-After or a spent
	// quota): a bare 503 is the server failing, which is the breaker's business, and cutting the
	// rate on every one would starve a client of an upstream that fails now and then; a bare 403
	// is a refusal of the caller. GitHub says so both ways: a spent primary quota, or a
	// secondary limit's retry-after beside a quota far from spent.
	rejected = resp.StatusCode == http.StatusTooManyRequests ||
		(resp.StatusCode == http.StatusServiceUnavailable || resp.StatusCode == http.StatusForbidden) &&
			(sig.RetryAfter >= 0 || exhausted)
	if sig.Empty() && !rejected {
		return false, false
	}
	kind := string(sig.Source)
	if kind == "" {
		kind = "none" // a rejection that said nothing
	}
	a.m.signal(kind)

	a.mu.Lock()
	if len(sig.Quotas) > 0 {
		a.quotaAt = now
	}
	quotaKnown := !a.quotaAt.IsZero() && now.Sub(a.quotaAt) < quotaFresh
	a.mu.Unlock()
	if rejected && len(sig.Quotas) == 0 && !(quotaKnown && sig.RetryAfter >= 0) {
		// No quota to learn from. With a Retry-After the server said when to come back: pause
		// until then, and come back one request at a time (a hold). With nothing at all, cut
		// the rate and pause (a backoff).
		b := store.Backoff{Factor: a.cfg.Factor, Ceiling: a.ceiling, Recover: a.cfg.Recover, Pause: a.cfg.Pause, RetryAfter: -1,
			RoundTrip: min(max(rtt, 0), time.Hour)}
		if sig.RetryAfter >= 0 {
			b.RetryAfter, b.Hold = min(sig.RetryAfter, a.maxRetryAfter), true
		}
		l, err := a.st.backoff(ctx, a.key, b)
		if err != nil {
			a.log.LogAttrs(ctx, levelWarn, "weir: backoff failed", slog.String("upstream", a.key), errAttr(err))
			return true, false
		}
		a.m.learned(l, a.ceiling)
		a.m.paused()
		return true, true
	}
	if rejected && sig.RetryAfter >= 0 || exhausted {
		wait := exhaustedFor
		if rejected && sig.RetryAfter >= 0 {
			// The longer of the quota's reset and the server's Retry-After (capped as retries cap it).
			wait = max(wait, min(sig.RetryAfter, a.maxRetryAfter))
		}
		if wait > 0 {
			if err := a.st.Block(ctx, a.key, now.Add(wait)); err != nil {
				a.log.LogAttrs(ctx, levelWarn, "weir: block failed", slog.String("upstream", a.key), errAttr(err))
			} else {
				a.m.paused()
				paused = true
				a.outlast(ctx, now.Add(wait))
			}
		}
	}
	a.spread(ctx, sig, cost, now, sent)
	return rejected, paused
}

// spread paces what is left of each quota running low over the time to its reset. The pace
// outlives the reset by about a window; a reset beyond MaxPause sets its rate, not its life.
func (a *adapter) spread(ctx context.Context, sig headers.Signal, cost int64, now, sent time.Time) {
	var req, unit store.Pace
	var reqReset, unitReset time.Time
	a.mu.Lock()
	a.maxCost = max(a.maxCost, cost)
	maxCost := a.maxCost
	a.mu.Unlock()
	for _, q := range sig.Quotas {
		if q.Remaining <= 0 || q.Reset <= 0 {
			continue
		}
		// The pace's next request goes one interval from now and the last one must land before
		// the reset, so what is left is spread over one slot more than it holds: the request's
		// own worth (one, or the largest cost seen for a quota of units).
		reset, window, ok := a.resetOf(q, now, sent)
		if !ok {
			continue // what was left of a window already over
		}
		units := q.Unit == "" || q.Unit == "requests"
		slot := int64(1)
		if !units {
			slot = max(1, maxCost)
		}
		iv := min(reset/time.Duration(q.Remaining+slot), a.cfg.MaxPause)
		if iv < time.Microsecond || a.lasts(q, reset, slot, units) {
			continue // enough left to last at the configured rate: nothing to spread
		}
		reset = min(reset, a.cfg.MaxPause)
		p := store.Pace{Interval: iv, Burst: 1, Until: now.Add(reset + min(max(reset, window), time.Minute))}
		if units {
			if p.Interval > req.Interval {
				req, reqReset = p, now.Add(reset)
			}
		} else if p.Interval > unit.Interval {
			p.Burst = max(1, maxCost) // a weighted request must fit in the burst
			unit, unitReset = p, now.Add(reset)
		}
	}
	if req.Interval == 0 && unit.Interval == 0 {
		return
	}
	a.mu.Lock()
	if same(req, a.sentReq, reqReset) {
		req = store.Pace{}
	}
	if same(unit, a.sentUnit, unitReset) {
		unit = store.Pace{}
	}
	a.mu.Unlock()
	if a.send(ctx, req, reqReset, unit, unitReset) && req.Interval > 0 {
		a.m.rate(req.Rate())
	}
}

// lasts reports whether what is left of q, and a slot more, lasts at the configured rate until q
// resets: in reset at most, and, for a quota of requests whose size and window the server
// states, sooner still when much of it is gone (see spentSince).
func (a *adapter) lasts(q headers.Quota, reset time.Duration, slot int64, units bool) bool {
	if units && q.Limit > 0 && q.Window > 0 {
		reset = min(reset, q.Window-a.spentSince(q.Limit-q.Remaining))
	}
	return min(reset/time.Duration(q.Remaining+slot), a.cfg.MaxPause) <= a.ceiling
}

// spentSince is the least time the configured limits take to admit used requests: at most each
// limit's burst at once, then its rate. The quota's window began at least that long ago, if only
// this key spends it.
func (a *adapter) spentSince(used int64) time.Duration {
	var d time.Duration
	for _, l := range a.limits {
		if over := used - l.EffectiveBurst(); over > 0 && l.Requests > 0 {
			d = max(d, time.Duration(float64(over)*float64(l.Per)/float64(l.Requests)))
		}
	}
	return d
}

// admits is the most requests the configured limits let through in d: each limit's burst at
// once, then its rate.
func (a *adapter) admits(d time.Duration) int64 {
	most := int64(math.MaxInt64)
	for _, l := range a.limits {
		if l.Requests > 0 && l.Per > 0 {
			most = min(most, l.EffectiveBurst()+int64(float64(max(d, 0))*float64(l.Requests)/float64(l.Per)))
		}
	}
	return most
}

// send tells the store the paces (a zero one leaves the store's alone) and remembers them, with
// when their quotas reset; it reports whether the store took them.
func (a *adapter) send(ctx context.Context, req store.Pace, reqReset time.Time, unit store.Pace, unitReset time.Time) bool {
	if req.Interval == 0 && unit.Interval == 0 {
		return false
	}
	if err := a.st.learn(ctx, a.key, req, unit); err != nil {
		a.log.LogAttrs(ctx, levelWarn, "weir: learn failed", slog.String("upstream", a.key), errAttr(err))
		return false
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if req.Interval > 0 {
		a.sentReq, a.sentReqReset = req, reqReset
	}
	if unit.Interval > 0 {
		a.sentUnit, a.sentUnitReset = unit, unitReset
	}
	return true
}

// outlast keeps the paces last sent in force past a pause that ends after their quota resets
// (a Retry-After in whole seconds, say): the requests that waited then resume at the server's
// pace, one at a time, rather than all at once. Each pace's end moves by as much as the pause
// outlasts its reset.
func (a *adapter) outlast(ctx context.Context, end time.Time) {
	a.mu.Lock()
	var req, unit store.Pace
	if a.sentReq.Interval > 0 && end.After(a.sentReqReset) {
		req = a.sentReq
		req.Until = req.Until.Add(end.Sub(a.sentReqReset))
	}
	if a.sentUnit.Interval > 0 && end.After(a.sentUnitReset) {
		unit = a.sentUnit
		unit.Until = unit.Until.Add(end.Sub(a.sentUnitReset))
	}
	a.mu.Unlock()
	a.send(ctx, req, end, unit, end)
}

// same reports whether p says what sent said near enough not to tell the store again: about the
// same interval and burst, and sent still in force until p's quota resets.
func same(p, sent store.Pace, reset time.Time) bool {
	if p.Interval == 0 {
		return true
	}
	if sent.Interval == 0 || sent.Until.Before(reset) {
		return false
	}
	d := float64(p.Interval-sent.Interval) / float64(sent.Interval)
	return d > -spreadSlack && d < spreadSlack && p.Burst == sent.Burst
}
