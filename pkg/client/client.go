package client

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"sync"
	"time"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

// Client sends requests to one upstream under its shared limits and breaker.
type Client struct {
	cfg       Config
	st        *guardedStore
	ownsStore bool
	http      *http.Client      // for Do: follows redirects
	transport http.RoundTripper // for RoundTrip: the caller's http.Client follows them
	line      *waitLine         // nil without limits
	adapt     *adapter          // nil without limits, with Adapt.Off, or a store that learns nothing
	brk       *breaker.Breaker
	rand      func() float64
	metrics   *metrics
	redact    *redactor

	mu      sync.Mutex
	closed  bool
	closing chan struct{}      // closed by Close: wakes calls sleeping between attempts
	calls   map[*call]struct{} // in flight, so that Close can cut them short
	wg      sync.WaitGroup
}

// call is one Do in flight; cancel ends its current attempt (nil between attempts). Both are
// guarded by Client.mu.
type call struct {
	cancel context.CancelFunc
	body   responseBody // the body of an attempt's response: one allocation with the call
}

// New validates cfg and returns a client. An invalid field is an error naming it.
func New(cfg Config) (*Client, error) {
	cfg = cfg.withDefaults()
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	c := &Client{cfg: cfg, rand: cfg.Rand, calls: make(map[*call]struct{}), closing: make(chan struct{})}
	st := cfg.Store
	if st == nil {
		st = memory.New(memory.Options{Clock: cfg.Clock})
		c.ownsStore = true
	}
	c.st = newGuardedStore(cfg, st)
	if c.rand == nil {
		c.rand = rand.Float64
	}
	c.transport = cfg.Transport
	if c.transport == nil {
		t := http.DefaultTransport.(*http.Transport).Clone()
		t.MaxIdleConnsPerHost = 256
		t.MaxResponseHeaderBytes = DefaultMaxResponseHeaderBytes
		c.transport = t
	}
	c.http = &http.Client{Transport: c.transport, CheckRedirect: cfg.CheckRedirect}
	if len(cfg.Limits) > 0 {
		c.line = newWaitLine(cfg.Name, cfg.Limits, c.st, cfg.Clock, cfg.MaxQueue)
	}
	brk, err := breaker.New(c.st, cfg.Name, cfg.Breaker)
	if err != nil {
		return nil, fmt.Errorf("weir/client: Config.Breaker: %w", err)
	}
	c.brk = brk
	c.redact = newRedactor(cfg.SensitiveHeaders)
	c.metrics, err = newMetrics(cfg.Name, cfg.Registerer)
	if err != nil {
		return nil, err
	}
	if c.line != nil && !cfg.Adapt.Off && c.st.learner() != nil {
		c.adapt = &adapter{cfg: cfg.Adapt, key: cfg.Name, limits: cfg.Limits, ceiling: contract.CeilingOf(cfg.Limits),
			maxRetryAfter: cfg.Retry.MaxRetryAfter, st: c.st, m: c.metrics, log: cfg.Logger}
		ceilingRate := float64(time.Second) / float64(c.adapt.ceiling)
		c.metrics.rate(ceilingRate)
		c.line.paced = func(iv time.Duration) {
			if iv > 0 {
				c.metrics.rate(float64(time.Second) / float64(iv))
			} else {
				c.metrics.rate(ceilingRate)
			}
		}
	}
	return c, nil
}

// Name returns the upstream's name.
func (c *Client) Name() string { return c.cfg.Name }

type ctxKey int

const (
	priorityKey ctxKey = iota
	costKey
)

// WithPriority returns a context whose calls wait for tokens with priority p: among waiting calls,
// higher priorities are served first, then earlier arrivals. The default priority is 0.
func WithPriority(ctx context.Context, p int) context.Context {
	return context.WithValue(ctx, priorityKey, p)
}

// WithCost returns a context whose calls each take n tokens (a batch size, a query's points).
// The default cost is 1.
func WithCost(ctx context.Context, n int64) context.Context {
	return context.WithValue(ctx, costKey, n)
}

