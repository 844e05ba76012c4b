package queue_test

import (
	"errors"
	"net/http"
	"net/url"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/weir-go/weir/pkg/queue"
)

func TestRejectedRequests(t *testing.T) {
	rules := queue.Rules{SecretHeaders: []string{"X-Api-Key"}}
	ok := queue.Request{Upstream: "api", Method: http.MethodGet, Path: "/v1/items?page=2"}
	with := func(f func(*queue.Request)) queue.Request {
		r := ok
		r.Header = http.Header{}
		f(&r)
		return r
	}
	assert.NoError(t, rules.Validate(ok))
	assert.NoError(t, rules.Validate(with(func(r *queue.Request) { r.Path = "/v1/a%20b/c" })))
	assert.NoError(t, rules.Validate(with(func(r *queue.Request) { r.Header.Set("Accept", "application/json") })))

	for name, req := range map[string]queue.Request{
		"no upstream":             with(func(r *queue.Request) { r.Upstream = "" }),
		"unknown method":          with(func(r *queue.Request) { r.Method = "CONNECT" }),
		"absolute URL":            with(func(r *queue.Request) { r.Path = "https://evil.example/x" }),
		"scheme-relative URL":     with(func(r *queue.Request) { r.Path = "//evil.example/x" }),
		"relative without slash":  with(func(r *queue.Request) { r.Path = "v1/items" }),
		"empty path":              with(func(r *queue.Request) { r.Path = "" }),
		"dot-dot":                 with(func(r *queue.Request) { r.Path = "/v1/../admin" }),
		"encoded dot-dot":         with(func(r *queue.Request) { r.Path = "/v1/%2e%2e/admin" }),
		"mixed encoded dot-dot":   with(func(r *queue.Request) { r.Path = "/v1/.%2E/admin" }),
		"backslash":               with(func(r *queue.Request) { r.Path = "/v1\\..\\admin" }),
		"encoded backslash":       with(func(r *queue.Request) { r.Path = "/v1/%5c../admin" }),
		"CR LF in path":           with(func(r *queue.Request) { r.Path = "/v1\r\nHost: evil" }),
		"encoded CR LF in path":   with(func(r *queue.Request) { r.Path = "/v1/%0d%0aHost:%20evil" }),
		"fragment":                with(func(r *queue.Request) { r.Path = "/v1#x" }),
		"CR LF in header value":   with(func(r *queue.Request) { r.Header["X-Note"] = []string{"a\r\nInjected: 1"} }),
		"LF in header value":      with(func(r *queue.Request) { r.Header["X-Note"] = []string{"a\nb"} }),
		"CR LF in header name":    with(func(r *queue.Request) { r.Header["X-Note\r\nInjected"] = []string{"1"} }),
		"space in header name":    with(func(r *queue.Request) { r.Header["X Note"] = []string{"1"} }),
		"Authorization":           with(func(r *queue.Request) { r.Header.Set("Authorization", "Bearer t") }),
		"Cookie":                  with(func(r *queue.Request) { r.Header.Set("Cookie", "s=1") }),
		"Proxy-Authorization":     with(func(r *queue.Request) { r.Header.Set("Proxy-Authorization", "Basic x") }),
		"configured secret":       with(func(r *queue.Request) { r.Header.Set("X-Api-Key", "k") }),
		"configured secret, case": with(func(r *queue.Request) { r.Header["x-api-key"] = []string{"k"} }),
	} {
		err := rules.Validate(req)
		assert.Error(t, err, name)
		assert.True(t, errors.Is(err, queue.ErrRejected), "%s: %v", name, err)
	}

	allowed := queue.Rules{AllowSecretHeaders: true}
	assert.NoError(t, allowed.Validate(with(func(r *queue.Request) { r.Header.Set("Authorization", "Bearer t") })),
		"a profile may allow per-job credentials")
}

func TestJoinURLKeepsEscapes(t *testing.T) {
	base, _ := url.Parse("https://api.example/base/")
	assert.Equal(t, "https://api.example/base/v1/a%20b/c%2Fd?q=1%202", queue.JoinURL(base, "/v1/a%20b/c%2Fd?q=1%202").String())
	assert.Equal(t, "https://api.example/base/v1", queue.JoinURL(base, "/v1").String())
}
