package queue

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"

	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
)

// Upstream is a worker's profile of one API: where it lives, the client that holds its shared
// limits, breaker and retry policy, and the headers (credentials) the worker adds to every job.
type Upstream struct {
	Name    string
	BaseURL *url.URL
	Client  *client.Client
	Header  http.Header // set on every request, over any header of the job
	Rules   Rules
	// MaxResponse bounds the response body kept as the job's result. Default 1 MiB.
	MaxResponse int64
}

// HTTPHandler runs the jobs of one upstream: it sends each job's request under the upstream's
// client and stores the response. A response of any status is a result; a call that fails
// (transport errors, retries exhausted, limiter or breaker refusal, store unavailable) is retried
// as a job later, no sooner than any wait the limiter or breaker asked for.
func HTTPHandler(up *Upstream) Handler {
	maxResp := up.MaxResponse
	if maxResp <= 0 {
		maxResp = 1 << 20
	}
	return func(ctx context.Context, l store.Lease) ([]byte, error) {
		req, err := decode(l.Payload)
		if err != nil {
			return nil, Permanent(fmt.Errorf("weir/queue: job %s: undecodable payload: %w", l.ID, err))
		}
		if req.Upstream != up.Name {
			return nil, Permanent(fmt.Errorf("weir/queue: job %s names upstream %q, not %q", l.ID, req.Upstream, up.Name))
		}
		// Jobs are checked at enqueue; check again, since the queue may hold jobs from elsewhere.
		if err := up.Rules.Validate(req); err != nil {
			return nil, Permanent(err)
		}
		target := JoinURL(up.BaseURL, req.Path)
		hreq, err := http.NewRequestWithContext(ctx, req.Method, target.String(), bytes.NewReader(req.Body))
		if err != nil {
			return nil, Permanent(fmt.Errorf("weir/queue: job %s: %w", l.ID, err))
		}
		for k, vs := range req.Header {
			hreq.Header[http.CanonicalHeaderKey(k)] = vs
		}
		for k, vs := range up.Header {
			hreq.Header[http.CanonicalHeaderKey(k)] = vs
		}
		// A job may run more than once (at-least-once): let the upstream deduplicate.
		if hreq.Header.Get("Idempotency-Key") == "" {
			hreq.Header.Set("Idempotency-Key", "weir-"+l.ID)
		}
		resp, err := up.Client.Do(ctx, hreq)
		if err != nil {
			return nil, retryAfter(err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, maxResp))
		if err != nil {
			return nil, fmt.Errorf("weir/queue: job %s: reading the response: %w", l.ID, err)
		}
		return json.Marshal(Response{Status: resp.StatusCode, Header: keptHeaders(resp.Header), Body: body})
	}
}

// JoinURL resolves a job's path (already validated, so it parses) under an upstream's base URL:
// the base's path, then the job's path as it was escaped, then the job's query. It never changes
// the scheme, host or user of the base.
func JoinURL(base *url.URL, p string) *url.URL {
	u := *base
	rel, err := url.Parse(p)
	if err != nil {
		rel = &url.URL{Path: p}
	}
	u.Path = strings.TrimSuffix(base.Path, "/") + rel.Path
	u.RawPath = strings.TrimSuffix(base.EscapedPath(), "/") + rel.EscapedPath()
	u.RawQuery, u.Fragment, u.RawFragment = rel.RawQuery, "", ""
	return &u
}

// retryAfter turns a refusal that names a wait into a *RetryAfterError.
func retryAfter(err error) error {
	var open *breaker.OpenError
	var limited *client.RateLimitError
	var failed *client.Error
	switch {
	case errors.As(err, &open):
		return &RetryAfterError{Err: err, After: open.RetryAfter}
	case errors.As(err, &limited):
		return &RetryAfterError{Err: err, After: limited.RetryAfter}
	case errors.As(err, &failed) && failed.RetryAfter > 0:
		return &RetryAfterError{Err: err, After: failed.RetryAfter}
	}
	return err
}

// keptHeaders drops what a stored result has no business keeping.
func keptHeaders(h http.Header) http.Header {
	out := http.Header{}
	for k, vs := range h {
		switch http.CanonicalHeaderKey(k) {
		case "Set-Cookie", "Authorization", "Proxy-Authenticate", "Www-Authenticate":
			continue
		}
		out[k] = vs
	}
	return out
}
