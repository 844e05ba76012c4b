package headers

import (
	"net/http"
	"slices"
	"testing"
	"time"
)

// TestParseVendors feeds Parse the headers each API in docs/headers.md sends.
func TestParseVendors(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		vendor string
		kv     []string
		want   Signal
	}{
		{"GitHub REST, primary limit spent (403)",
			[]string{"X-GitHub-Request-Id", "CAFE:1", "x-ratelimit-limit", "5000", "x-ratelimit-remaining", "0", "x-ratelimit-used", "5000",
				"x-ratelimit-reset", epochIn(42 * time.Minute), "x-ratelimit-resource", "core"},
			Signal{Source: SourceGitHub, RetryAfter: -1, Quotas: []Quota{quota("core", "requests", 5000, 0, 42*time.Minute, 0)}}},
		{"GitHub REST, secondary limit (429 with retry-after)",
			[]string{"retry-after", "60", "x-ratelimit-limit", "5000", "x-ratelimit-remaining", "4000", "x-ratelimit-used", "1000",
				"x-ratelimit-reset", epochIn(time.Hour), "x-ratelimit-resource", "core"},
			Signal{Source: SourceGitHub, RetryAfter: 60 * s, Quotas: []Quota{quota("core", "requests", 5000, 4000, time.Hour, 0)}}},
		{"GitHub GraphQL",
			[]string{"x-ratelimit-limit", "5000", "x-ratelimit-remaining", "4990", "x-ratelimit-used", "10",
				"x-ratelimit-reset", epochIn(time.Minute), "x-ratelimit-resource", "graphql"},
			Signal{Source: SourceGitHub, RetryAfter: -1, Quotas: []Quota{quota("graphql", "points", 5000, 4990, time.Minute, 0)}}},
		{"Discord, per-route bucket (429)",
			[]string{"Retry-After", "1", "X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", epochIn(s) + ".470",
				"X-RateLimit-Reset-After", "1.470", "X-RateLimit-Bucket", "abcd1234", "X-RateLimit-Scope", "user"},
			Signal{Source: SourceDiscord, RetryAfter: s, Quotas: []Quota{quota("abcd1234", "requests", 5, 0, 1470*time.Millisecond, 0)}}},
		{"Discord, global (429 with only Global and Retry-After)",
			[]string{"Retry-After", "65", "X-RateLimit-Global", "true", "Content-Type", "application/json"},
			Signal{Source: SourceDiscord, RetryAfter: 65 * s, Global: true}},
		{"Discord, global scope",
			[]string{"Retry-After", "2", "X-RateLimit-Scope", "global"},
			Signal{Source: SourceDiscord, RetryAfter: 2 * s, Global: true}},
		{"X/Twitter",
			[]string{"x-rate-limit-limit", "900", "x-rate-limit-remaining", "0", "x-rate-limit-reset", epochIn(15 * time.Minute)},
			Signal{Source: SourceGitHub, RetryAfter: -1, Quotas: []Quota{quota("", "requests", 900, 0, 15*time.Minute, 0)}}},
		{"Reddit",
			[]string{"x-ratelimit-used", "600", "x-ratelimit-remaining", "0.0", "x-ratelimit-reset", "123"},
			Signal{Source: SourceReddit, RetryAfter: -1, Quotas: []Quota{quota("", "requests", 600, 0, 123*s, 0)}}},
		{"OpenAI (429 with retry-after-ms)",
			[]string{"retry-after-ms", "1500", "x-ratelimit-limit-requests", "500", "x-ratelimit-limit-tokens", "30000",
				"x-ratelimit-remaining-requests", "499", "x-ratelimit-remaining-tokens", "0",
				"x-ratelimit-reset-requests", "120ms", "x-ratelimit-reset-tokens", "1m30s"},
			Signal{Source: SourceOpenAI, RetryAfter: 1500 * time.Millisecond, Quotas: []Quota{
				quota("requests", "requests", 500, 499, 120*time.Millisecond, 0), quota("tokens", "tokens", 30000, 0, 90*s, 0)}}},
		{"Anthropic (429)",
			[]string{"retry-after", "30", "anthropic-ratelimit-requests-limit", "50", "anthropic-ratelimit-requests-remaining", "50",
				"anthropic-ratelimit-requests-reset", "2026-03-14T12:00:00Z",
				"anthropic-ratelimit-input-tokens-limit", "30000", "anthropic-ratelimit-input-tokens-remaining", "0",
				"anthropic-ratelimit-input-tokens-reset", "2026-03-14T12:00:29.5Z",
				"anthropic-ratelimit-output-tokens-limit", "8000", "anthropic-ratelimit-output-tokens-remaining", "8000",
				"anthropic-ratelimit-output-tokens-reset", "2026-03-14T11:59:59Z"},
			Signal{Source: SourceAnthropic, RetryAfter: 30 * s, Quotas: []Quota{
				quota("requests", "requests", 50, 50, 0, 0),
				quota("input-tokens", "input-tokens", 30000, 0, 29500*time.Millisecond, 0),
				quota("output-tokens", "output-tokens", 8000, 8000, 0, 0)}}},
		{"Shopify REST (429)",
			[]string{"X-Shopify-Shop-Api-Call-Limit", "40/40", "Retry-After", "2.0"},
			Signal{Source: SourceShopify, RetryAfter: 2 * s, Quotas: []Quota{quota("", "requests", 40, 0, -1, 0)}}},
		{"Shopify REST (200)",
			[]string{"X-Shopify-Shop-Api-Call-Limit", "32/40"},
			Signal{Source: SourceShopify, RetryAfter: -1, Quotas: []Quota{quota("", "requests", 40, 8, -1, 0)}}},
		{"Cloudflare (429)",
			[]string{"Retry-After", "30", "Ratelimit", `"default";r=0;t=30`, "Ratelimit-Policy", `"default";q=100;w=60`},
			Signal{Source: SourceIETF, RetryAfter: 30 * s, Quotas: []Quota{quota("default", "requests", 100, 0, 30*s, 60*s)}}},
		{"IETF current, fields over several lines",
			[]string{"RateLimit-Policy", `"burst";q=100;w=60`, "RateLimit-Policy", `"daily";q=1000;w=86400`, "RateLimit-Policy", "",
				"RateLimit", `"daily";r=999;t=3600`, "RateLimit", `"burst";r=99;t=1`},
			Signal{Source: SourceIETF, RetryAfter: -1, Quotas: []Quota{
				quota("burst", "requests", 100, 99, s, 60*s), quota("daily", "requests", 1000, 999, time.Hour, 86400*s)}}},
		{"IETF legacy (express-rate-limit draft-6)",
			[]string{"RateLimit-Policy", "100;w=900", "RateLimit-Limit", "100", "RateLimit-Remaining", "0", "RateLimit-Reset", "840"},
			Signal{Source: SourceIETFLegacy, RetryAfter: -1, Quotas: []Quota{quota("", "requests", 100, 0, 840*s, 900*s)}}},
		{"IETF draft-07 (express-rate-limit draft-7)",
			[]string{"RateLimit-Policy", "100;w=900", "RateLimit", "limit=100, remaining=25, reset=840"},
			Signal{Source: SourceIETFLegacy, RetryAfter: -1, Quotas: []Quota{quota("", "requests", 100, 25, 840*s, 900*s)}}},
		{"Slack (429)",
			[]string{"Retry-After", "30"},
			Signal{Source: SourceRetryAfter, RetryAfter: 30 * s}},
		{"Retry-After as a date",
			[]string{"Retry-After", "Sat, 14 Mar 2026 12:01:00 GMT"},
			Signal{Source: SourceRetryAfter, RetryAfter: time.Minute}},
		{"unusable Retry-After falls back to retry-after-ms",
			[]string{"Retry-After", "later", "Retry-After-Ms", "250"},
			Signal{Source: SourceRetryAfter, RetryAfter: 250 * time.Millisecond}},
		{"Google APIs (the delay is in the body)",
			[]string{"Content-Type", "application/json"},
			Signal{RetryAfter: -1}},
		{"Stripe (Stripe-Should-Retry is not a limit)",
			[]string{"Stripe-Should-Retry", "true"},
			Signal{RetryAfter: -1}},
		{"IETF wins over the x-ratelimit family",
			[]string{"RateLimit", `"default";r=5;t=1`, "X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "0"},
			Signal{Source: SourceIETF, RetryAfter: -1, Quotas: []Quota{quota("default", "requests", -1, 5, s, 0)}}},
		{"a malformed IETF field gives way to the next family",
			[]string{"RateLimit", `"default";r=`, "X-RateLimit-Limit", "10", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", "5"},
			Signal{Source: SourceReddit, RetryAfter: -1, Quotas: []Quota{quota("", "requests", 10, 0, 5*s, 0)}}},
		{"OpenAI wins over GitHub-style fields",
			[]string{"x-ratelimit-limit", "1", "x-ratelimit-remaining-tokens", "7"},
			Signal{Source: SourceOpenAI, RetryAfter: -1, Quotas: []Quota{quota("tokens", "tokens", -1, 7, -1, 0)}}},
		{"nothing", nil, Signal{RetryAfter: -1}},
	} {
		got := Parse(header(tc.kv...), testNow)
		if got.Source != tc.want.Source || got.RetryAfter != tc.want.RetryAfter || got.Global != tc.want.Global ||
			!slices.Equal(got.Quotas, tc.want.Quotas) {
			t.Errorf("%s: Parse =\n\t%+v\nwant\n\t%+v", tc.vendor, got, tc.want)
		}
		checkQuotas(t, got.Quotas)
	}
}

// TestParseHeaderCase checks that names match whatever case the server sent, as long as the header
// was built the way net/http builds one.
func TestParseHeaderCase(t *testing.T) {
	for _, name := range []string{"x-ratelimit-remaining", "X-RATELIMIT-REMAINING", "X-RateLimit-Remaining"} {
		h := http.Header{}
		h.Set(name, "0")
		h.Set("X-RATELIMIT-RESET", "5")
		got := Parse(h, testNow)
		if got.Source != SourceReddit || len(got.Quotas) != 1 || got.Quotas[0].Remaining != 0 {
			t.Errorf("%s: Parse = %+v", name, got)
		}
	}
}

func TestParseNilHeader(t *testing.T) {
	if got := Parse(nil, testNow); !got.Empty() || got.Source != SourceNone || got.RetryAfter != -1 {
		t.Errorf("Parse(nil) = %+v", got)
	}
}

func TestSignalEmpty(t *testing.T) {
	for _, tc := range []struct {
		s    Signal
		want bool
	}{
		{Signal{RetryAfter: -1}, true},
		{Signal{RetryAfter: 0}, false},
		{Signal{RetryAfter: -1, Global: true}, false},
		{Signal{RetryAfter: -1, Quotas: []Quota{quota("", "requests", 1, 1, -1, 0)}}, false},
	} {
		if got := tc.s.Empty(); got != tc.want {
			t.Errorf("%+v.Empty() = %v, want %v", tc.s, got, tc.want)
		}
	}
}

func TestSignalExhausted(t *testing.T) {
	for _, tc := range []struct {
		quotas []Quota
		want   time.Duration
		ok     bool
	}{
		{nil, 0, false},
		{[]Quota{quota("a", "requests", 10, 1, time.Minute, 0)}, 0, false},
		{[]Quota{quota("a", "requests", 10, 0, -1, 0)}, 0, false}, // spent, but no word on when
		{[]Quota{quota("a", "requests", 10, 0, 0, 0)}, 0, true},
		{[]Quota{
			quota("a", "requests", 10, 0, time.Second, 0),
			quota("b", "requests", 10, 5, time.Hour, 0),
			quota("c", "tokens", 10, 0, time.Minute, 0),
			quota("d", "tokens", 10, -1, time.Hour, 0),
		}, time.Minute, true},
	} {
		got, ok := Signal{RetryAfter: -1, Quotas: tc.quotas}.Exhausted()
		if got != tc.want || ok != tc.ok {
			t.Errorf("Exhausted(%+v) = %v, %v; want %v, %v", tc.quotas, got, ok, tc.want, tc.ok)
		}
	}
}

func BenchmarkParse(b *testing.B) {
	for _, bc := range []struct {
		name string
		h    http.Header
	}{
		{"github", header("x-ratelimit-limit", "5000", "x-ratelimit-remaining", "4999", "x-ratelimit-used", "1",
			"x-ratelimit-reset", epochIn(time.Hour), "x-ratelimit-resource", "core", "Content-Type", "application/json")},
		{"ietf", header("RateLimit-Policy", `"burst";q=100;w=60,"daily";q=1000;w=86400`, "RateLimit", `"burst";r=50;t=30`)},
		{"openai", header("x-ratelimit-limit-requests", "500", "x-ratelimit-remaining-requests", "499", "x-ratelimit-reset-requests", "120ms",
			"x-ratelimit-limit-tokens", "30000", "x-ratelimit-remaining-tokens", "29000", "x-ratelimit-reset-tokens", "1m30s")},
		{"none", header("Content-Type", "application/json", "Date", "Sat, 14 Mar 2026 12:00:00 GMT")},
	} {
		b.Run(bc.name, func(b *testing.B) {
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					Parse(bc.h, testNow)
				}
			})
		})
	}
}
