package client

import (
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

const (
	levelDebug = slog.LevelDebug
	levelWarn  = slog.LevelWarn
	redacted   = "REDACTED"
)

// redactor hides credentials from logs and errors: sensitive headers, the user info of a URL,
// and query values whose names look like credentials.
type redactor struct{ extra map[string]bool }

func newRedactor(extra []string) *redactor {
	r := &redactor{extra: make(map[string]bool, len(extra))}
	for _, h := range extra {
		r.extra[http.CanonicalHeaderKey(h)] = true
	}
	return r
}

// sensitive reports whether a header or query parameter name may carry a credential.
func (r *redactor) sensitive(name string) bool {
	if r.extra[http.CanonicalHeaderKey(name)] {
		return true
	}
	n := strings.ToLower(name)
	for _, part := range sensitiveParts {
		if strings.Contains(n, part) {
			return true
		}
	}
	// Short names are sensitive only whole: "code" is OAuth's, "zipcode" is not.
	n = strings.TrimPrefix(strings.TrimPrefix(n, "x-"), "x_")
	for _, whole := range sensitiveNames {
		if n == whole {
			return true
		}
	}
	return false
}

// sensitiveParts make any header or query parameter name holding them sensitive;
// sensitiveNames only names that are nothing else (after an "x-" prefix).
var (
	sensitiveParts = []string{"auth", "key", "token", "secret", "passw", "pwd", "signature", "cookie",
		"session", "credential", "jwt", "bearer", "csrf", "xsrf", "private"}
	sensitiveNames = []string{"sig", "code", "pass", "pw", "hmac", "otp", "ticket", "nonce", "saml", "samlresponse", "assertion"}
)

// headers returns h with sensitive values replaced.
func (r *redactor) headers(h http.Header) http.Header {
	out := make(http.Header, len(h))
	for k, vs := range h {
		if r.sensitive(k) {
			out[k] = []string{redacted}
			continue
		}
		out[k] = vs
	}
	return out
}

// url returns u as a string without user info or sensitive query values.
func (r *redactor) url(u *url.URL) string {
	if u == nil {
		return ""
	}
	c := *u
	if c.User != nil {
		c.User = url.User(redacted)
	}
	if c.RawQuery != "" {
		q, err := url.ParseQuery(c.RawQuery)
		if err != nil {
			// A query the parser cannot read whole ("a=1;api_key=S" drops its second pair) may
			// hide anything: none of it is shown.
			c.RawQuery = redacted
			return c.String()
		}
		changed := false
		for k := range q {
			if r.sensitive(k) {
				q[k] = []string{redacted}
				changed = true
			}
		}
		if changed {
			c.RawQuery = q.Encode()
		}
	}
	return c.String()
}

// err rewrites the URL inside a *url.Error, where net/http puts the full request URL.
func (r *redactor) err(err error) error {
	var ue *url.Error
	if err == nil || !errors.As(err, &ue) {
		return err
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil {
		return &url.Error{Op: ue.Op, URL: redacted, Err: ue.Err}
	}
	red := r.url(u)
	if red == ue.URL {
		return err
	}
	return &url.Error{Op: ue.Op, URL: red, Err: ue.Err}
}

func (r *redactor) request(req *http.Request) slog.Attr {
	return slog.Group("request",
		slog.String("method", req.Method),
		slog.String("url", r.url(req.URL)),
		slog.Any("headers", r.headers(req.Header)))
}

func (c *Client) attr() slog.Attr { return slog.String("upstream", c.cfg.Name) }

func errAttr(err error) slog.Attr {
	if err == nil {
		return slog.Attr{}
	}
	return slog.String("error", err.Error())
}

func attrInt(k string, v int) slog.Attr           { return slog.Int(k, v) }
func attrStr(k, v string) slog.Attr               { return slog.String(k, v) }
func attrDur(k string, v time.Duration) slog.Attr { return slog.Duration(k, v) }
