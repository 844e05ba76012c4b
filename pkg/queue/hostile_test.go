package queue_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/queue"
	"github.com/weir-go/weir/pkg/store"
	"github.com/weir-go/weir/pkg/store/memory"
)

const hostileSecret = "pr0file-s3cret"

// recorder is a loopback server that notes every request it gets, with its headers and body.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	seen []string // method, path, headers and body of each request, flattened
}

func newRecorder(t *testing.T, handle http.HandlerFunc) *recorder {
	t.Helper()
	r := &recorder{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		var b strings.Builder
		b.WriteString(req.Method + " " + req.URL.String() + "\n")
		_ = req.Header.Write(&b)
		b.Write(body)
		r.mu.Lock()
		r.seen = append(r.seen, b.String())
		r.mu.Unlock()
		if handle != nil {
			handle(w, req)
		}
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.seen...)
}

// hostileWorker runs one worker of upstream "api" at up (under basePath) on a fresh memory store,
// with a profile header carrying hostileSecret, and returns a producer of its jobs.
func hostileWorker(t *testing.T, up *recorder, basePath string, adjust func(u *queue.Upstream)) (*queue.Producer, store.Queues) {
	t.Helper()
	st := memory.New(memory.Options{})
	t.Cleanup(func() { st.Close() })
	c, err := client.New(client.Config{Name: "api", Store: st, Limits: []store.Limit{store.PerSecond(1000)},
		Breaker: breaker.Config{BreakerPolicy: store.BreakerPolicy{ConsecutiveFailures: 2}},
		Retry:   client.RetryConfig{BaseDelay: time.Millisecond}})
	require.NoError(t, err)
	t.Cleanup(func() { c.Close() })
	base, err := url.Parse(up.URL + basePath)
	require.NoError(t, err)
	rules := queue.Rules{SecretHeaders: []string{"X-Api-Key"}}
	u := &queue.Upstream{Name: "api", BaseURL: base, Client: c, Rules: rules, Header: http.Header{"X-Api-Key": {hostileSecret}}}
	if adjust != nil {
		adjust(u)
	}
	w, err := queue.NewWorker(st, queue.WorkerConfig{Queue: "api", Concurrency: 2, MaxAttempts: 5,
		RetryBase: time.Millisecond, RetryMax: 5 * time.Millisecond}, queue.HTTPHandler(u))
	require.NoError(t, err)
	runWorker(t, w)
	p, err := queue.NewProducer(st, queue.ProducerConfig{Upstreams: map[string]queue.Rules{"api": rules}})
	require.NoError(t, err)
	return p, st
}

func waitResult(t *testing.T, p *queue.Producer, req queue.Request) queue.Response {
	t.Helper()
	tk, err := p.Enqueue(context.Background(), req, queue.Options{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := tk.Wait(ctx)
	require.NoError(t, err)
	return resp
}

// A job whose upstream redirects it to another origin fails at once, naming the refused
// redirect; the other origin gets nothing, and no secret reaches the result.
func TestJobRedirectedOffOriginFails(t *testing.T) {
	elsewhere := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "elsewhere's body") })
	for _, c := range []struct {
		status int
		method string
		to     string
	}{
		{http.StatusFound, http.MethodGet, elsewhere.URL + "/steal"},
		{http.StatusTemporaryRedirect, http.MethodPost, elsewhere.URL + "/steal"},
		{http.StatusPermanentRedirect, http.MethodPut, strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1) + "/steal"},
		{http.StatusMovedPermanently, http.MethodGet, "//" + strings.TrimPrefix(elsewhere.URL, "http://") + "/steal"},
	} {
		var hits atomic.Int64
		up := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
			hits.Add(1)
			http.Redirect(w, r, c.to, c.status)
		})
		p, _ := hostileWorker(t, up, "", nil)
		resp := waitResult(t, p, queue.Request{Upstream: "api", Method: c.method, Path: "/go", Body: []byte("body")})
		require.True(t, resp.Dead, "%+v", c)
		assert.Equal(t, 1, resp.Attempts, "a refused redirect is not retried")
		assert.EqualValues(t, 1, hits.Load())
		assert.Contains(t, resp.Error, "redirect refused")
		assert.Contains(t, resp.Error, "leaves the origin")
		raw, _ := json.Marshal(resp)
		assert.NotContains(t, string(raw), hostileSecret)
		assert.NotContains(t, string(raw), "elsewhere's body")
	}
	assert.Empty(t, elsewhere.requests(), "the other origin got nothing")
}

