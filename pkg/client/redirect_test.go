package client_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
)

const redirectSecret = "s3cr3t-redirect-key"

// seen is what a loopback server got: its request count and every header value it saw.
type seen struct {
	*upstream
	headers chan http.Header
}

func newRecorder(t *testing.T, handle func(n int, w http.ResponseWriter, r *http.Request)) *seen {
	s := &seen{headers: make(chan http.Header, 100)}
	s.upstream = newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		h := r.Header.Clone()
		h.Set("X-Seen-Body", string(body))
		s.headers <- h
		if handle != nil {
			handle(n, w, r)
		}
	})
	return s
}

// A breaker that two failures open: a refused redirect must not count as one.
var touchyBreaker = breaker.Config{BreakerPolicy: store.BreakerPolicy{ConsecutiveFailures: 2}}

func TestRedirectLeavingTheOriginIsRefused(t *testing.T) {
	elsewhere := newRecorder(t, nil)
	// Another port of the same host, and another name of the same address: both other origins.
	sameHostOtherPort := elsewhere.URL + "/steal?k=1"
	otherName := strings.Replace(elsewhere.URL, "127.0.0.1", "localhost", 1) + "/steal"
	for _, target := range []string{sameHostOtherPort, otherName} {
		for _, status := range []int{http.StatusFound, http.StatusTemporaryRedirect, http.StatusPermanentRedirect} {
			up := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/go" {
					http.Redirect(w, r, target, status)
				}
			})
			c, err := client.New(client.Config{Name: "redir", CheckRedirect: client.SameOriginRedirects, Breaker: touchyBreaker,
				Retry: client.RetryConfig{BaseDelay: time.Millisecond}})
			require.NoError(t, err)
			for range 3 {
				req, _ := http.NewRequest(http.MethodPost, up.URL+"/go", strings.NewReader("payload"))
				req.Header.Set("X-Api-Key", redirectSecret)
				req.Header.Set("Idempotency-Key", "k1") // retryable, were it retried
				_, err = c.Do(context.Background(), req)
				require.ErrorIs(t, err, client.ErrRedirectRefused, "%s %d", target, status)
				var re *client.RedirectError
				require.ErrorAs(t, err, &re)
				require.Equal(t, status, re.Status)
				require.Contains(t, err.Error(), "leaves the origin")
				require.NotContains(t, err.Error(), "k=1", "no query of a Location in the message")
			}
			require.Equal(t, 3, up.count(), "a refused redirect is not retried")
			// The breaker counted none of them: a plain call still goes out.
			resp, err := c.Get(context.Background(), up.URL+"/ok")
			require.NoError(t, err)
			resp.Body.Close()
			require.NoError(t, c.Close())
		}
	}
	require.Zero(t, elsewhere.count(), "the other origin got nothing")
}

func TestRedirectWithinTheOriginIsFollowedAndChecked(t *testing.T) {
	up := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/go":
			http.Redirect(w, r, "/api/there", http.StatusTemporaryRedirect)
		case "/bad":
			http.Redirect(w, r, "/admin", http.StatusFound)
		case "/api/loop":
			http.Redirect(w, r, "/api/loop", http.StatusFound)
		default:
			_, _ = io.WriteString(w, "arrived")
		}
	})
	p := client.RedirectPolicy{CheckPath: func(to *url.URL) error {
		if !strings.HasPrefix(to.Path, "/api/") {
			return errors.New("outside /api/")
		}
		return nil
	}}
	c, err := client.New(client.Config{Name: "redir-same", CheckRedirect: p.CheckRedirect})
	require.NoError(t, err)
	defer c.Close()

	req, _ := http.NewRequest(http.MethodPost, up.URL+"/go", strings.NewReader("payload"))
	req.Header.Set("X-Api-Key", redirectSecret)
	resp, err := c.Do(context.Background(), req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "arrived", string(body))
	<-up.headers
	h := <-up.headers
	require.Equal(t, redirectSecret, h.Get("X-Api-Key"), "same origin: the headers go along")
	require.Equal(t, "payload", h.Get("X-Seen-Body"), "a 307 replays the body")

	_, err = c.Get(context.Background(), up.URL+"/bad")
	require.ErrorIs(t, err, client.ErrRedirectRefused)
	require.Contains(t, err.Error(), "outside /api/")

	_, err = c.Get(context.Background(), up.URL+"/api/loop")
	require.ErrorIs(t, err, client.ErrRedirectRefused)
	require.Contains(t, err.Error(), "stopped after 10 redirects")
}

