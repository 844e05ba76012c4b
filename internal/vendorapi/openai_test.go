package vendorapi

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"
)

type openaiError struct {
	Error struct {
		Message string `json:"message"`
		Type    string `json:"type"`
		Code    string `json:"code"`
	} `json:"error"`
}

func decodeOpenAI(tb testing.TB, body string) openaiError {
	tb.Helper()
	var e openaiError
	if err := json.Unmarshal([]byte(body), &e); err != nil {
		tb.Fatalf("error body %q: %v", body, err)
	}
	return e
}

func TestOpenAIRequestAndTokenQuotas(t *testing.T) {
	f := serve(t, OpenAI, Config{Quota: 3, TokenQuota: 100, Window: time.Minute}, epoch)
	headers := func(reqLeft, tokLeft, reset string) map[string]string {
		return map[string]string{
			"x-ratelimit-limit-requests": "3", "x-ratelimit-remaining-requests": reqLeft, "x-ratelimit-reset-requests": reset,
			"x-ratelimit-limit-tokens": "100", "x-ratelimit-remaining-tokens": tokLeft, "x-ratelimit-reset-tokens": reset,
		}
	}

	r := f.post("/v1/chat/completions", `{"model":"m","max_tokens":40}`)
	if r.status != http.StatusOK {
		t.Fatalf("first: status %d, want 200", r.status)
	}
	wantHeaders(t, "window start", r.header, headers("2", "60", "1m0s"))

	f.at(30500 * time.Millisecond)
	r = f.post("/v1/chat/completions", `{"max_tokens":50}`)
	wantHeaders(t, "mid-window", r.header, headers("1", "10", "29.5s"))

	r = f.post("/v1/chat/completions", `{"max_tokens":20}`)
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("over the token quota: status %d, want 429", r.status)
	}
	wantHeaders(t, "token rejection", r.header, headers("1", "10", "29.5s"))
	if e := decodeOpenAI(t, r.body); e.Error.Type != "tokens" || e.Error.Code != "rate_limit_exceeded" || e.Error.Message != "Rate limit reached for tokens" {
		t.Errorf("token rejection body = %+v", e)
	}

	f.at(time.Minute - 120*time.Millisecond)
	r = f.get("/v1/models") // no body: costs 1
	if r.status != http.StatusOK {
		t.Fatalf("GET without a body: status %d, want 200", r.status)
	}
	wantHeaders(t, "near the end", r.header, headers("0", "9", "120ms"))

	f.at(time.Minute - 100*time.Microsecond) // rounds up to the millisecond
	r = f.get("/v1/models")
	if r.status != http.StatusTooManyRequests {
		t.Fatalf("over the request quota: status %d, want 429", r.status)
	}
	wantHeaders(t, "request rejection", r.header, headers("0", "9", "1ms"))
	if e := decodeOpenAI(t, r.body); e.Error.Type != "requests" || e.Error.Code != "rate_limit_exceeded" || e.Error.Message != "Rate limit reached for requests" {
		t.Errorf("request rejection body = %+v", e)
	}

	r = f.post("/v1/chat/completions", `{"max_tokens":101}`)
	if r.status != http.StatusBadRequest {
		t.Fatalf("cost above the token quota: status %d, want 400", r.status)
	}
	wantHeaders(t, "impossible cost", r.header, headers("0", "9", "1ms"))
	if e := decodeOpenAI(t, r.body); e.Error.Type != "invalid_request_error" || !strings.Contains(e.Error.Message, "100") {
		t.Errorf("400 body = %+v", e)
	}

	f.at(time.Minute)
	r = f.post("/v1/chat/completions", `{"max_tokens":100}`)
	if r.status != http.StatusOK {
		t.Fatalf("next window, the whole token quota: status %d, want 200", r.status)
	}
	wantHeaders(t, "next window", r.header, headers("2", "0", "1m0s"))

	rep := f.srv.Report()
	if rep.Served != 4 || rep.Rejected != 2 || rep.Invalid != 1 {
		t.Errorf("Report: served %d rejected %d invalid %d, want 4, 2, 1", rep.Served, rep.Rejected, rep.Invalid)
	}
}

func TestOpenAITokenCostFromMaxTokens(t *testing.T) {
	f := serve(t, OpenAI, Config{Quota: 100, TokenQuota: 1000, Window: time.Second}, epoch)
	bodies := []struct {
		body string
		cost int64
	}{
		{`{"max_tokens":7}`, 7},
		{`{"max_tokens":0}`, 0},
		{`{"messages":[],"max_tokens":250,"stream":false}`, 250},
		{``, 1},
		{`not json`, 1},
		{`{"model":"m"}`, 1},
		{`{"max_tokens":null}`, 1},
		{`{"max_tokens":"12"}`, 1},
		{`{"max_tokens":2.5}`, 1},
		{`{"max_tokens":1e2}`, 1},
		{`{"max_tokens":-3}`, 1},
		{`{"max_tokens":99999999999999999999}`, 1},
		{`[1,2]`, 1},
	}
	for _, b := range bodies {
		f.post("/v1/completions", b.body)
	}
	got := f.srv.Arrivals()
	for i, b := range bodies {
		if got[i].Cost != b.cost {
			t.Errorf("body %q: cost %d, want %d", b.body, got[i].Cost, b.cost)
		}
	}
}