// Within the origin a redirect is followed when its target is a path a job could ask for, under
// the base path; any other target fails the job.
func TestJobRedirectWithinOriginIsRechecked(t *testing.T) {
	up := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/base/go":
			http.Redirect(w, r, "/base/there?x=1", http.StatusFound)
		case "/base/out":
			http.Redirect(w, r, "/admin", http.StatusFound)
		case "/base/climb":
			w.Header().Set("Location", "/base/%2e%2e/admin")
			w.WriteHeader(http.StatusFound)
		case "/base/unparsable":
			w.Header().Set("Location", "/base/x%zz?api_key="+hostileSecret)
			w.WriteHeader(http.StatusFound)
		case "/base/query":
			w.Header().Set("Location", "/base/%2e%2e/admin?api_key="+hostileSecret+strings.Repeat("q", 100_000))
			w.WriteHeader(http.StatusFound)
		default:
			_, _ = io.WriteString(w, "at "+r.URL.RequestURI())
		}
	})
	p, _ := hostileWorker(t, up, "/base", nil)
	resp := waitResult(t, p, queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/go"})
	require.False(t, resp.Dead, resp.Error)
	assert.Equal(t, "at /base/there?x=1", string(resp.Body))
	assert.Contains(t, up.requests()[1], hostileSecret, "same origin: the profile's headers go along")

	for _, path := range []string{"/out", "/climb", "/unparsable", "/query"} {
		resp = waitResult(t, p, queue.Request{Upstream: "api", Method: http.MethodGet, Path: path})
		require.True(t, resp.Dead, path)
		assert.Equal(t, 1, resp.Attempts, path)
		assert.Contains(t, resp.Error, "redirect refused")
		assert.NotContains(t, resp.Error, hostileSecret, path)
		assert.Less(t, len(resp.Error), 1000, path)
	}
	for _, r := range up.requests() {
		assert.NotContains(t, r, "/admin")
	}
}

func TestJobRedirectPolicies(t *testing.T) {
	cdn := newRecorder(t, func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "blob") })
	up := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, cdn.URL+"/blob", http.StatusTemporaryRedirect)
	})
	// None: the redirect is the result.
	p, _ := hostileWorker(t, up, "", func(u *queue.Upstream) { u.Redirects.None = true })
	resp := waitResult(t, p, queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/x"})
	require.False(t, resp.Dead, resp.Error)
	assert.Equal(t, http.StatusTemporaryRedirect, resp.Status)
	assert.Equal(t, cdn.URL+"/blob", resp.Header.Get("Location"))
	assert.Empty(t, cdn.requests())

	// A listed origin is followed, and gets neither the profile's headers (not even one named like
	// a header that may go along) nor the job's.
	p, _ = hostileWorker(t, up, "", func(u *queue.Upstream) {
		u.Redirects.Origins = []string{cdn.URL}
		u.Header.Set("User-Agent", hostileSecret+"-agent")
	})
	resp = waitResult(t, p, queue.Request{Upstream: "api", Method: http.MethodPost, Path: "/x", Body: []byte("b"),
		Header: http.Header{"X-Job-Note": {"note"}, "Accept": {"text/plain"}}})
	require.False(t, resp.Dead, resp.Error)
	assert.Equal(t, "blob", string(resp.Body))
	got := cdn.requests()
	require.Len(t, got, 1)
	assert.NotContains(t, got[0], hostileSecret)
	assert.NotContains(t, got[0], "note")
	assert.NotContains(t, got[0], "Idempotency-Key")
	assert.Contains(t, got[0], "text/plain")
}

