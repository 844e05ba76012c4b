// Package queue is Weir's durable work queue on top of a store: producers enqueue HTTP requests
// for a named upstream and may wait for their results; workers drain the queue under leases, with
// heartbeats, fenced completion, retries through the delayed set and a dead-letter set.
package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"path"
	"strings"
)

// ErrRejected is wrapped by every error about a job that may not be enqueued.
var ErrRejected = errors.New("weir/queue: job rejected")

// Request is what a job asks a worker to send: a method and a path relative to the upstream's
// base URL, with headers and a body. It never names a host: the worker's profile of the upstream
// does, and adds the credentials from the worker's own environment.
type Request struct {
	Upstream string      `json:"upstream"`
	Method   string      `json:"method"`
	Path     string      `json:"path"` // relative: "/v1/items?page=2"
	Header   http.Header `json:"header,omitempty"`
	Body     []byte      `json:"body,omitempty"`
}

// Response is a job's result: what the upstream answered, or why the job failed for good.
type Response struct {
	Status   int         `json:"status,omitempty"`
	Header   http.Header `json:"header,omitempty"`
	Body     []byte      `json:"body,omitempty"`
	Error    string      `json:"error,omitempty"` // set for a dead job
	Attempts int         `json:"attempts"`
	Dead     bool        `json:"dead,omitempty"`
}

// Rules say what a job may carry. The zero value is the strictest: no credential headers.
type Rules struct {
	// SecretHeaders are header names that carry credentials, beyond Authorization,
	// Proxy-Authorization and Cookie. A job carrying any of them is rejected unless
	// AllowSecretHeaders: credentials come from the worker's profile, never from Redis.
	SecretHeaders []string
	// AllowSecretHeaders lets jobs carry credential headers (their values are then stored in the
	// queue: only for a profile that needs per-job credentials).
	AllowSecretHeaders bool
}

var builtinSecrets = []string{"Authorization", "Proxy-Authorization", "Cookie"}

func (r Rules) secret(name string) bool {
	for _, s := range builtinSecrets {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	for _, s := range r.SecretHeaders {
		if strings.EqualFold(s, name) {
			return true
		}
	}
	return false
}

// Validate checks a request before it is enqueued: a known method, a relative path that cannot
// climb out of the base URL or name another host, header names and values without CR, LF or
// NUL, and no credential headers unless the rules allow them. The error wraps ErrRejected.
func (r Rules) Validate(req Request) error {
	reject := func(format string, args ...any) error {
		return fmt.Errorf("%w: %s", ErrRejected, fmt.Sprintf(format, args...))
	}
	if req.Upstream == "" {
		return reject("no upstream named")
	}
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete, http.MethodOptions:
	default:
		return reject("method %q is not one of GET, HEAD, POST, PUT, PATCH, DELETE, OPTIONS", req.Method)
	}
	if err := checkPath(req.Path); err != nil {
		return reject("path %q: %v", req.Path, err)
	}
	for name, values := range req.Header {
		if !validHeaderName(name) {
			return reject("header name %q is not a valid token", name)
		}
		for _, v := range values {
			if strings.ContainsAny(v, "\r\n\x00") {
				return reject("header %s: value holds CR, LF or NUL", name)
			}
		}
		if !r.AllowSecretHeaders && r.secret(name) {
			return reject("header %s carries credentials; they come from the worker's profile", name)
		}
	}
	return nil
}

// checkPath accepts only a path (and query) relative to the upstream's base URL.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty")
	case !strings.HasPrefix(p, "/"):
		return errors.New("must start with /")
	case strings.HasPrefix(p, "//"):
		return errors.New("// would name another host")
	case strings.ContainsAny(p, "\r\n\x00\\#") || strings.ContainsFunc(p, func(c rune) bool { return c < 0x20 || c == 0x7f }):
		return errors.New("holds a control character, a backslash or a fragment")
	}
	u, err := url.Parse(p)
	if err != nil {
		return err
	}
	if u.Scheme != "" || u.Host != "" || u.User != nil || u.Opaque != "" {
		return errors.New("must not name a scheme, host or user")
	}
	// Reject traversal however it is spelled: literally, percent-encoded, or mixed.
	raw := u.EscapedPath()
	decoded, err := url.PathUnescape(raw)
	if err != nil {
		return err
	}
	for _, seg := range strings.Split(decoded, "/") {
		if seg == ".." || seg == "." {
			return errors.New("must not hold . or .. segments")
		}
	}
	if strings.Contains(decoded, "\\") || strings.ContainsAny(decoded, "\r\n\x00") {
		return errors.New("decodes to a backslash or a control character")
	}
	if path.Clean(decoded) != decoded && decoded != "/" && !strings.HasSuffix(decoded, "/") {
		return errors.New("is not in clean form")
	}
	return nil
}

func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for _, c := range name {
		if c > 0x7e || c <= 0x20 || strings.ContainsRune("\"(),/:;<=>?@[\\]{}", c) {
			return false
		}
	}
	return true
}

// encode and decode are the job payload's form in the store.
func encode(req Request) ([]byte, error) { return json.Marshal(req) }

func decode(payload []byte) (Request, error) {
	var req Request
	err := json.Unmarshal(payload, &req)
	return req, err
}

// DecodeRequest reads a stored job's payload.
func DecodeRequest(payload []byte) (Request, error) { return decode(payload) }