func priorityOf(ctx context.Context) int {
	p, _ := ctx.Value(priorityKey).(int)
	return p
}

func costOf(ctx context.Context) int64 {
	if n, ok := ctx.Value(costKey).(int64); ok {
		return n
	}
	return 1
}

// Get sends a GET to url.
func (c *Client) Get(ctx context.Context, url string) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	return c.Do(ctx, req)
}

// Post sends a POST of body to url. Without an Idempotency-Key it is not retried (unless
// Retry.AllMethods); use Do with a request carrying one to make it retryable.
func (c *Client) Post(ctx context.Context, url, contentType string, body io.Reader) (*http.Response, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, body)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", contentType)
	return c.Do(ctx, req)
}

// Do sends req under the upstream's limits and breaker, retrying as the policy says. ctx governs
// the whole call, waits included. A response is returned as net/http would return it, its body
// for the caller to close; a call whose attempts all failed (a transport error, or a retryable
// status to the end) returns an *Error carrying the last status and cause. Limiter and breaker
// refusals are ErrRateLimited, ErrLineFull and breaker.ErrOpen.
func (c *Client) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	return c.do(ctx, req, false)
}

// RoundTrip makes the client an http.RoundTripper, so that any *http.Client gets its behaviour:
// &http.Client{Transport: c}. The request's context governs the call.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	return c.do(req.Context(), req, true)
}

func (c *Client) do(ctx context.Context, req *http.Request, viaRoundTrip bool) (*http.Response, error) {
	k, err := c.begin()
	if err != nil {
		return nil, err
	}
	defer c.wg.Done()
	start := c.cfg.Clock.Now()
	if err := c.checkRequest(req, viaRoundTrip); err != nil {
		c.metrics.call(nil, err, c.brk, 0)
		c.end(k)
		return nil, err
	}
	resp, err := c.attempts(ctx, req, k, viaRoundTrip)
	if err != nil && c.isClosed() && ctx.Err() == nil {
		err = ErrClosed
	}
	c.metrics.call(resp, err, c.brk, c.cfg.Clock.Now().Sub(start))
	if resp == nil {
		c.end(k)
		return nil, err
	}
	// The attempt's context must outlive Do while the caller reads the body; closing the body
	// ends the call.
	resp.Body.(*responseBody).call = k
	return resp, nil
}

// begin registers a call so that Close can cut it short.
func (c *Client) begin() (*call, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil, ErrClosed
	}
	k := &call{}
	c.calls[k] = struct{}{}
	c.wg.Add(1)
	return k, nil
}

// end forgets a finished call.
func (c *Client) end(k *call) {
	c.mu.Lock()
	delete(c.calls, k)
	c.mu.Unlock()
}

// track makes cancel the way Close cuts call k's current attempt short.
func (c *Client) track(k *call, cancel context.CancelFunc) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return ErrClosed
	}
	k.cancel = cancel
	return nil
}

func (c *Client) isClosed() bool {
	select {
	case <-c.closing:
		return true
	default:
		return false
	}
}

// sleep waits d, or until ctx is done or the client closes; it reports whether d passed.
func (c *Client) sleep(ctx context.Context, d time.Duration) bool {
	t := c.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C():
		return true
	case <-ctx.Done():
		return false
	case <-c.closing:
		return false
	}
}

// outgoing is what every attempt of one call sends, and how.
type outgoing struct {
	req          *http.Request
	call         *call
	body         *replayBody
	viaRoundTrip bool
	priority     int
	cost         int64
	maxAttempts  int
}

// attempt is what one try of a call came to.
type attempt struct {
	n    int            // counts from 1; 0 is none yet
	resp *http.Response // nil after a transport error; drained once the attempt failed
	err  error          // nil on success; else a transport error or a *StatusError
	// retryable is false for a failure that another attempt would meet again.
	retryable  bool
	serverWait time.Duration // what the server asked to wait, 0 when it did not say
	said       bool          // the server named a wait
	paused     bool          // the key is paused in the store for everyone
	at         time.Time     // when the attempt ended
}

