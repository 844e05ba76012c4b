package client

import (
	"context"
	"crypto/tls"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/weir-go/weir/internal/backoff"
	"github.com/weir-go/weir/internal/tlserr"
	"github.com/weir-go/weir/pkg/headers"
)

// retryAfter returns what resp asks the client to wait, if anything: Retry-After (seconds,
// decimals or an HTTP-date in any of its three forms, capped: see headers.ParseRetryAfter), or the
// retry-after-ms header some SDKs send; either sent twice with values that differ is ignored
// (see headers.RetryAfter).
func retryAfter(resp *http.Response, now time.Time) (time.Duration, bool) {
	if resp == nil {
		return 0, false
	}
	return headers.RetryAfter(resp.Header, now)
}

// backoff returns the wait before attempt+1: exponential, capped, with full jitter over
// [0, delay) unless the policy says otherwise.
func (c *Client) backoff(attempt int) time.Duration {
	r := c.cfg.Retry
	d := backoff.Exponential(r.BaseDelay, r.MaxDelay, r.Multiplier, attempt)
	if r.NoJitter {
		return d
	}
	return time.Duration(float64(d) * c.rand())
}

// maxAttempts is how many attempts a call may make: one when its body cannot be replayed, or its
// method may not be sent twice.
func (c *Client) maxAttempts(req *http.Request, body *replayBody) int {
	if !body.replayable || (!c.cfg.Retry.AllMethods && !idempotent(req)) {
		return 1
	}
	return 1 + max(0, c.cfg.Retry.MaxRetries)
}

// nextDelay decides what follows failed attempt a: the wait before the next attempt, or giving up
// (retry false) when no attempt is left, the call has ended, another attempt would fail the same
// way, or the wait would outlast the deadline.
func (c *Client) nextDelay(ctx context.Context, o *outgoing, a attempt) (delay time.Duration, retry bool) {
	if a.n >= o.maxAttempts || ctx.Err() != nil || c.isClosed() || !a.retryable {
		return 0, false
	}
	delay = c.backoff(a.n)
	if a.said {
		delay = max(delay, min(a.serverWait, c.cfg.Retry.MaxRetryAfter))
	}
	if a.paused {
		// The key is paused in the store for everyone: the retry waits in the line, in turn, for
		// exactly as long as the pause lasts, not on a timer of its own.
		delay = 0
	}
	if dl, ok := ctx.Deadline(); ok && a.at.Add(delay).After(dl) {
		return 0, false
	}
	return delay, true
}

// failedStatus reports whether a response counts as a failed attempt: a retryable status, or a
// 403 that says it is a rate limit (GitHub's spent quota, or its secondary limit's retry-after),
// retried as a 429 would be.
func (c *Client) failedStatus(code int, limited bool) bool {
	return c.retryableStatus(code) ||
		limited && code == http.StatusForbidden && c.retryableStatus(http.StatusTooManyRequests)
}

// pausesKey reports whether a wait named by resp pauses the key for everyone sharing the store: a
// 429 or 503, to a client with limits.
func (c *Client) pausesKey(resp *http.Response) bool {
	return resp != nil && c.line != nil &&
		(resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode == http.StatusServiceUnavailable)
}

// idempotent reports whether req may be sent more than once.
func idempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete, "":
		return true
	}
	return req.Header.Get("Idempotency-Key") != "" || req.Header.Get("X-Idempotency-Key") != ""
}

func (c *Client) retryableStatus(code int) bool {
	return slices.Contains(c.cfg.Retry.RetryStatuses, code)
}

// retryableError reports whether a transport error may go away on another attempt. The caller's
// own cancellation is checked before this is asked.
func retryableError(err error) bool {
	// The next attempt would meet the same certificate, or the same server that does not speak TLS.
	var recordErr tls.RecordHeaderError
	if tlserr.IsCertificate(err) || errors.As(err, &recordErr) {
		return false
	}
	if errors.Is(err, context.Canceled) {
		return false
	}
	// net/http's own redirect policy gives up with an error of no type of its own; the whole
	// message is compared, since part of an error's text may be what a server sent.
	var ue *url.Error
	if errors.As(err, &ue) && ue.Err.Error() == "stopped after 10 redirects" {
		return false
	}
	return true
}
