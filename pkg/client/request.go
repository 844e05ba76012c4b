package client

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/weir-go/weir/internal/httpwire"
)

// ErrInvalidRequest is wrapped by the error of a call whose request could not be sent as it is: a
// bad method, URL or header that net/http refuses before anything reaches the network. Such a
// call takes no token, is not retried, and the breaker does not count it: it says nothing about
// the upstream.
var ErrInvalidRequest = errors.New("weir/client: invalid request")

// checkRequest refuses what net/http would refuse to send, before the call waits for a token.
func (c *Client) checkRequest(req *http.Request, viaRoundTrip bool) error {
	bad := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrInvalidRequest, fmt.Sprintf(format, args...))
	}
	if req.URL == nil {
		return bad("no URL")
	}
	if req.Method != "" && !httpwire.ValidFieldName(req.Method) {
		return bad("method %q is not a token", req.Method)
	}
	// The client's own transport speaks only these; a caller's may know others.
	if s := strings.ToLower(req.URL.Scheme); c.cfg.Transport == nil && s != "http" && s != "https" {
		return bad("unsupported scheme %q", req.URL.Scheme)
	}
	// Do's http.Client needs a host whatever the transport; RoundTrip leaves a caller's to judge.
	if req.URL.Host == "" && (c.cfg.Transport == nil || !viaRoundTrip) {
		return bad("no host in the URL")
	}
	for name := range req.Trailer {
		if !httpwire.ValidFieldName(name) {
			return bad("trailer name %q is not a token", name)
		}
	}
	for name, values := range req.Header {
		if !httpwire.ValidFieldName(name) {
			return bad("header name %q is not a token", name)
		}
		for _, v := range values {
			if !httpwire.ValidFieldValue(v) {
				return bad("header %s: value holds a control character", name)
			}
		}
	}
	return nil
}

// refusedLocally reports whether err is net/http refusing a request before sending any of it;
// net/http gives these errors no type of their own. checkRequest catches most of them sooner.
// Only the start of the innermost message counts: the rest of an error's text may be what a
// server sent.
func refusedLocally(err error) bool {
	if errors.Is(err, ErrInvalidRequest) {
		return true
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	msg := err.Error()
	for _, s := range []string{
		"net/http: invalid header field", "net/http: invalid method", "net/http: invalid trailer",
		"unsupported protocol scheme", "http: no Host in request URL", "http: invalid Host header",
		"net/http: nil Request",
	} {
		if strings.HasPrefix(msg, s) {
			return true
		}
	}
	return false
}
