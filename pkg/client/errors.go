package client

import (
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"
)

var (
	// ErrClosed is returned by calls on a closed client, and by calls that Close cut short.
	ErrClosed = errors.New("weir/client: client closed")
	// ErrLineFull means MaxQueue calls were already waiting for a token.
	ErrLineFull = errors.New("weir/client: waiting line full")
	// ErrRateLimited means the wait for a token could not fit in the context's deadline.
	ErrRateLimited = errors.New("weir/client: rate limited")
)

// RateLimitError is the error of a call that could not get a token in time. It matches
// ErrRateLimited.
type RateLimitError struct {
	Key        string
	RetryAfter time.Duration // the wait the limiter asked for
}

func (e *RateLimitError) Error() string {
	return fmt.Sprintf("weir/client: rate limited on %q: next token in %v, after the context deadline", e.Key, e.RetryAfter)
}

// Is makes errors.Is(err, ErrRateLimited) true.
func (e *RateLimitError) Is(target error) bool { return target == ErrRateLimited }

// RetryDelay returns RetryAfter: the wait the limiter asked for.
func (e *RateLimitError) RetryDelay() time.Duration { return e.RetryAfter }

// Error is the error of a call that failed after its attempts: it carries the last response's
// status and the last cause.
type Error struct {
	Method   string
	URL      string // with credentials and sensitive query values redacted
	Attempts int
	// StatusCode is the last response's status, 0 when the last attempt got no response.
	StatusCode int
	// RetryAfter is what the server last asked for, 0 when it did not say.
	RetryAfter time.Duration
	// Err is the last cause: a transport error, a breaker or limiter refusal, or an error
	// describing the last status.
	Err error
}

func (e *Error) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "weir/client: %s %s: %d attempt", e.Method, e.URL, e.Attempts)
	if e.Attempts != 1 {
		b.WriteByte('s')
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, ", last status %d", e.StatusCode)
	}
	if e.Err != nil {
		b.WriteString(": ")
		b.WriteString(e.Err.Error())
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// RetryDelay returns the wait of the breaker or limiter that refused the last attempt, else RetryAfter.
func (e *Error) RetryDelay() time.Duration {
	var refusal interface{ RetryDelay() time.Duration }
	if errors.As(e.Err, &refusal) {
		return refusal.RetryDelay()
	}
	return e.RetryAfter
}

// StatusError describes a response that counted as a failure.
type StatusError struct {
	StatusCode int
	Status     string // as the server sent it
}

// Error names the status by its code and standard text only: the reason phrase is the server's
// to fill, and this text reaches logs and stored job errors.
func (e *StatusError) Error() string {
	if text := http.StatusText(e.StatusCode); text != "" {
		return fmt.Sprintf("server answered %d %s", e.StatusCode, text)
	}
	return fmt.Sprintf("server answered %d", e.StatusCode)
}
