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
	"sort"
	"strings"
	"time"

	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
)

// Upstream is a worker's profile of one API: where it lives, the client that holds its shared
// limits, breaker and retry policy, and the headers (credentials) the worker adds to every job.
type Upstream struct {
	Name    string
	BaseURL *url.URL
	Client  *client.Client
	// Header is set on every request, over any header of the job. Name its credentials in the
	// client's SensitiveHeaders unless the built-in redaction already covers them.
	Header http.Header
	Rules  Rules
	// Redirects says which redirects a job follows. The zero value follows those that stay
	// within the base URL's origin and under its path, each re-checked by the rules of a job's
	// path; a redirect anywhere else fails the job for good.
	Redirects Redirects
	// MaxResult bounds a stored result, headers and body together, in bytes of its JSON; what
	// does not fit is cut and the result marked Truncated. Default DefaultMaxResult, at least
	// MinMaxResult.
	MaxResult int
	// ResultHeaders names the response headers a result keeps ("X-RateLimit-*" matches a
	// prefix). Nil means DefaultResultHeaders(). Set-Cookie, the credential headers of Rules and
	// the names in Header are never kept.
	ResultHeaders []string
}

// Redirects is a worker's redirect policy for one upstream.
type Redirects struct {
	// None follows no redirect: the 3xx response is the job's result.
	None bool
	// Origins are further origins ("https://cdn.example.com") that redirects may go to. The
	// profile's headers are never sent there, nor any of the job's but Accept, Accept-Encoding,
	// Accept-Language, Content-Type and User-Agent. Each hop there takes a token of the
	// upstream's limits and counts in its breaker, as any hop does.
	Origins []string
}

// DefaultMaxResult is Upstream.MaxResult's default, MinMaxResult its least: a smaller bound
// counts as this one.
const (
	DefaultMaxResult = 1 << 20
	MinMaxResult     = 1 << 10
)

// DefaultResultHeaders returns the response headers a result keeps unless the profile says which.
func DefaultResultHeaders() []string { return append([]string(nil), defaultResultHeaders[:]...) }

var defaultResultHeaders = [...]string{
	"Content-Type", "Content-Length", "Content-Encoding", "Content-Language", "Content-Range",
	"Cache-Control", "Date", "Expires", "Last-Modified", "ETag", "Location", "Link", "Retry-After",
	"Retry-After-Ms", "RateLimit", "RateLimit-*", "X-RateLimit-*", "X-Request-Id",
}

// HTTPHandler runs the jobs of one upstream: it sends each job's request under the upstream's
// client and stores the response. A response of any status is a result; a call that fails
// (transport errors, retries exhausted, limiter or breaker refusal, store unavailable) is retried
// as a job later, no sooner than any wait the limiter or breaker asked for. A job that the
// upstream redirects where Redirects does not go fails for good.
func HTTPHandler(up *Upstream) Handler {
	maxResult := up.MaxResult
	if maxResult <= 0 {
		maxResult = DefaultMaxResult
	}
	maxResult = max(maxResult, MinMaxResult)
	keep := newHeaderFilter(up)
	// Redirects are followed here, not by the client: each hop goes through the client's limits
	// and breaker, and this policy holds whatever the client's own.
	credentials := make([]string, 0, len(up.Header))
	for name := range up.Header {
		credentials = append(credentials, name)
	}
	policy := client.RedirectPolicy{None: up.Redirects.None, Origins: up.Redirects.Origins, Credentials: credentials,
		CheckPath: func(to *url.URL) error { return checkRedirectPath(up.BaseURL, to) }}
	hc := &http.Client{Transport: up.Client, CheckRedirect: policy.CheckRedirect}
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
		resp, err := hc.Do(hreq)
		if err != nil {
			err = client.CleanRedirectError(err)
			var ue *url.Error
			if errors.As(err, &ue) {
				err = ue.Err // the client's own errors name the request, redacted
			}
			if errors.Is(err, client.ErrRedirectRefused) || errors.Is(err, client.ErrInvalidRequest) {
				return nil, Permanent(fmt.Errorf("weir/queue: job %s: %w", l.ID, err))
			}
			return nil, retryAfter(err)
		}
		defer resp.Body.Close()
		return boundedResult(resp, keep, maxResult)
	}
}

