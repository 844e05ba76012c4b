package client

import (
	"net/http"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestRetryAfterMillisecondsHeader(t *testing.T) {
	resp := &http.Response{Header: http.Header{"Retry-After-Ms": {"1500"}}}
	d, ok := retryAfter(resp, time.Now())
	assert.True(t, ok)
	assert.Equal(t, 1500*time.Millisecond, d)
}