// attempts sends the request until an attempt succeeds or the retry policy gives up.
func (c *Client) attempts(ctx context.Context, req *http.Request, k *call, viaRoundTrip bool) (*http.Response, error) {
	body, err := newReplayBody(req, c.cfg.MaxBodyBuffer)
	if err != nil {
		return nil, c.fail(req, attempt{}, err)
	}
	o := &outgoing{req: req, call: k, body: body, viaRoundTrip: viaRoundTrip,
		priority: priorityOf(ctx), cost: costOf(ctx), maxAttempts: c.maxAttempts(req, body)}
	var last attempt // the previous attempt, failed
	for n := 1; ; n++ {
		permit, err := c.admit(ctx, o)
		if err != nil {
			return nil, c.fail(req, last, err)
		}
		a := c.try(ctx, o, n, permit)
		if a.err == nil {
			return a.resp, nil
		}
		delay, retry := c.nextDelay(ctx, o, a)
		if !retry {
			return nil, c.fail(req, a, a.err)
		}
		c.metrics.retried()
		c.cfg.Logger.LogAttrs(ctx, levelDebug, "weir: retrying", c.attr(),
			attrInt("attempt", n), attrInt("status", a.status()), attrDur("delay", delay), errAttr(a.err))
		if !c.sleep(ctx, delay) {
			return nil, c.fail(req, a, sleepCut(ctx))
		}
		last = a
	}
}

// admit waits for the call's turn: a token from the waiting line (when there are limits), then a
// permit from the breaker.
func (c *Client) admit(ctx context.Context, o *outgoing) (store.Permit, error) {
	if c.line != nil {
		start := c.cfg.Clock.Now()
		waited, err := c.line.wait(ctx, o.priority, o.cost)
		c.metrics.waited(waited, c.cfg.Clock.Now().Sub(start), err)
		if err != nil {
			return store.Permit{}, err
		}
	}
	permit, err := c.brk.Allow(ctx)
	if err != nil {
		if errors.Is(err, breaker.ErrOpen) {
			c.metrics.breakerRejected()
		}
		return permit, err
	}
	if permit.Changed {
		c.breakerChanged(permit.State)
	}
	return permit, nil
}

// try sends attempt n under permit, and tells the breaker and the adapter how it went.
func (c *Client) try(ctx context.Context, o *outgoing, n int, permit store.Permit) attempt {
	var sent time.Time // when the attempt went, for the adapter's round trip
	if c.adapt != nil {
		sent = c.cfg.Clock.Now()
	}
	resp, err := c.send(ctx, o, n)
	local := err != nil && (refusedLocally(err) || errors.Is(err, ErrRedirectRefused))
	c.record(ctx, permit, resp, err, local)
	a := attempt{n: n, resp: resp, err: err, at: c.cfg.Clock.Now()}
	var limited bool // the response is a rate-limit refusal
	if resp != nil && c.adapt != nil {
		limited, a.paused = c.adapt.observe(ctx, resp, o.cost, a.at, a.at.Sub(sent))
	}
	if err == nil && !c.failedStatus(resp.StatusCode, limited) {
		return a
	}
	c.failed(ctx, &a, local)
	return a
}

// record reports an attempt's outcome to the breaker. One cut short by Close, refused by net/http
// before anything was sent, or stopped at a redirect the policy refused (local) says nothing about
// the upstream's health.
func (c *Client) record(ctx context.Context, permit store.Permit, resp *http.Response, err error, local bool) {
	outcome := c.brk.Classify(ctx, resp, err)
	if err != nil && (c.isClosed() || local) {
		outcome = store.Ignored
	}
	st, recErr := c.brk.Record(ctx, permit, outcome)
	if recErr != nil {
		c.cfg.Logger.LogAttrs(ctx, levelWarn, "weir: breaker record failed", c.attr(), errAttr(recErr))
	} else if st.Changed {
		c.breakerChanged(st.State)
	}
}