// A stored result is bounded, headers and body together, whatever the upstream sends, and keeps
// only the headers a result has use for.
func TestResultsAreBounded(t *testing.T) {
	huge := strings.Repeat("h", 8<<20)
	up := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		switch r.URL.Path {
		case "/headers":
			// 900 KB of headers, within what the transport reads: one kept by name but too large,
			// others never kept.
			h.Set("X-RateLimit-Note", huge[:600<<10])
			h.Set("Set-Cookie", "session="+hostileSecret)
			h.Set("X-Junk", huge[:300<<10])
			h.Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, "small")

		case "/body":
			h.Set("Content-Length", "9000000")
			_, _ = io.WriteString(w, strings.Repeat("b", 9_000_000))
		case "/echo":
			// An upstream that echoes the request's headers back.
			for k, vs := range r.Header {
				h[k] = vs
			}
			h.Set("Set-Cookie", "id="+hostileSecret)
			h.Set("X-RateLimit-Remaining", "7")
			_, _ = io.WriteString(w, "echoed")
		}
	})
	const maxResult = 64 << 10
	p, _ := hostileWorker(t, up, "", func(u *queue.Upstream) { u.MaxResult = maxResult })

	raw := func(r queue.Response) string { b, _ := json.Marshal(r); return string(b) }
	resp := waitResult(t, p, queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/headers"})
	require.False(t, resp.Dead, resp.Error)
	assert.True(t, resp.Truncated)
	assert.Equal(t, "small", string(resp.Body))
	assert.Equal(t, "text/plain", resp.Header.Get("Content-Type"))
	assert.Empty(t, resp.Header.Get("X-RateLimit-Note"), "too large to keep")
	assert.Empty(t, resp.Header.Get("X-Junk"), "not a kept header")
	assert.NotContains(t, raw(resp), hostileSecret)
	assert.LessOrEqual(t, len(raw(resp)), maxResult)

	resp = waitResult(t, p, queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/body"})
	require.False(t, resp.Dead, resp.Error)
	assert.True(t, resp.Truncated)
	assert.EqualValues(t, 9_000_000, resp.Length)
	assert.Greater(t, len(resp.Body), maxResult/2, "the body fills what is left")
	assert.LessOrEqual(t, len(raw(resp)), maxResult)

	resp = waitResult(t, p, queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/echo",
		Header: http.Header{"X-Note": {"kept?"}}})
	require.False(t, resp.Dead, resp.Error)
	assert.False(t, resp.Truncated)
	assert.Zero(t, resp.Length)
	assert.Equal(t, "7", resp.Header.Get("X-RateLimit-Remaining"))
	assert.Empty(t, resp.Header.Get("X-Note"))
	assert.NotContains(t, raw(resp), hostileSecret)
}

// The default bound is 1 MiB for the whole stored result, and the profile may list the headers.
func TestResultDefaultsAndHeaderList(t *testing.T) {
	up := newRecorder(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Custom", "c")
		w.Header().Set("X-Api-Key", hostileSecret)
		w.Header().Set("Content-Type", "text/plain")
		_, _ = io.WriteString(w, strings.Repeat("b", 3<<20))
	})
	p, st := hostileWorker(t, up, "", func(u *queue.Upstream) { u.ResultHeaders = []string{"x-custom", "X-Api-*"} })
	tk, err := p.Enqueue(context.Background(), queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/x"}, queue.Options{})
	require.NoError(t, err)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := tk.Wait(ctx)
	require.NoError(t, err)
	require.False(t, resp.Dead, resp.Error)
	assert.Equal(t, "c", resp.Header.Get("X-Custom"))
	assert.Empty(t, resp.Header.Get("Content-Type"), "not listed")
	assert.Empty(t, resp.Header.Get("X-Api-Key"), "a profile header is never kept, listed or not")
	stored, err := st.Result(ctx, "api", tk.ID)
	require.NoError(t, err)
	assert.LessOrEqual(t, len(stored.Body), queue.DefaultMaxResult)
	assert.Greater(t, len(stored.Body), queue.DefaultMaxResult*9/10)
}

// A producer refuses, before the store sees them, an idempotency key that would make keys of
// its own and a delay past what the store can hold.
func TestProducerRefusesOversizedOptions(t *testing.T) {
	st := memory.New(memory.Options{})
	defer st.Close()
	p, err := queue.NewProducer(st, queue.ProducerConfig{Upstreams: map[string]queue.Rules{"api": {}},
		Policy: store.QueuePolicy{MaxPayload: 200}})
	require.NoError(t, err)
	req := queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/x"}
	for _, o := range []queue.Options{
		{IdempotencyKey: strings.Repeat("k", 8<<20)},
		{IdempotencyKey: "foo}:ready"},
		{IdempotencyKey: "a\nb"},
		{Delay: time.Duration(1<<63 - 1)},
		{Delay: store.MaxDelay + 1},
	} {
		_, err := p.Enqueue(context.Background(), req, o)
		require.ErrorIs(t, err, queue.ErrRejected, "%.40v", o)
	}
	_, err = p.Enqueue(context.Background(), req, queue.Options{IdempotencyKey: strings.Repeat("k", store.MaxNameLen), Delay: store.MaxDelay})
	require.NoError(t, err)
}

