package client

import (
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/weir-go/weir/internal/contract"
	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/clock"
	"github.com/weir-go/weir/pkg/store"
)

// Defaults of Config's zero fields.
const (
	DefaultName           = "default"
	DefaultMaxQueue       = 1000
	DefaultAttemptTimeout = 30 * time.Second
	DefaultMaxRetries     = 3
	DefaultBaseDelay      = 100 * time.Millisecond
	DefaultMaxDelay       = 10 * time.Second
	DefaultMultiplier     = 2.0
	DefaultMaxRetryAfter  = time.Minute
	DefaultMaxBodyBuffer  = 1 << 20
	// DefaultMaxResponseHeaderBytes bounds a response's headers on the default transport
	// (net/http's own bound is 10 MiB).
	DefaultMaxResponseHeaderBytes = 1 << 20
	// DefaultStoreRetryInterval is how long a store that failed is left alone before it is
	// asked again.
	DefaultStoreRetryInterval = 500 * time.Millisecond
)

// NoRetries, as Retry.MaxRetries, makes every call a single attempt.
const NoRetries = -1

// Config configures a Client. Every zero field means the default named in its comment; New
// validates the rest and names the field at fault.
type Config struct {
	// Name is the upstream's name: the key of its shared rate limit and breaker in the store, and
	// the upstream label of every metric. Default "default"; at most store.MaxNameLen bytes,
	// without braces or control characters.
	Name string
	// Store holds the shared limits and breaker. Nil means a fresh in-memory store owned by the
	// client (closed by Close).
	Store store.Store
	// OnStoreFailure is what a call does while the store cannot be reached: FailClosed (the
	// default), FailOpen or FallBackLocal.
	OnStoreFailure StoreFailure
	// LocalShare is, with FallBackLocal, the share of each limit (requests and burst, at least 1
	// each) that the local limiter allows: with 4 processes, 0.25 keeps the fleet within the
	// limit. Required in (0, 1] with FallBackLocal.
	LocalShare float64
	// StoreRetryInterval is how long the store is left alone after it failed before it is asked
	// again; meanwhile OnStoreFailure applies at once. Default 500 ms.
	StoreRetryInterval time.Duration
	// Limits are the key's rate limits, all enforced together (10/s AND 1000/h). None means no
	// rate limiting.
	Limits []store.Limit
	// MaxQueue bounds how many calls may wait for a token at once; one more fails at once with
	// ErrLineFull. Default 1000.
	MaxQueue int
	// Breaker is the circuit breaker's policy (see breaker.Config for its defaults). Its nil Clock
	// means the client's.
	Breaker breaker.Config
	// Retry is the retry policy.
	Retry RetryConfig
	// Adapt is how the client learns the server's limits from its responses (on by default; see
	// AdaptConfig).
	Adapt AdaptConfig
	// AttemptTimeout bounds each attempt, up to the response headers and then the body read.
	// Default 30 s; negative means none (the caller's context still applies).
	AttemptTimeout time.Duration
	// MaxBodyBuffer is how much of a request body without GetBody is kept to replay it on retry;
	// a larger body is sent once, without retries. Default 1 MiB.
	MaxBodyBuffer int64
	// Transport sends the requests. Nil means a clone of http.DefaultTransport with more idle
	// connections per host (a rate-limited client talks to few hosts, concurrently) and at most
	// DefaultMaxResponseHeaderBytes of response headers.
	Transport http.RoundTripper
	// CheckRedirect is the redirect policy of Do (RoundTrip follows none: the caller's
	// http.Client does). Nil means net/http's: up to 10 redirects to any host, with every header
	// but Authorization, Cookie and WWW-Authenticate sent along to another host, and those sent
	// to another port of the same host. A client that adds credentials should use
	// SameOriginRedirects or a RedirectPolicy.
	CheckRedirect func(req *http.Request, via []*http.Request) error
	// Registerer receives the client's Prometheus metrics. Nil means they are not exported (Stats
	// still counts).
	Registerer prometheus.Registerer
	// Logger receives the client's logs. Nil means slog.Default(). Sensitive headers are redacted.
	Logger *slog.Logger
	// SensitiveHeaders are redacted in logs and errors, in addition to every header whose name
	// contains auth, key, token, secret, passw, pwd, signature, cookie, session, credential, jwt,
	// bearer, csrf, xsrf or private, or is sig, code, pass, pw, hmac, otp, ticket, nonce or saml
	// (with or without "X-"). Query parameters named like that are redacted too, and a query
	// that does not parse is redacted whole.
	SensitiveHeaders []string
	// Clock is the time source. Nil means the system clock.
	Clock clock.Clock
	// Rand returns jitter draws in [0, 1). Nil means math/rand/v2's Float64.
	Rand func() float64
}

// RetryConfig is the retry policy: exponential backoff with full jitter by default.
type RetryConfig struct {
	// MaxRetries is how many times a failed attempt is retried: a call makes at most
	// 1 + MaxRetries attempts. Default 3; NoRetries (-1) disables retries.
	MaxRetries int
	// BaseDelay is the first backoff. Default 100 ms.
	BaseDelay time.Duration
	// MaxDelay caps one backoff. Default 10 s.
	MaxDelay time.Duration
	// Multiplier grows the backoff per attempt. Default 2; must be ≥ 1.
	Multiplier float64
	// NoJitter waits the full backoff instead of a uniform draw in [0, backoff).
	NoJitter bool
	// MaxRetryAfter caps a server's Retry-After. Default 1 minute.
	MaxRetryAfter time.Duration
	// RetryStatuses are the response codes that are retried. Default 408, 429, 500, 502, 503, 504.
	RetryStatuses []int
	// AllMethods retries every method. By default only idempotent methods are retried (GET, HEAD,
	// OPTIONS, TRACE, PUT, DELETE), or any request carrying an Idempotency-Key header.
	AllMethods bool
}