// failed completes a failed attempt: whether it is worth retrying, what the server asked to wait
// (which pauses the key for everyone sharing the store), and its response drained.
func (c *Client) failed(ctx context.Context, a *attempt, local bool) {
	c.metrics.attemptFailed()
	a.retryable = a.err == nil || !local && retryableError(a.err)
	a.serverWait, a.said = retryAfter(a.resp, a.at)
	if a.said && !a.paused && c.pausesKey(a.resp) {
		a.paused = c.pauseKey(ctx, a.at, a.serverWait)
	}
	if a.resp != nil {
		a.err = &StatusError{StatusCode: a.resp.StatusCode, Status: a.resp.Status}
		drain(a.resp.Body)
	}
}

// pauseKey pauses the key in the store for the server's wait, at most Retry.MaxRetryAfter; it
// reports whether the pause took.
func (c *Client) pauseKey(ctx context.Context, now time.Time, wait time.Duration) bool {
	if err := c.st.Block(ctx, c.cfg.Name, now.Add(min(wait, c.cfg.Retry.MaxRetryAfter))); err != nil {
		c.cfg.Logger.LogAttrs(ctx, levelWarn, "weir: block failed", c.attr(), errAttr(err))
		return false
	}
	return true
}

// status is the attempt's response status, 0 without a response.
func (a attempt) status() int {
	if a.resp == nil {
		return 0
	}
	return a.resp.StatusCode
}

// sleepCut is why a sleep between attempts ended early: the caller's cause, or Close.
func sleepCut(ctx context.Context) error {
	if cause := context.Cause(ctx); cause != nil {
		return cause
	}
	return ErrClosed
}

// send makes one attempt under the per-attempt timeout. The timeout stays in force while the
// caller reads the body, and is released when the body is closed.
func (c *Client) send(ctx context.Context, o *outgoing, attempt int) (*http.Response, error) {
	req := o.req
	var actx context.Context
	var cancel context.CancelFunc
	if c.cfg.AttemptTimeout > 0 {
		actx, cancel = context.WithTimeout(ctx, c.cfg.AttemptTimeout)
	} else {
		actx, cancel = context.WithCancel(ctx)
	}
	if err := c.track(o.call, cancel); err != nil {
		cancel()
		return nil, err
	}
	r := req.WithContext(actx) // a shallow copy: the client changes only its context and body
	if err := o.body.rewind(r, attempt); err != nil {
		cancel()
		return nil, err
	}
	start := c.cfg.Clock.Now()
	var resp *http.Response
	var err error
	if o.viaRoundTrip {
		resp, err = c.transport.RoundTrip(r)
	} else {
		resp, err = c.http.Do(r)
	}
	elapsed := c.cfg.Clock.Now().Sub(start)
	c.metrics.attempt(resp, elapsed)
	if err != nil {
		cancel()
		err = c.redact.err(err) // net/http quotes the whole URL
		err = CleanRedirectError(err)
		var ue *url.Error
		if errors.Is(err, ErrRedirectRefused) && errors.As(err, &ue) {
			// net/http names the refused Location, the upstream's to fill.
			if u, perr := url.Parse(ue.URL); perr == nil {
				err = &url.Error{Op: ue.Op, URL: originAndPath(u), Err: ue.Err}
			}
		}
		if refusedLocally(err) && !errors.Is(err, ErrInvalidRequest) {
			err = fmt.Errorf("%w: %w", ErrInvalidRequest, err)
		}
		if c.cfg.Logger.Enabled(ctx, levelDebug) {
			c.cfg.Logger.LogAttrs(ctx, levelDebug, "weir: attempt failed", c.attr(), attrInt("attempt", attempt),
				c.redact.request(req), attrDur("elapsed", elapsed), errAttr(err))
		}
		return nil, err
	}
	// An earlier attempt's body, if any, was closed before this attempt began: its place in the
	// call is free.
	b := &o.call.body
	*b = responseBody{ReadCloser: resp.Body, cancel: cancel, client: c}
	resp.Body = b
	if c.cfg.Logger.Enabled(ctx, levelDebug) {
		c.cfg.Logger.LogAttrs(ctx, levelDebug, "weir: attempt", c.attr(), attrInt("attempt", attempt),
			c.redact.request(req), attrInt("status", resp.StatusCode), attrDur("elapsed", elapsed))
	}
	return resp, nil
}

