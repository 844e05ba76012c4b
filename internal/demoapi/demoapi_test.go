package demoapi

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/weir-go/weir/pkg/clock"
)

// start is a fake clock's first reading, in the middle of a second so that windows are visible.
var start = time.Date(2026, time.January, 1, 0, 0, 0, 500*int(time.Millisecond), time.UTC)

func newServer(tb testing.TB, cfg Config) (*API, *httptest.Server) {
	tb.Helper()
	api, err := New(cfg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	srv := httptest.NewServer(api)
	tb.Cleanup(srv.Close)
	return api, srv
}

func get(tb testing.TB, url string) *http.Response {
	tb.Helper()
	resp, err := http.Get(url)
	if err != nil {
		tb.Fatalf("GET: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp
}

func TestLimitAnswers429WithRetryAfterUntilNextWindow(t *testing.T) {
	clk := clock.NewFake(start)
	api, srv := newServer(t, Config{Limit: 3, Clock: clk})

	for i := range 3 {
		if resp := get(t, srv.URL); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i+1, resp.StatusCode)
		}
	}
	resp := get(t, srv.URL)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("4th request: status %d, want 429", resp.StatusCode)
	}
	if got := resp.Header.Get("Retry-After"); got != "1" {
		t.Errorf("Retry-After = %q, want \"1\" (the window ends in 0.5 s)", got)
	}

	clk.Advance(500 * time.Millisecond) // the next window opens
	if resp := get(t, srv.URL); resp.StatusCode != http.StatusOK {
		t.Fatalf("first request of the next window: status %d, want 200", resp.StatusCode)
	}

	arrivals := api.Arrivals()
	want := []int{200, 200, 200, 429, 200}
	if len(arrivals) != len(want) {
		t.Fatalf("recorded %d arrivals, want %d", len(arrivals), len(want))
	}
	for i, a := range arrivals {
		if a.Status != want[i] {
			t.Errorf("arrival %d: status %d, want %d", i+1, a.Status, want[i])
		}
	}
	if !arrivals[0].At.Equal(start) || !arrivals[4].At.Equal(start.Add(500*time.Millisecond)) {
		t.Errorf("arrival times %v … %v, want the fake clock's readings", arrivals[0].At, arrivals[4].At)
	}
}

func TestWindowOfSeconds(t *testing.T) {
	clk := clock.NewFake(start) // half a second into a three-second window
	_, srv := newServer(t, Config{Limit: 2, Window: 3 * time.Second, Clock: clk})
	for i := range 2 {
		if resp := get(t, srv.URL); resp.StatusCode != http.StatusOK {
			t.Fatalf("request %d: status %d, want 200", i+1, resp.StatusCode)
		}
	}
	resp := get(t, srv.URL)
	if resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("3rd request: status %d, want 429", resp.StatusCode)
	}
	h := resp.Header
	if h.Get("RateLimit-Policy") != `"default";q=2;w=3` || h.Get("RateLimit") != `"default";r=0;t=3` || h.Get("Retry-After") != "3" {
		t.Errorf("policy %q, quota %q, Retry-After %q: want the 3 s window, 2.5 s of it left",
			h.Get("RateLimit-Policy"), h.Get("RateLimit"), h.Get("Retry-After"))
	}
	clk.Advance(time.Second) // still the same window
	if resp := get(t, srv.URL); resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "2" {
		t.Fatalf("1 s later: status %d, Retry-After %q; want 429 and 2", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	clk.Advance(1500 * time.Millisecond) // the next window opens
	if resp := get(t, srv.URL); resp.StatusCode != http.StatusOK || resp.Header.Get("RateLimit") != `"default";r=1;t=3` {
		t.Fatalf("next window: status %d, quota %q; want 200 and one left", resp.StatusCode, resp.Header.Get("RateLimit"))
	}
}

// statuses sends n sequential requests and returns what the API answered.
func statuses(tb testing.TB, cfg Config, n int) []int {
	tb.Helper()
	_, srv := newServer(tb, cfg)
	out := make([]int, n)
	for i := range out {
		out[i] = get(tb, srv.URL).StatusCode
	}
	return out
}

func TestFailuresFollowTheSeed(t *testing.T) {
	cfg := Config{Limit: 1000, FailureRate: 0.3, Seed: 7, Clock: clock.NewFake(start)}
	first := statuses(t, cfg, 60)
	cfg.Clock = clock.NewFake(start)
	second := statuses(t, cfg, 60)

	failures := 0
	for i := range first {
		if first[i] != second[i] {
			t.Fatalf("request %d: %d then %d with the same seed", i+1, first[i], second[i])
		}
		switch first[i] {
		case http.StatusServiceUnavailable:
			failures++
		case http.StatusOK:
		default:
			t.Fatalf("request %d: unexpected status %d", i+1, first[i])
		}
	}
	if failures < 5 || failures > 35 {
		t.Errorf("%d of 60 requests failed, want about 30%%", failures)
	}

	cfg.Seed, cfg.Clock = 8, clock.NewFake(start)
	if other := statuses(t, cfg, 60); slices.Equal(other, first) {
		t.Errorf("seeds 7 and 8 gave the same 60 fates")
	}
}

func TestSlowAnswerWaitsOnTheClock(t *testing.T) {
	clk := clock.NewFake(start)
	_, srv := newServer(t, Config{SlowRate: 1, SlowDelay: time.Second, Clock: clk})

	got := make(chan int, 1)
	go func() {
		resp, err := http.Get(srv.URL)
		if err != nil {
			got <- 0
			return
		}
		resp.Body.Close()
		got <- resp.StatusCode
	}()
	deadline := time.Now().Add(5 * time.Second)
	for clk.Timers() == 0 { // the handler has gone to sleep on the fake clock
		if time.Now().After(deadline) {
			t.Fatal("the slow answer never started waiting")
		}
		time.Sleep(time.Millisecond)
	}
	select {
	case s := <-got:
		t.Fatalf("answered %d before its delay passed", s)
	default:
	}
	clk.Advance(time.Second)
	if s := <-got; s != http.StatusOK {
		t.Fatalf("slow answer: status %d, want 200", s)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{Limit: -1},
		{Window: 1500 * time.Millisecond},
		{Window: -time.Second},
		{FailureRate: 1.5},
		{SlowRate: -0.1},
		{SlowDelay: -time.Second},
	} {
		_, err := New(cfg)
		if err == nil || !strings.HasPrefix(err.Error(), "weir/demoapi: Config.") {
			t.Errorf("New(%+v) = %v, want an error naming the field", cfg, err)
		}
	}
}

func TestServeOnLoopback(t *testing.T) {
	api, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	srv, err := Serve(api)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") {
		t.Errorf("URL = %q, want a loopback address", srv.URL)
	}
	resp, err := http.Get(srv.URL + "/items/1")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"n":1`) {
		t.Errorf("got %d %q, want 200 with the admission number", resp.StatusCode, body)
	}
	if err := srv.Close(); err != nil {
		t.Errorf("Close: %v", err)
	}
	if _, err := http.Get(srv.URL); err == nil {
		t.Error("the server still answers after Close")
	}
	if n := len(api.Arrivals()); n != 1 {
		t.Errorf("%d arrivals recorded, want 1", n)
	}
}