// checkRedirectPath applies a job's path rules to a redirect within the upstream's origin: the
// target must lie under the base URL's path, and what follows it must be a path a job could ask
// for.
func checkRedirectPath(base, to *url.URL) error {
	prefix := strings.TrimSuffix(base.EscapedPath(), "/")
	p := to.EscapedPath()
	if !strings.HasPrefix(p, prefix+"/") {
		return fmt.Errorf("it is not under the base path %s/", prefix)
	}
	rest := p[len(prefix):]
	if to.RawQuery != "" || to.ForceQuery {
		rest += "?" + to.RawQuery
	}
	if err := checkPath(rest); err != nil {
		// Not the path itself: the upstream wrote it, and this reaches logs and stored errors.
		return errors.New("its path is not one a job could ask for")
	}
	return nil
}

// boundedResult encodes resp as a job's result of at most limit bytes: the headers kept first,
// within a quarter of it, then as much of the body as fits.
func boundedResult(resp *http.Response, keep headerFilter, limit int) ([]byte, error) {
	out := Response{Status: resp.StatusCode, Header: http.Header{}}
	if resp.ContentLength >= 0 {
		out.Length = resp.ContentLength
	}
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		if keep.keeps(k) {
			names = append(names, k)
		}
	}
	sort.Strings(names)
	headerBudget := limit / 4
	for _, k := range names {
		vs := resp.Header[k]
		size := len(k) + 8
		for _, v := range vs {
			size += len(v) + 4 // JSON quoting and escapes are accounted for below
		}
		if size > headerBudget {
			out.Truncated = true
			continue
		}
		headerBudget -= size
		out.Header[k] = vs
	}
	// Measure the result without a body, then fill what is left with it (base64: 4 bytes per 3).
	probe := out
	probe.Truncated = true
	head, err := json.Marshal(probe)
	if err != nil {
		return nil, err
	}
	room := (limit - len(head) - len(`,"body":""`)) / 4 * 3
	for room < 0 && len(out.Header) > 0 {
		// Escaping made the headers larger than counted: drop them all rather than overflow.
		out.Header, out.Truncated = nil, true
		probe.Header = nil
		if head, err = json.Marshal(probe); err != nil {
			return nil, err
		}
		room = (limit - len(head) - len(`,"body":""`)) / 4 * 3
	}
	room = max(room, 0)
	body, err := io.ReadAll(io.LimitReader(resp.Body, int64(room)+1))
	if err != nil {
		return nil, fmt.Errorf("weir/queue: reading the response: %w", err)
	}
	if len(body) > room {
		body, out.Truncated = body[:room], true
	}
	if !out.Truncated {
		out.Length = 0 // the body is whole: its length is its own
	}
	out.Body = body
	b, err := json.Marshal(out)
	if err != nil {
		return nil, err
	}
	if len(b) > limit {
		return nil, Permanent(fmt.Errorf("weir/queue: a result of %d bytes exceeds MaxResult %d", len(b), limit))
	}
	return b, nil
}

// headerFilter says which response headers a result keeps.
type headerFilter struct {
	names, prefixes []string // canonical
	never           map[string]bool
}

func newHeaderFilter(up *Upstream) headerFilter {
	list := up.ResultHeaders
	if list == nil {
		list = defaultResultHeaders[:]
	}
	f := headerFilter{never: map[string]bool{}}
	for _, n := range list {
		if p, ok := strings.CutSuffix(n, "*"); ok {
			f.prefixes = append(f.prefixes, strings.ToLower(p))
		} else {
			f.names = append(f.names, http.CanonicalHeaderKey(n))
		}
	}
	for _, n := range []string{"Set-Cookie", "Set-Cookie2", "Cookie", "Authorization", "Proxy-Authorization",
		"Proxy-Authenticate", "Www-Authenticate"} {
		f.never[n] = true
	}
	for _, n := range up.Rules.SecretHeaders {
		f.never[http.CanonicalHeaderKey(n)] = true
	}
	for n := range up.Header {
		f.never[http.CanonicalHeaderKey(n)] = true
	}
	return f
}

func (f headerFilter) keeps(name string) bool {
	c := http.CanonicalHeaderKey(name)
	if f.never[c] {
		return false
	}
	for _, n := range f.names {
		if n == c {
			return true
		}
	}
	l := strings.ToLower(name)
	for _, p := range f.prefixes {
		if strings.HasPrefix(l, p) {
			return true
		}
	}
	return false
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

// retryDelay returns the wait err asks for, if err or an error it wraps has a RetryDelay method.
func retryDelay(err error) (time.Duration, bool) {
	var waiter interface{ RetryDelay() time.Duration }
	if errors.As(err, &waiter) {
		return waiter.RetryDelay(), true
	}
	return 0, false
}

// retryAfter turns an error that names a wait into a *RetryAfterError.
func retryAfter(err error) error {
	if wait, ok := retryDelay(err); ok && wait > 0 {
		return &RetryAfterError{Err: err, After: wait}
	}
	return err
}
