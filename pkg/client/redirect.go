package client

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
)

// ErrRedirectRefused is wrapped by the error of a call that the upstream redirected where the
// client's redirect policy does not go. Such a call is not retried, and the breaker does not count
// it as a failure.
var ErrRedirectRefused = errors.New("weir/client: redirect refused")

// RedirectError says which redirect was refused and why. It matches ErrRedirectRefused.
type RedirectError struct {
	Status int      // the redirecting response's status, 0 if unknown
	To     *url.URL // where it pointed
	Reason string
}

func (e *RedirectError) Error() string {
	var b strings.Builder
	b.WriteString("weir/client: redirect refused")
	if e.Status != 0 {
		fmt.Fprintf(&b, ": %d", e.Status)
	}
	if e.To != nil {
		fmt.Fprintf(&b, " to %s", originAndPath(e.To))
	}
	if e.Reason != "" {
		b.WriteString(": ")
		b.WriteString(shorten(e.Reason, 256))
	}
	return b.String()
}

// originAndPath shows where a Location points, as far as a message may: the upstream chose it,
// so its query (which may carry what it should not have put there) is left out and a long path
// is cut. Messages about redirects reach logs and stored job errors.
func originAndPath(u *url.URL) string {
	return shorten((&url.URL{Scheme: u.Scheme, Host: u.Host, Path: u.Path}).String(), 256)
}

// shorten cuts s to at most n bytes, saying so.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

// CleanRedirectError returns err with net/http's own failure to follow a redirect, a Location
// that does not parse (which net/http quotes whole), made a *RedirectError that does not quote
// it. Other errors come back as they are. Do applies it; a caller with an http.Client of its own
// over the client can too.
func CleanRedirectError(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) || !strings.HasPrefix(ue.Err.Error(), "failed to parse Location header") {
		return err
	}
	return &url.Error{Op: ue.Op, URL: ue.URL, Err: &RedirectError{Reason: "its Location does not parse"}}
}

// Is makes errors.Is(err, ErrRedirectRefused) true.
func (e *RedirectError) Is(target error) bool { return target == ErrRedirectRefused }

// DefaultMaxRedirects bounds the redirects one request follows under a RedirectPolicy.
const DefaultMaxRedirects = 10

// crossOriginHeaders are the only request headers sent along a redirect that a RedirectPolicy
// lets leave the first request's origin: none of them carries a credential.
var crossOriginHeaders = [...]string{"Accept", "Accept-Encoding", "Accept-Language", "Content-Type", "User-Agent"}

// RedirectPolicy decides which redirects a client follows; its CheckRedirect method is a
// Config.CheckRedirect. The zero value follows redirects within the origin (scheme, host and
// port) of the request that began the chain, and refuses the rest with a *RedirectError.
//
// A RedirectPolicy is safe for concurrent use once built; do not change it while in use.
type RedirectPolicy struct {
	// None follows no redirect at all: the 3xx response is returned as it came.
	None bool
	// Origins are further origins a redirect may go to, as "https://cdn.example.com" or
	// "http://127.0.0.1:8080". Only Accept, Accept-Encoding, Accept-Language, Content-Type and
	// User-Agent go along there, and none of them if named in Credentials.
	Origins []string
	// Credentials are headers never sent to another origin, whatever their name: the ones the
	// caller adds on its own behalf.
	Credentials []string
	// CheckPath, when set, is asked about every redirect within the first request's origin
	// before it is followed; an error refuses the redirect.
	CheckPath func(to *url.URL) error
	// MaxRedirects bounds the redirects one request follows. Default DefaultMaxRedirects.
	MaxRedirects int
}

// SameOriginRedirects is a Config.CheckRedirect that follows up to DefaultMaxRedirects redirects
// within the origin of the request that began the chain and refuses any other. Use it when the
// requests carry credentials: net/http's own policy sends custom headers to any host, and
// Authorization to another port of the same host.
func SameOriginRedirects(req *http.Request, via []*http.Request) error {
	return RedirectPolicy{}.CheckRedirect(req, via)
}

// Validate reports an origin that does not parse as scheme://host[:port], naming it.
func (p RedirectPolicy) Validate() error {
	for i, o := range p.Origins {
		if _, err := parseOrigin(o); err != nil {
			return fmt.Errorf("weir/client: RedirectPolicy.Origins[%d]: %w", i, err)
		}
	}
	if p.MaxRedirects < 0 {
		return fmt.Errorf("weir/client: RedirectPolicy.MaxRedirects must be ≥ 0, got %d", p.MaxRedirects)
	}
	return nil
}

// CheckRedirect applies the policy to req, the redirect about to be followed after via.
func (p RedirectPolicy) CheckRedirect(req *http.Request, via []*http.Request) error {
	if p.None {
		return http.ErrUseLastResponse
	}
	refuse := func(reason string) error {
		e := &RedirectError{To: req.URL, Reason: reason}
		if req.Response != nil {
			e.Status = req.Response.StatusCode
		}
		return e
	}
	limit := p.MaxRedirects
	if limit == 0 {
		limit = DefaultMaxRedirects
	}
	if len(via) > limit {
		return refuse(fmt.Sprintf("stopped after %d redirects", limit))
	}
	if len(via) == 0 {
		return nil
	}
	first := originOf(via[0].URL)
	to := originOf(req.URL)
	if to == first {
		if p.CheckPath != nil {
			if err := p.CheckPath(req.URL); err != nil {
				return refuse(err.Error())
			}
		}
		return nil
	}
	for _, o := range p.Origins {
		if allowed, err := parseOrigin(o); err == nil && allowed == to {
			keepOnly(req.Header, crossOriginHeaders[:])
			for _, name := range p.Credentials {
				req.Header.Del(name)
			}
			return nil
		}
	}
	return refuse("it leaves the origin " + first)
}

// originOf is u's scheme, host and port, lower case, the port spelt out.
func originOf(u *url.URL) string {
	scheme := strings.ToLower(u.Scheme)
	port := u.Port()
	if port == "" {
		switch scheme {
		case "http":
			port = "80"
		case "https":
			port = "443"
		}
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	return scheme + "://" + host + ":" + port
}

func parseOrigin(s string) (string, error) {
	u, err := url.Parse(s)
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.User != nil ||
		strings.TrimSuffix(u.Path, "/") != "" || u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("%q is not an origin like https://host[:port]", s)
	}
	return originOf(u), nil
}

// keepOnly deletes every header of h not named in names.
func keepOnly(h http.Header, names []string) {
	for k := range h {
		keep := false
		for _, n := range names {
			if http.CanonicalHeaderKey(k) == n {
				keep = true
				break
			}
		}
		if !keep {
			delete(h, k)
		}
	}
}
