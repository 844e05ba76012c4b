package queue

import (
	"errors"
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
)

func TestRetryAfterAsksTheErrorForItsWait(t *testing.T) {
	open := &breaker.OpenError{Name: "api", State: store.Open, RetryAfter: 40 * time.Second}
	limited := &client.RateLimitError{Key: "api", RetryAfter: 3 * time.Second}
	for _, tc := range []struct {
		name string
		err  error
		want time.Duration // 0: err comes back as it was
	}{
		{"breaker refusal", open, 40 * time.Second},
		{"limiter refusal", limited, 3 * time.Second},
		{"server's Retry-After", &client.Error{Attempts: 2, StatusCode: 429, RetryAfter: 7 * time.Second}, 7 * time.Second},
		{"breaker refusal after a Retry-After", &client.Error{Attempts: 1, RetryAfter: 7 * time.Second, Err: open}, 40 * time.Second},
		{"limiter refusal after a Retry-After", &client.Error{Attempts: 1, RetryAfter: 7 * time.Second, Err: limited}, 3 * time.Second},
		{"wrapped", &url.Error{Op: "Get", URL: "https://api.example.com", Err: fmt.Errorf("call: %w", limited)}, 3 * time.Second},
		{"server said nothing", &client.Error{Attempts: 4, StatusCode: 503}, 0},
		{"no wait named", errors.New("connection reset"), 0},
	} {
		got := retryAfter(tc.err)
		var ra *RetryAfterError
		if tc.want == 0 {
			assert.Same(t, tc.err, got, tc.name)
			continue
		}
		if assert.ErrorAs(t, got, &ra, tc.name) {
			assert.Equal(t, tc.want, ra.After, tc.name)
			assert.Same(t, tc.err, ra.Err, tc.name)
		}
	}
}