// fail builds the error of a call that ends without a response for the caller, its last attempt
// being last.
func (c *Client) fail(req *http.Request, last attempt, err error) error {
	if last.n == 0 {
		return err // refused before anything was sent: the refusal is the whole story
	}
	return &Error{Method: req.Method, URL: c.redact.url(req.URL), Attempts: last.n, StatusCode: last.status(),
		RetryAfter: last.serverWait, Err: err}
}

func (c *Client) breakerChanged(to store.BreakerState) {
	c.metrics.breakerState(to)
	c.cfg.Logger.LogAttrs(context.Background(), levelWarn, "weir: breaker state changed", c.attr(), attrStr("state", to.String()))
}

// Close stops the client: calls waiting for a token or sleeping between attempts end with
// ErrClosed, requests in flight are cancelled, and Close returns once every call has returned and
// no goroutine of the client is left. Later calls return ErrClosed. A store the client created
// itself is closed too; one given in Config is not.
func (c *Client) Close() error {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil
	}
	c.closed = true
	close(c.closing)
	for k := range c.calls {
		if k.cancel != nil {
			k.cancel()
		}
	}
	c.mu.Unlock()
	if c.line != nil {
		c.line.close()
	}
	c.wg.Wait()
	if t, ok := c.transport.(interface{ CloseIdleConnections() }); ok && c.cfg.Transport == nil {
		t.CloseIdleConnections()
	}
	c.st.closeLocal()
	if c.ownsStore {
		return c.st.Store.Close()
	}
	return nil
}

// noBody is the replayBody of every request without a body; it is never modified.
var noBody = replayBody{replayable: true}

// replayBody keeps what is needed to send a request body more than once.
type replayBody struct {
	buf        []byte
	getBody    func() (io.ReadCloser, error)
	first      io.ReadCloser
	replayable bool
}

func newReplayBody(req *http.Request, limit int64) (*replayBody, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return &noBody, nil
	}
	if req.GetBody != nil {
		return &replayBody{getBody: req.GetBody, first: req.Body, replayable: true}, nil
	}
	buf, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
	if err != nil {
		req.Body.Close()
		return nil, fmt.Errorf("weir/client: reading request body: %w", err)
	}
	if int64(len(buf)) > limit {
		// Too large to keep: send it once, the buffered head then the rest.
		return &replayBody{first: struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(buf), req.Body), req.Body}}, nil
	}
	req.Body.Close()
	return &replayBody{buf: buf, replayable: true}, nil
}

func (b *replayBody) rewind(r *http.Request, attempt int) error {
	switch {
	case attempt == 1 && b.first != nil:
		r.Body = b.first
	case b.getBody != nil:
		rc, err := b.getBody()
		if err != nil {
			return fmt.Errorf("weir/client: replaying request body: %w", err)
		}
		r.Body = rc
	case b.buf != nil:
		r.Body = io.NopCloser(bytes.NewReader(b.buf))
		r.ContentLength = int64(len(b.buf))
		r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b.buf)), nil }
	}
	return nil
}

// drainLimit bounds how much of a failed response is read so its connection can be reused.
const drainLimit = 64 << 10

func drain(body io.ReadCloser) {
	_, _ = io.CopyN(io.Discard, body, drainLimit)
	_ = body.Close()
}

// responseBody releases an attempt's timeout, and ends the call, once the caller is done with
// the body. A body the client drains itself belongs to no call.
type responseBody struct {
	io.ReadCloser
	cancel context.CancelFunc
	client *Client
	call   *call
	once   sync.Once
}

func (b *responseBody) Close() error {
	err := b.ReadCloser.Close()
	b.once.Do(func() {
		b.cancel()
		if b.call != nil {
			b.client.end(b.call)
		}
	})
	return err
}
