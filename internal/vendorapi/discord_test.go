package vendorapi

import (
	"encoding/json"
	"net/http"
	"regexp"
	"testing"
	"time"
)

// discordRejection is the body of a Discord 429.
type discordRejection struct {
	Message    string  `json:"message"`
	RetryAfter float64 `json:"retry_after"`
	Global     bool    `json:"global"`
}

func decodeDiscord(tb testing.TB, body string) discordRejection {
	tb.Helper()
	var d discordRejection
	if err := json.Unmarshal([]byte(body), &d); err != nil {
		tb.Fatalf("429 body %q: %v", body, err)
	}
	if d.Message != "You are being rate limited." {
		tb.Errorf("429 message = %q", d.Message)
	}
	return d
}

func TestDiscordRouteBuckets(t *testing.T) {
	f := serve(t, Discord, Config{Quota: 2, Window: 10 * time.Second}, epoch)
	const route = "/api/v10/channels/1/messages"
	bucket := bucketID(route)
	if !regexp.MustCompile(`^[0-9a-f]{16}$`).MatchString(bucket) || bucket != bucketID(route) || bucket == bucketID("/api/v10/channels/2/messages") {
		t.Fatalf("bucket ids: %q for %s, %q for another route; want stable, distinct hex", bucket, route, bucketID("/api/v10/channels/2/messages"))
	}

	r := f.get(route)
	wantHeaders(t, "window start", r.header, map[string]string{
		"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1767225610.000",
		"X-RateLimit-Reset-After": "10.000", "X-RateLimit-Bucket": bucket,
		"X-RateLimit-Scope": "", "X-RateLimit-Global": "", "Retry-After": "",
	})

	f.at(2500 * time.Millisecond)
	r = f.get(route)
	wantHeaders(t, "mid-window", r.header, map[string]string{
		"X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1767225610.000", "X-RateLimit-Reset-After": "7.500",
	})

	f.at(2500*time.Millisecond + 250*time.Microsecond) // 7.49975 s left: rounds up to 7.500
	r = f.get(route)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("over the route quota: status %d, want 429", r.status)
	}
	wantHeaders(t, "route rejection", r.header, map[string]string{
		"X-RateLimit-Limit": "2", "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": "1767225610.000",
		"X-RateLimit-Reset-After": "7.500", "X-RateLimit-Bucket": bucket,
		"X-RateLimit-Scope": "user", "Retry-After": "8", "X-RateLimit-Global": "",
	})
	if d := decodeDiscord(t, r.body); d.RetryAfter != 7.5 || d.Global {
		t.Errorf("route rejection body = %+v, want retry_after 7.5, global false", d)
	}

	other := f.get("/api/v10/channels/2/messages")
	if other.status != http.StatusOK || other.header.Get("X-RateLimit-Remaining") != "1" {
		t.Errorf("another route: %d with remaining %q, want its own fresh bucket", other.status, other.header.Get("X-RateLimit-Remaining"))
	}

	f.at(10*time.Second + 1500*time.Millisecond)
	r = f.get(route)
	if r.status != http.StatusOK {
		t.Fatalf("next window: status %d, want 200", r.status)
	}
	wantHeaders(t, "next window", r.header, map[string]string{
		"X-RateLimit-Remaining": "1", "X-RateLimit-Reset": "1767225620.000", "X-RateLimit-Reset-After": "8.500",
	})
}

func TestDiscordGlobalLimitComesFirstAndSpendsNoRouteQuota(t *testing.T) {
	f := serve(t, Discord, Config{Quota: 2, Window: 10 * time.Second, GlobalQuota: 3, GlobalWindow: time.Second}, epoch.Add(250*time.Millisecond))
	for i, path := range []string{"/a", "/a", "/b"} {
		if r := f.get(path); r.status != http.StatusOK {
			t.Fatalf("request %d to %s: status %d, want 200", i+1, path, r.status)
		}
	}
	r := f.get("/b")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("over the global quota: status %d, want 429", r.status)
	}
	onlyDefaultHeaders(t, "global rejection", r.header, "X-Ratelimit-Global", "X-Ratelimit-Scope", "Retry-After")
	wantHeaders(t, "global rejection", r.header, map[string]string{
		"X-RateLimit-Global": "true", "X-RateLimit-Scope": "global", "Retry-After": "1",
	})
	if d := decodeDiscord(t, r.body); d.RetryAfter != 0.75 || !d.Global {
		t.Errorf("global rejection body = %+v, want retry_after 0.75, global true", d)
	}

	// The next global window: /b's bucket still has one request, the global rejection took none.
	f.at(time.Second)
	r = f.get("/b")
	if r.status != http.StatusOK || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Fatalf("/b in the next global window: %d with remaining %q, want 200 with 0", r.status, r.header.Get("X-RateLimit-Remaining"))
	}
	// A route rejection still counts against the global limit: the request was made.
	if r := f.get("/b"); r.status != http.StatusTooManyRequests || r.header.Get("X-RateLimit-Scope") != "user" {
		t.Fatalf("/b over its route quota: %d scope %q, want 429 scope user", r.status, r.header.Get("X-RateLimit-Scope"))
	}
	if r := f.get("/c"); r.status != http.StatusOK {
		t.Fatalf("/c: %d, want 200 (third request of the global window)", r.status)
	}
	if r := f.get("/c"); r.status != http.StatusTooManyRequests || r.header.Get("X-RateLimit-Global") != "true" {
		t.Fatalf("/c: %d global %q, want the fourth request of the global window rejected globally", r.status, r.header.Get("X-RateLimit-Global"))
	}

	arrivals := f.srv.Arrivals()
	if a := arrivals[3]; !a.Global || a.Window != 1767225600 || a.Status != http.StatusTooManyRequests {
		t.Errorf("global rejection recorded as %+v, want Global in global window 1767225600", a)
	}
	if a := arrivals[5]; a.Global || a.Window != 176722560 {
		t.Errorf("route rejection recorded as %+v, want not Global, route window 176722560", a)
	}
	rep := f.srv.Report()
	if rep.Rejected != 3 || rep.RejectionsByWindow[176722560] != 1 || rep.GlobalRejectionsByWindow[1767225600] != 1 || rep.GlobalRejectionsByWindow[1767225601] != 1 {
		t.Errorf("Report = %+v, want 3 rejections: route {176722560:1}, global {1767225600:1, 1767225601:1}", rep)
	}
	if rep.WorstAfterFirst != 1 {
		t.Errorf("WorstAfterFirst = %d, want 1 (the second global window's)", rep.WorstAfterFirst)
	}
}
