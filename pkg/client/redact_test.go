package client_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
)

func TestSecretsNeverReachLogsOrErrors(t *testing.T) {
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	var logs bytes.Buffer
	c := newClient(t, client.Config{
		Logger:           slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		SensitiveHeaders: []string{"X-Partner"},
		Retry:            client.RetryConfig{MaxRetries: 1, BaseDelay: 1},
	})
	send := func(url string) error {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		require.NoError(t, err)
		req.Header.Set("Authorization", "Bearer s3cret-bearer")
		req.Header.Set("Cookie", "session=s3cret-cookie")
		req.Header.Set("X-Api-Key", "s3cret-key")
		req.Header.Set("X-Partner", "s3cret-partner")
		req.Header.Set("Accept", "text/plain")
		resp, err := c.Do(context.Background(), req)
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	errStatus := send(u.URL + "/v1?access_token=s3cret-query&page=2")

	// A port nobody listens on: the transport's error quotes the URL.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dead := "http://user:s3cret-pass@" + l.Addr().String() + "/x?api_key=s3cret-query2"
	require.NoError(t, l.Close())
	errConn := send(dead)

	require.Error(t, errStatus)
	require.Error(t, errConn)
	for _, text := range []string{logs.String(), errStatus.Error(), errConn.Error()} {
		assert.NotContains(t, text, "s3cret")
	}
	assert.Contains(t, logs.String(), "REDACTED")
	assert.Contains(t, logs.String(), "text/plain", "other headers are logged as they are")
	assert.Contains(t, logs.String(), "page=2")
}

// Every form a credential's name takes, in headers and query parameters, is redacted; a query
// the parser cannot read whole is redacted whole.
func TestRedactionCoversEveryCredentialName(t *testing.T) {
	u := newUpstream(t, func(n int, w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusBadGateway) })
	var logs bytes.Buffer
	c := newClient(t, client.Config{
		Logger:  slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Retry:   client.RetryConfig{MaxRetries: 1, BaseDelay: 1},
		Breaker: breaker.Config{Disabled: true},
	})
	headerNames := []string{"X-Auth", "Authentication", "X-Api-Auth", "X-Session-Id", "X-Sig", "X-Signature",
		"X-Credentials", "X-Jwt", "X-Csrf-Token", "X-Private", "Proxy-Authorization", "X-Passwd"}
	queries := []string{"sig", "auth", "jwt", "pwd", "access_token", "code", "password", "client_secret", "X-Amz-Signature"}
	var errs []string
	for i, q := range queries {
		req, err := http.NewRequest(http.MethodGet, u.URL+"/v1?page=2&"+q+"=s3cret-q"+string(rune('a'+i)), nil)
		require.NoError(t, err)
		for _, h := range headerNames {
			req.Header.Set(h, "s3cret-h")
		}
		req.Header.Set("Accept", "text/plain")
		_, err = c.Do(context.Background(), req)
		require.Error(t, err)
		errs = append(errs, err.Error())
	}
	// A semicolon makes the parser drop the pair that holds it: nothing would be marked.
	req, err := http.NewRequest(http.MethodGet, u.URL+"/v1?a=1;api_key=s3cret-semi", nil)
	require.NoError(t, err)
	_, err = c.Do(context.Background(), req)
	require.Error(t, err)
	errs = append(errs, err.Error())

	for _, text := range append(errs, logs.String()) {
		assert.NotContains(t, text, "s3cret")
	}
	assert.Contains(t, logs.String(), "page=2", "other parameters are shown")
	assert.Contains(t, logs.String(), "text/plain", "other headers are shown")
	for _, ok := range []string{"zipcode", "country_code", "sort"} {
		req, err := http.NewRequest(http.MethodGet, u.URL+"/v1?"+ok+"=visible-"+ok, nil)
		require.NoError(t, err)
		_, err = c.Do(context.Background(), req)
		require.Error(t, err)
		assert.Contains(t, err.Error(), "visible-"+ok, "%s is no credential", ok)
	}
}
