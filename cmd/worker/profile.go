package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/weir-go/weir/internal/httpwire"
	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/queue"
	"github.com/weir-go/weir/pkg/store"
)

// fileConfig is the worker's configuration file (JSON): the queue's bounds and one profile per
// upstream. Header values may name environment variables as ${NAME}: credentials stay in the
// worker's environment, never in the file or in Redis.
type fileConfig struct {
	Queue     queueConfig       `json:"queue"`
	Upstreams []upstreamProfile `json:"upstreams"`
}

type queueConfig struct {
	MaxLen      int      `json:"max_len"`
	MaxPayload  int      `json:"max_payload"`
	ResultTTL   duration `json:"result_ttl"`
	IdemTTL     duration `json:"idempotency_ttl"`
	MaxDead     int      `json:"max_dead"`
	MaxAttempts int      `json:"max_attempts"`
	// MaxResult bounds a stored result, headers and body together, in bytes. Default 1 MiB.
	MaxResult int `json:"max_result"`
}

type upstreamProfile struct {
	Name               string            `json:"name"`
	BaseURL            string            `json:"base_url"`
	Limits             []limitConfig     `json:"limits"`
	Breaker            breakerConfig     `json:"breaker"`
	Retry              retryConfig       `json:"retry"`
	Headers            map[string]string `json:"headers"`
	SecretHeaders      []string          `json:"secret_headers"`
	AllowSecretHeaders bool              `json:"allow_secret_headers"`
	Timeout            duration          `json:"timeout"`
	Redirects          redirectConfig    `json:"redirects"`
	// ResultHeaders lists the response headers a result keeps; none given means the default list.
	ResultHeaders []string `json:"result_headers"`
}

// redirectConfig is which redirects the upstream's jobs follow: by default those within the
// base URL's origin and path; "none" follows none, "origins" adds further origins (which never
// get the profile's headers).
type redirectConfig struct {
	None    bool     `json:"none"`
	Origins []string `json:"origins"`
}

type limitConfig struct {
	Requests int64    `json:"requests"`
	Per      duration `json:"per"`
	Burst    int64    `json:"burst"`
}

type breakerConfig struct {
	Disabled            bool     `json:"disabled"`
	ConsecutiveFailures int      `json:"consecutive_failures"`
	FailureRate         float64  `json:"failure_rate"`
	Window              duration `json:"window"`
	MinCalls            int      `json:"min_calls"`
	OpenTimeout         duration `json:"open_timeout"`
	MaxOpenTimeout      duration `json:"max_open_timeout"`
	HalfOpenProbes      int      `json:"half_open_probes"`
	SuccessThreshold    int      `json:"success_threshold"`
}

type retryConfig struct {
	MaxRetries    int      `json:"max_retries"`
	BaseDelay     duration `json:"base_delay"`
	MaxDelay      duration `json:"max_delay"`
	MaxRetryAfter duration `json:"max_retry_after"`
}

// duration reads "250ms", "30s", "1h" from JSON.
type duration time.Duration

func (d *duration) UnmarshalJSON(b []byte) error {
	var s string
	if err := json.Unmarshal(b, &s); err != nil {
		return fmt.Errorf("a duration is a string like \"30s\": %w", err)
	}
	v, err := time.ParseDuration(s)
	*d = duration(v)
	return err
}

// loadConfig reads and checks a configuration file; getenv resolves ${NAME} in header values.
func loadConfig(path string, getenv func(string) string) (*fileConfig, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	var c fileConfig
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	if len(c.Upstreams) == 0 {
		return nil, fmt.Errorf("%s: upstreams: at least one is required", path)
	}
	if err := c.policy().WithDefaults().Validate(); err != nil {
		return nil, fmt.Errorf("%s: queue: %w", path, err)
	}
	switch {
	case c.Queue.MaxResult != 0 && c.Queue.MaxResult < queue.MinMaxResult:
		return nil, fmt.Errorf("%s: queue.max_result: must be ≥ %d bytes (or 0 for the default), got %d", path, queue.MinMaxResult, c.Queue.MaxResult)
	case c.Queue.MaxAttempts < 0:
		return nil, fmt.Errorf("%s: queue.max_attempts: must be ≥ 0, got %d", path, c.Queue.MaxAttempts)
	}
	seen := map[string]bool{}
	for i := range c.Upstreams {
		u := &c.Upstreams[i]
		where := fmt.Sprintf("%s: upstreams[%d]", path, i)
		if u.Name == "" || strings.ContainsAny(u.Name, "{} \t\r\n") {
			return nil, fmt.Errorf("%s.name: required, without braces or spaces, got %q", where, u.Name)
		}
		if seen[u.Name] {
			return nil, fmt.Errorf("%s.name: %q appears twice", where, u.Name)
		}
		seen[u.Name] = true
		base, err := url.Parse(u.BaseURL)
		if err != nil || (base.Scheme != "http" && base.Scheme != "https") || base.Host == "" || base.User != nil {
			return nil, fmt.Errorf("%s.base_url: an http(s) URL with a host and no credentials, got %q", where, u.BaseURL)
		}
		if u.Redirects.None && len(u.Redirects.Origins) > 0 {
			return nil, fmt.Errorf("%s.redirects: none and origins exclude each other", where)
		}
		if err := (client.RedirectPolicy{Origins: u.Redirects.Origins}).Validate(); err != nil {
			return nil, fmt.Errorf("%s.redirects.origins: %w", where, err)
		}
		for j, h := range u.ResultHeaders {
			if !httpwire.ValidFieldName(strings.TrimSuffix(h, "*")) {
				return nil, fmt.Errorf("%s.result_headers[%d]: %q is not a header name (a trailing * matches a prefix)", where, j, h)
			}
		}
		for name, v := range u.Headers {
			if !httpwire.ValidFieldName(name) {
				return nil, fmt.Errorf("%s.headers: %q is not a header name", where, name)
			}
			var missing []string
			u.Headers[name] = os.Expand(v, func(k string) string {
				val := getenv(k)
				if val == "" {
					missing = append(missing, k)
				}
				return val
			})
			if len(missing) > 0 {
				return nil, fmt.Errorf("%s.headers.%s: environment variable %s is not set", where, name, strings.Join(missing, ", "))
			}
			if !httpwire.ValidFieldValue(u.Headers[name]) {
				return nil, fmt.Errorf("%s.headers.%s: the value holds a control character", where, name)
			}
		}
	}
	return &c, nil
}