func TestRedirectToAnAllowedOriginCarriesNoCredentials(t *testing.T) {
	cdn := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "from the cdn") })
	up := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, cdn.URL+"/blob", http.StatusTemporaryRedirect)
	})
	p := client.RedirectPolicy{Origins: []string{cdn.URL}}
	require.NoError(t, p.Validate())
	c, err := client.New(client.Config{Name: "redir-cdn", CheckRedirect: p.CheckRedirect})
	require.NoError(t, err)
	defer c.Close()

	req, _ := http.NewRequest(http.MethodPut, up.URL+"/file?api_key="+redirectSecret, strings.NewReader("payload"))
	req.Header.Set("X-Api-Key", redirectSecret)
	req.Header.Set("Authorization", "Bearer "+redirectSecret)
	req.Header.Set("Accept", "application/json")
	resp, err := c.Do(context.Background(), req)
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, "from the cdn", string(body))
	h := <-cdn.headers
	for k, vs := range h {
		for _, v := range vs {
			require.NotContains(t, v, redirectSecret, "header %s reached the other origin", k)
		}
	}
	require.Equal(t, "application/json", h.Get("Accept"))
}

func TestRedirectPolicyNoneReturnsTheRedirect(t *testing.T) {
	elsewhere := newRecorder(t, nil)
	up := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL, http.StatusFound)
	})
	c, err := client.New(client.Config{Name: "redir-none", CheckRedirect: client.RedirectPolicy{None: true}.CheckRedirect})
	require.NoError(t, err)
	defer c.Close()
	resp, err := c.Get(context.Background(), up.URL)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusFound, resp.StatusCode)
	require.Zero(t, elsewhere.count())
}

func TestRedirectPolicyValidate(t *testing.T) {
	for _, o := range []string{"", "example.com", "ftp://example.com", "https://user@example.com", "https://example.com/path", "https://example.com?q"} {
		require.Error(t, client.RedirectPolicy{Origins: []string{o}}.Validate(), "%q", o)
	}
	require.NoError(t, client.RedirectPolicy{Origins: []string{"https://EXAMPLE.com:443/", "http://[::1]:8080"}}.Validate())
}

// A request net/http refuses to send is refused before it waits for a token: not retried, not
// counted by the breaker, so that bad input cannot open the breaker for everyone sharing it.
func TestRequestRefusedLocallyIsPermanent(t *testing.T) {
	up := newUpstream(t, nil)
	c, err := client.New(client.Config{Name: "local", Breaker: touchyBreaker, Limits: []store.Limit{store.PerSecond(1000)},
		Retry: client.RetryConfig{BaseDelay: time.Millisecond}})
	require.NoError(t, err)
	defer c.Close()
	for _, mutate := range []func(r *http.Request){
		func(r *http.Request) { r.Header.Set("X-Bad", "a\x01b") },
		func(r *http.Request) { r.Header.Set("X-Bad", "a\x7fb") },
		func(r *http.Request) { r.Header.Set("X-Bad", "a\nb") },
		func(r *http.Request) { r.Header["Bad Name"] = []string{"x"} },
		func(r *http.Request) { r.Method = "GE T" },
		func(r *http.Request) { r.URL.Scheme = "gopher" },
		func(r *http.Request) { r.URL.Host = "" },
	} {
		for range 3 {
			req, _ := http.NewRequest(http.MethodGet, up.URL+"/x", nil)
			mutate(req)
			_, err := c.Do(context.Background(), req)
			require.ErrorIs(t, err, client.ErrInvalidRequest)
		}
	}
	require.Zero(t, up.count())
	require.Zero(t, c.Stats().BreakerTrips)
	resp, err := c.Get(context.Background(), up.URL+"/fine")
	require.NoError(t, err)
	resp.Body.Close()
	// A tab is allowed in a value.
	req, _ := http.NewRequest(http.MethodGet, up.URL+"/tab", nil)
	req.Header.Set("X-Tab", "a\tb")
	resp, err = c.Do(context.Background(), req)
	require.NoError(t, err)
	resp.Body.Close()
}

// MaxRedirects is how many redirects one request follows: that many are followed, one more is
// refused.
func TestRedirectPolicyMaxRedirects(t *testing.T) {
	up := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		var left int
		_, _ = fmt.Sscanf(r.URL.Path, "/hop/%d", &left)
		if left > 0 {
			http.Redirect(w, r, fmt.Sprintf("/hop/%d", left-1), http.StatusFound)
		}
	})
	for _, limit := range []int{1, 3, client.DefaultMaxRedirects} {
		c, err := client.New(client.Config{Name: "redir-max", CheckRedirect: client.RedirectPolicy{MaxRedirects: limit}.CheckRedirect})
		require.NoError(t, err)
		resp, err := c.Get(context.Background(), fmt.Sprintf("%s/hop/%d", up.URL, limit))
		require.NoError(t, err, "%d redirects under a limit of %d", limit, limit)
		resp.Body.Close()
		_, err = c.Get(context.Background(), fmt.Sprintf("%s/hop/%d", up.URL, limit+1))
		require.ErrorIs(t, err, client.ErrRedirectRefused, "%d redirects under a limit of %d", limit+1, limit)
		require.NoError(t, c.Close())
	}
}

