package vendorapi

import (
	"net/http"
	"testing"
	"time"
)

func TestRedditResetIsADelayRoundedUp(t *testing.T) {
	f := serve(t, Reddit, Config{Quota: 3, Window: 10 * time.Second}, epoch)
	steps := []struct {
		at                     time.Duration
		status                 int
		used, remaining, reset string
	}{
		{0, http.StatusOK, "1", "2.0", "10"},
		{4500 * time.Millisecond, http.StatusOK, "2", "1.0", "6"}, // 5.5 s left
		{9 * time.Second, http.StatusOK, "3", "0.0", "1"},
		{10*time.Second - time.Millisecond, http.StatusTooManyRequests, "3", "0.0", "1"},
		{10 * time.Second, http.StatusOK, "1", "2.0", "10"},
	}
	for i, st := range steps {
		f.at(st.at)
		r := f.get("/api/v1/me")
		if r.status != st.status {
			t.Fatalf("step %d at +%v: status %d, want %d", i, st.at, r.status, st.status)
		}
		wantHeaders(t, "at +"+st.at.String(), r.header, map[string]string{
			"X-Ratelimit-Used": st.used, "X-Ratelimit-Remaining": st.remaining, "X-Ratelimit-Reset": st.reset,
		})
		if st.status == http.StatusTooManyRequests && r.body != redditBody {
			t.Errorf("429 body = %q, want %q", r.body, redditBody)
		}
	}
}
