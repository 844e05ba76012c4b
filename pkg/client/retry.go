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