// The bound holds over the range of sizes and shapes an upstream can send: limits from 4 KiB to
// 1 MiB, bodies from empty to thrice the limit, headers from none to one larger than the limit, with
// values that JSON escaping makes six times longer. A result is never larger than the limit, is
// never refused for its size, and says truncated exactly when something was cut.
func TestResultBoundSweep(t *testing.T) {
	type shape struct {
		name   string
		header func(h http.Header, limit int)
		cut    func(limit int) bool // whether the headers alone force a cut
	}
	shapes := []shape{
		{"none", func(http.Header, int) {}, func(int) bool { return false }},
		{"many small", func(h http.Header, _ int) {
			for i := range 40 {
				h.Set(fmt.Sprintf("X-RateLimit-N%d", i), "12345")
			}
		}, func(limit int) bool { return limit < 8<<10 }},
		{"one larger than the limit", func(h http.Header, limit int) {
			h.Set("X-RateLimit-Big", strings.Repeat("b", min(limit+1, 900<<10))) // the transport reads 1 MiB
		},
			func(int) bool { return true }},
		{"escapes", func(h http.Header, limit int) { h.Set("X-RateLimit-Esc", strings.Repeat("<>&", limit/16)) },
			func(int) bool { return true }},
	}
	for _, limit := range []int{4 << 10, 64 << 10, 1 << 20} {
		for _, sh := range shapes {
			for _, bodyLen := range []int{0, limit / 2, limit, 3 * limit} {
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					sh.header(w.Header(), limit)
					w.Header().Set("Content-Length", fmt.Sprint(bodyLen))
					_, _ = io.WriteString(w, strings.Repeat("<", bodyLen))
				}))
				c, err := client.New(client.Config{Name: "sweep"})
				require.NoError(t, err)
				base, _ := url.Parse(srv.URL)
				h := queue.HTTPHandler(&queue.Upstream{Name: "sweep", BaseURL: base, Client: c, MaxResult: limit})
				payload, _ := json.Marshal(queue.Request{Upstream: "sweep", Method: http.MethodGet, Path: "/x"})
				out, err := h(context.Background(), store.Lease{Job: store.Job{ID: "j", Payload: payload}})
				what := fmt.Sprintf("limit %d, headers %s, body %d", limit, sh.name, bodyLen)
				require.NoError(t, err, what)
				require.LessOrEqual(t, len(out), limit, what)
				var r queue.Response
				require.NoError(t, json.Unmarshal(out, &r), what)
				bodyCut := len(r.Body) < bodyLen
				require.Equal(t, bodyCut || sh.cut(limit), r.Truncated, "%s: body %d of %d", what, len(r.Body), bodyLen)
				if bodyCut {
					require.EqualValues(t, bodyLen, r.Length, what)
					require.Greater(t, len(r.Body), limit/3, "%s: the body gets what the headers leave", what)
				}
				require.NoError(t, c.Close())
				srv.Close()
			}
		}
	}
}

// More headers than the client's transport reads (8 MB) fail the attempt: nothing of them is
// stored, and the error is short.
func TestEightMegabytesOfHeaders(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-RateLimit-Note", strings.Repeat("h", 8<<20))
	}))
	defer srv.Close()
	c, err := client.New(client.Config{Name: "huge", Retry: client.RetryConfig{MaxRetries: client.NoRetries}})
	require.NoError(t, err)
	defer c.Close()
	base, _ := url.Parse(srv.URL)
	h := queue.HTTPHandler(&queue.Upstream{Name: "huge", BaseURL: base, Client: c})
	payload, _ := json.Marshal(queue.Request{Upstream: "huge", Method: http.MethodGet, Path: "/x"})
	out, err := h(context.Background(), store.Lease{Job: store.Job{ID: "j", Payload: payload}})
	require.Error(t, err)
	require.Nil(t, out)
	require.Contains(t, err.Error(), "exceeded")
	require.Less(t, len(err.Error()), 1000)
}

// What a worker keeps of a job's error, and logs, is bounded: part of it may be the upstream's.
func TestJobErrorTextIsBounded(t *testing.T) {
	st := memory.New(memory.Options{})
	defer st.Close()
	long := strings.Repeat("é", 10_000) // two bytes each: the cut must fall between runes
	w, err := queue.NewWorker(st, queue.WorkerConfig{Queue: "q", MaxAttempts: 2, RetryBase: time.Millisecond, RetryMax: time.Millisecond},
		func(ctx context.Context, l store.Lease) ([]byte, error) { return nil, errors.New(long) })
	require.NoError(t, err)
	runWorker(t, w)
	p, err := queue.NewProducer(st, queue.ProducerConfig{Upstreams: map[string]queue.Rules{"q": {}}})
	require.NoError(t, err)
	resp := waitResult(t, p, queue.Request{Upstream: "q", Method: http.MethodGet, Path: "/x"})
	require.True(t, resp.Dead)
	require.LessOrEqual(t, len(resp.Error), queue.MaxErrorText)
	require.True(t, utf8.ValidString(resp.Error))
	require.Contains(t, resp.Error, "(cut)")
}