var defaultRetryStatuses = []int{408, 429, 500, 502, 503, 504}

// withDefaults fills the zero fields with their defaults.
func (cfg Config) withDefaults() Config {
	if cfg.Name == "" {
		cfg.Name = DefaultName
	}
	if cfg.MaxQueue == 0 {
		cfg.MaxQueue = DefaultMaxQueue
	}
	if cfg.AttemptTimeout == 0 {
		cfg.AttemptTimeout = DefaultAttemptTimeout
	}
	if cfg.MaxBodyBuffer == 0 {
		cfg.MaxBodyBuffer = DefaultMaxBodyBuffer
	}
	if cfg.StoreRetryInterval == 0 {
		cfg.StoreRetryInterval = DefaultStoreRetryInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.Default()
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.Real()
	}
	if cfg.Breaker.Clock == nil {
		cfg.Breaker.Clock = cfg.Clock
	}
	cfg.Retry = cfg.Retry.withDefaults()
	if !cfg.Adapt.Off {
		cfg.Adapt = cfg.Adapt.withDefaults()
	}
	return cfg
}

func (r RetryConfig) withDefaults() RetryConfig {
	if r.MaxRetries == 0 {
		r.MaxRetries = DefaultMaxRetries
	}
	if r.BaseDelay == 0 {
		r.BaseDelay = DefaultBaseDelay
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = DefaultMaxDelay
	}
	if r.Multiplier == 0 {
		r.Multiplier = DefaultMultiplier
	}
	if r.MaxRetryAfter == 0 {
		r.MaxRetryAfter = DefaultMaxRetryAfter
	}
	if r.RetryStatuses == nil {
		r.RetryStatuses = defaultRetryStatuses
	}
	return r
}

// validate checks a Config whose defaults are filled; an error names the field at fault.
func (cfg Config) validate() error {
	if err := contract.ValidateName("Config.Name", cfg.Name); err != nil {
		return fmt.Errorf("weir/client: %w", err)
	}
	for i, l := range cfg.Limits {
		if err := l.Validate(); err != nil {
			return fmt.Errorf("weir/client: Config.Limits[%d]: %w", i, err)
		}
	}
	switch {
	case cfg.MaxQueue < 0:
		return fieldError("MaxQueue", cfg.MaxQueue, "≥ 1")
	case cfg.OnStoreFailure < FailClosed || cfg.OnStoreFailure > FallBackLocal:
		return fieldError("OnStoreFailure", cfg.OnStoreFailure, "FailClosed, FailOpen or FallBackLocal")
	case cfg.OnStoreFailure == FallBackLocal && (math.IsNaN(cfg.LocalShare) || cfg.LocalShare <= 0 || cfg.LocalShare > 1):
		return fieldError("LocalShare", cfg.LocalShare, "in (0, 1] with FallBackLocal")
	case cfg.StoreRetryInterval < 0:
		return fieldError("StoreRetryInterval", cfg.StoreRetryInterval, "> 0")
	case cfg.MaxBodyBuffer < 0:
		return fieldError("MaxBodyBuffer", cfg.MaxBodyBuffer, "≥ 0")
	}
	if err := cfg.Retry.validate(); err != nil {
		return err
	}
	if !cfg.Adapt.Off {
		if err := cfg.Adapt.validate(); err != nil {
			return err
		}
	}
	p := cfg.Breaker.BreakerPolicy.WithDefaults()
	if err := p.Validate(); err != nil {
		return fmt.Errorf("weir/client: Config.Breaker: %w", err)
	}
	return nil
}

func (r RetryConfig) validate() error {
	switch {
	case r.MaxRetries < NoRetries:
		return fieldError("Retry.MaxRetries", r.MaxRetries, "≥ 0, or NoRetries")
	case r.BaseDelay < 0:
		return fieldError("Retry.BaseDelay", r.BaseDelay, "≥ 0")
	case r.MaxDelay < r.BaseDelay:
		return fieldError("Retry.MaxDelay", r.MaxDelay, fmt.Sprintf("≥ Retry.BaseDelay (%v)", r.BaseDelay))
	case math.IsNaN(r.Multiplier) || math.IsInf(r.Multiplier, 0) || r.Multiplier < 1:
		return fieldError("Retry.Multiplier", r.Multiplier, "a finite number ≥ 1")
	case r.MaxRetryAfter < 0:
		return fieldError("Retry.MaxRetryAfter", r.MaxRetryAfter, "≥ 0")
	}
	for _, code := range r.RetryStatuses {
		if code < 100 || code > 599 {
			return fieldError("Retry.RetryStatuses", code, "HTTP status codes (100–599)")
		}
	}
	return nil
}

// fieldError says that Config's field (a path such as "Retry.MaxDelay") is v, not what it must be.
func fieldError(field string, v any, want string) error {
	return fmt.Errorf("weir/client: Config.%s must be %s, got %v", field, want, v)
}