func (c *fileConfig) policy() store.QueuePolicy {
	return store.QueuePolicy{MaxLen: c.Queue.MaxLen, MaxPayload: c.Queue.MaxPayload,
		ResultTTL: time.Duration(c.Queue.ResultTTL), IdempotencyTTL: time.Duration(c.Queue.IdemTTL), MaxDead: c.Queue.MaxDead}
}

// rules returns what each upstream's jobs may carry: the secret headers of its profile, and the
// headers the profile sets, which a job may not set instead.
func (c *fileConfig) rules() map[string]queue.Rules {
	out := map[string]queue.Rules{}
	for _, u := range c.Upstreams {
		out[u.Name] = queue.Rules{SecretHeaders: u.sensitiveHeaders(), AllowSecretHeaders: u.AllowSecretHeaders}
	}
	return out
}

// clientConfig turns a profile into the upstream client's configuration.
func (u upstreamProfile) clientConfig(st store.Store) client.Config {
	limits := make([]store.Limit, len(u.Limits))
	for i, l := range u.Limits {
		limits[i] = store.Limit{Requests: l.Requests, Per: time.Duration(l.Per), Burst: l.Burst}
	}
	b := u.Breaker
	return client.Config{
		Name:   u.Name,
		Store:  st,
		Limits: limits,
		Breaker: breaker.Config{Disabled: b.Disabled, BreakerPolicy: store.BreakerPolicy{
			ConsecutiveFailures: b.ConsecutiveFailures, FailureRate: b.FailureRate, Window: time.Duration(b.Window),
			MinCalls: b.MinCalls, OpenTimeout: time.Duration(b.OpenTimeout), MaxOpenTimeout: time.Duration(b.MaxOpenTimeout),
			HalfOpenProbes: b.HalfOpenProbes, SuccessThreshold: b.SuccessThreshold,
		}},
		Retry: client.RetryConfig{MaxRetries: u.Retry.MaxRetries, BaseDelay: time.Duration(u.Retry.BaseDelay),
			MaxDelay: time.Duration(u.Retry.MaxDelay), MaxRetryAfter: time.Duration(u.Retry.MaxRetryAfter)},
		AttemptTimeout:   time.Duration(u.Timeout),
		SensitiveHeaders: u.sensitiveHeaders(),
	}
}

// sensitiveHeaders are the profile's secret headers and every header it sets: whatever the
// profile adds may be a credential, and is redacted from logs and errors.
func (u upstreamProfile) sensitiveHeaders() []string {
	out := append([]string(nil), u.SecretHeaders...)
	for name := range u.Headers {
		out = append(out, name)
	}
	return out
}

// upstream is the queue's view of the profile, with its client.
func (u upstreamProfile) upstream(c *client.Client, rules queue.Rules, maxResult int) *queue.Upstream {
	base, _ := url.Parse(u.BaseURL) // checked by loadConfig
	return &queue.Upstream{Name: u.Name, BaseURL: base, Client: c, Header: u.header(), Rules: rules,
		Redirects: queue.Redirects{None: u.Redirects.None, Origins: u.Redirects.Origins},
		MaxResult: maxResult, ResultHeaders: u.ResultHeaders}
}

func (u upstreamProfile) header() http.Header {
	h := http.Header{}
	for k, v := range u.Headers {
		h.Set(k, v)
	}
	return h
}

var errNeedRedis = errors.New("this command needs --redis (or WEIR_REDIS_URL): an in-memory queue lives in one process only")
