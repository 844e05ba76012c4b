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
