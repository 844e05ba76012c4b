package vendorapi

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"
)

func TestGitHubHeadersAtWindowStartMiddleAndEnd(t *testing.T) {
	f := serve(t, GitHub, Config{Quota: 3, Window: time.Minute}, epoch)
	const reset = "1767225660" // the window's end, in epoch seconds
	steps := []struct {
		at                     time.Duration
		status                 int
		remaining, used, reset string
	}{
		{0, http.StatusOK, "2", "1", reset},
		{30 * time.Second, http.StatusOK, "1", "2", reset},
		{time.Minute - time.Millisecond, http.StatusOK, "0", "3", reset},
		{time.Minute - time.Nanosecond, http.StatusForbidden, "0", "3", reset},
		{time.Minute, http.StatusOK, "2", "1", "1767225720"},
	}
	for i, st := range steps {
		f.at(st.at)
		r := f.get("/repos/o/r")
		if r.status != st.status {
			t.Fatalf("step %d at +%v: status %d, want %d", i, st.at, r.status, st.status)
		}
		wantHeaders(t, "step "+st.at.String(), r.header, map[string]string{
			"x-ratelimit-limit": "3", "x-ratelimit-remaining": st.remaining, "x-ratelimit-used": st.used,
			"x-ratelimit-reset": st.reset, "x-ratelimit-resource": "core",
		})
		if st.status == http.StatusForbidden {
			var body struct {
				Message          string `json:"message"`
				DocumentationURL string `json:"documentation_url"`
			}
			if err := json.Unmarshal([]byte(r.body), &body); err != nil {
				t.Fatalf("403 body %q: %v", r.body, err)
			}
			if body.Message != "API rate limit exceeded for user ID 1." || body.DocumentationURL == "" {
				t.Errorf("403 body = %+v, want GitHub's message and a documentation_url", body)
			}
		}
	}
}

func TestXHeadersAndRejection(t *testing.T) {
	f := serve(t, X, Config{Quota: 2, Window: 15 * time.Minute}, epoch.Add(7*time.Minute))
	for i, want := range []string{"1", "0"} {
		r := f.get("/2/tweets")
		if r.status != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i+1, r.status)
		}
		wantHeaders(t, "admitted", r.header, map[string]string{
			"x-rate-limit-limit": "2", "x-rate-limit-remaining": want, "x-rate-limit-reset": "1767226500",
			"x-ratelimit-limit": "", "x-ratelimit-reset": "",
		})
	}
	r := f.get("/2/tweets")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("over quota: status %d, want 429", r.status)
	}
	wantHeaders(t, "rejected", r.header, map[string]string{
		"x-rate-limit-limit": "2", "x-rate-limit-remaining": "0", "x-rate-limit-reset": "1767226500",
	})
	var body struct {
		Status int `json:"status"`
	}
	if err := json.Unmarshal([]byte(r.body), &body); err != nil || body.Status != http.StatusTooManyRequests {
		t.Errorf("429 body %q, want JSON with status 429 (err %v)", r.body, err)
	}
}