// What an upstream writes into a redirect never reaches an error whole: not a Location's query,
// not a Location that does not parse, not a long path.
func TestRedirectErrorsQuoteNothingOfTheUpstreams(t *testing.T) {
	long := strings.Repeat("p", 100_000)
	up := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/unparsable":
			w.Header().Set("Location", "/x%zz?api_key="+redirectSecret)
			w.WriteHeader(http.StatusFound)
		case "/query":
			http.Redirect(w, r, "/outside?api_key="+redirectSecret, http.StatusFound)
		case "/long":
			http.Redirect(w, r, "/"+long, http.StatusFound)
		}
	})
	p := client.RedirectPolicy{CheckPath: func(to *url.URL) error { return errors.New("no") }}
	c, err := client.New(client.Config{Name: "redir-quote", CheckRedirect: p.CheckRedirect, Breaker: touchyBreaker})
	require.NoError(t, err)
	defer c.Close()
	for _, path := range []string{"/unparsable", "/query", "/long"} {
		_, err := c.Get(context.Background(), up.URL+path)
		require.ErrorIs(t, err, client.ErrRedirectRefused, path)
		require.NotContains(t, err.Error(), redirectSecret, path)
		require.Less(t, len(err.Error()), 1000, path)
	}
	require.Equal(t, 3, up.count(), "none was retried")
	require.Zero(t, c.Stats().BreakerTrips)
}

// The credentials a caller names never go to a listed origin, even under a name that otherwise
// goes along (Accept, User-Agent).
func TestRedirectToAnAllowedOriginDropsNamedCredentials(t *testing.T) {
	cdn := newRecorder(t, nil)
	up := newRecorder(t, func(n int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, cdn.URL+"/blob", http.StatusFound)
	})
	p := client.RedirectPolicy{Origins: []string{cdn.URL}, Credentials: []string{"user-agent"}}
	c, err := client.New(client.Config{Name: "redir-cred", CheckRedirect: p.CheckRedirect})
	require.NoError(t, err)
	defer c.Close()
	req, _ := http.NewRequest(http.MethodGet, up.URL, nil)
	req.Header.Set("User-Agent", redirectSecret)
	resp, err := c.Do(context.Background(), req)
	require.NoError(t, err)
	resp.Body.Close()
	<-up.headers
	require.NotContains(t, (<-cdn.headers).Get("User-Agent"), redirectSecret)
}

// rawServer answers every connection with the bytes of respond, then closes it.
func rawServer(t *testing.T, respond string) (url string, hits *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() })
	hits = &atomic.Int64{}
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			hits.Add(1)
			go func() {
				defer conn.Close()
				buf := make([]byte, 4096)
				_, _ = conn.Read(buf)
				_, _ = io.WriteString(conn, respond)
			}()
		}
	}()
	return "http://" + ln.Addr().String(), hits
}

// A status line's reason phrase is the server's to fill: errors name the status by its code.
func TestStatusErrorQuotesNoReasonPhrase(t *testing.T) {
	srv, _ := rawServer(t, "HTTP/1.1 503 "+strings.Repeat("R", 5000)+redirectSecret+"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
	c, err := client.New(client.Config{Name: "reason", Retry: client.RetryConfig{MaxRetries: client.NoRetries}})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Get(context.Background(), srv+"/x")
	require.Error(t, err)
	require.NotContains(t, err.Error(), redirectSecret)
	require.Contains(t, err.Error(), "503 Service Unavailable")
}

// Only net/http's own refusals before sending count as an invalid request; an upstream cannot
// make its failure look like one by writing the same words.
func TestUpstreamCannotPassForALocalRefusal(t *testing.T) {
	srv, hits := rawServer(t, "HTTP/1.1 200 OK\r\nunsupported protocol scheme\r\n\r\n")
	c, err := client.New(client.Config{Name: "mimic", Breaker: touchyBreaker, Retry: client.RetryConfig{MaxRetries: 1, BaseDelay: time.Millisecond}})
	require.NoError(t, err)
	defer c.Close()
	_, err = c.Get(context.Background(), srv+"/x")
	require.Error(t, err)
	require.NotErrorIs(t, err, client.ErrInvalidRequest)
	require.EqualValues(t, 2, hits.Load(), "retried as the upstream's failure")

	// And net/http's own refusal that the client's checks leave to it (a scheme a transport of
	// the caller's may know, through RoundTrip) is one: not retried, no breaker failure.
	c2, err := client.New(client.Config{Name: "own-transport", Breaker: touchyBreaker, Transport: &http.Transport{}})
	require.NoError(t, err)
	defer c2.Close()
	hc := &http.Client{Transport: c2}
	for range 3 {
		_, err = hc.Get("gopher://127.0.0.1:1/x")
		require.ErrorIs(t, err, client.ErrInvalidRequest)
	}
	require.Zero(t, c2.Stats().BreakerTrips)
}
