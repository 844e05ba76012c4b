// Package queue is Weir's durable work queue on top of a store (store.Queues): producers enqueue
// HTTP requests for a named upstream and may wait for their results; workers drain the queue under
// leases, with heartbeats, fenced completion, retries through the delayed set and a dead-letter
// set.
//
// A Producer (NewProducer) checks each Request against its upstream's Rules, enqueues it and
// returns a Ticket, whose Wait polls for the job's Response; it is safe for concurrent use. A
// Worker (NewWorker) drains one queue, running a Handler on up to Concurrency jobs at once;
// HTTPHandler is the Handler that sends each job's request to its Upstream through that
// upstream's client. Collector exports the queues' shape and the workers' outcomes to Prometheus.
package queue

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
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
	Status int         `json:"status,omitempty"`
	Header http.Header `json:"header,omitempty"`
	Body   []byte      `json:"body,omitempty"`
	// Truncated says the result was cut to fit MaxResult: headers dropped or the body cut short.
	Truncated bool `json:"truncated,omitempty"`
	// Length is the body's length as the upstream announced it, when Truncated and known.
	Length   int64  `json:"length,omitempty"`
	Error    string `json:"error,omitempty"` // set for a dead job
	Attempts int    `json:"attempts"`
	Dead     bool   `json:"dead,omitempty"`
}

// Rules say what a job may carry. The zero value is the strictest: no credential headers.
type Rules struct {
	// SecretHeaders are header names that carry credentials, beyond Authorization and Cookie
	// (Proxy-* headers are refused outright). A job carrying any of them is rejected unless
	// AllowSecretHeaders: credentials come from the worker's profile, never from Redis.
	SecretHeaders []string
	// AllowSecretHeaders lets jobs carry credential headers (their values are then stored in the
	// queue: only for a profile that needs per-job credentials).
	AllowSecretHeaders bool
}

var builtinSecrets = []string{"Authorization", "Cookie"}

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

// Validate checks a request before it is enqueued. It refuses an unknown method; a path not
// written as sent (RFC 3986 bytes, valid escapes), or that names another host, or that decoded
// once or twice holds a dot or empty segment (or one of dots and spaces only), a backslash, a
// control, invalid UTF-8 or a Unicode look-alike of path syntax; a header net/http would refuse to
// send, or one that sets the host, the framing, hop-by-hop behaviour or a path or method override;
// and credential headers unless the rules allow them. The error wraps ErrRejected.
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
		if err := checkHeader(name, values); err != nil {
			return reject("%v", err)
		}
		if !r.AllowSecretHeaders && r.secret(name) {
			return reject("header %s carries credentials; they come from the worker's profile", name)
		}
	}
	return nil
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
