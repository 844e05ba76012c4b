package vendorapi

import (
	"net/http"
	"testing"
	"time"
)

func TestRetryAfterDateSaysNothingUntilItRejects(t *testing.T) {
	f := serve(t, RetryAfterDate, Config{Quota: 1, Window: 5 * time.Second}, epoch.Add(1500*time.Millisecond))
	r := f.get("/")
	if r.status != http.StatusOK {
		t.Fatalf("first: status %d, want 200", r.status)
	}
	onlyDefaultHeaders(t, "admitted", r.header)

	r = f.get("/")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("over quota: status %d, want 429", r.status)
	}
	onlyDefaultHeaders(t, "rejected", r.header, "Retry-After")
	wantHeaders(t, "rejected", r.header, map[string]string{"Retry-After": "Thu, 01 Jan 2026 00:00:05 GMT"})
	when, err := http.ParseTime(r.header.Get("Retry-After"))
	if err != nil || !when.Equal(epoch.Add(5*time.Second)) {
		t.Errorf("Retry-After parses as %v (%v), want the window's end %v", when, err, epoch.Add(5*time.Second))
	}
	if r.body != "" {
		t.Errorf("429 body = %q, want none", r.body)
	}
}

func TestBareSaysNothingEver(t *testing.T) {
	f := serve(t, Bare, Config{Quota: 1, Window: time.Second}, epoch.Add(300*time.Millisecond))
	r := f.get("/")
	if r.status != http.StatusOK {
		t.Fatalf("first: status %d, want 200", r.status)
	}
	onlyDefaultHeaders(t, "admitted", r.header)
	r = f.get("/")
	if r.status != http.StatusTooManyRequests || r.body != "" {
		t.Fatalf("over quota: %d %q, want 429 with no body", r.status, r.body)
	}
	onlyDefaultHeaders(t, "rejected", r.header)
	if ct := r.header.Get("Content-Type"); ct != "" {
		t.Errorf("429 Content-Type = %q, want none", ct)
	}
}
