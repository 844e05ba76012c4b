package headers

import (
	"cmp"
	"slices"
	"testing"
	"time"
)

// TestParseRepeatedFields sends fields more than once, in both orders: a field whose lines
// disagree is ignored, lines that say the same count once, and the order never matters.
func TestParseRepeatedFields(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name string
		kv   []string
		want Signal
	}{
		{"Retry-After that disagrees with itself is ignored",
			[]string{"Retry-After", "5", "Retry-After", "3600"},
			Signal{RetryAfter: -1}},
		{"Retry-After stated twice alike counts once",
			[]string{"Retry-After", "5", "Retry-After", " 5 "},
			Signal{Source: SourceRetryAfter, RetryAfter: 5 * s}},
		{"a blank Retry-After line says nothing",
			[]string{"Retry-After", "", "Retry-After", "7"},
			Signal{Source: SourceRetryAfter, RetryAfter: 7 * s}},
		{"an unreadable Retry-After line disagrees",
			[]string{"Retry-After", "soon", "Retry-After", "7"},
			Signal{RetryAfter: -1}},
		{"a Retry-After that disagrees gives way to Retry-After-Ms",
			[]string{"Retry-After", "5", "Retry-After", "10", "Retry-After-Ms", "250"},
			Signal{Source: SourceRetryAfter, RetryAfter: 250 * time.Millisecond}},
		{"Retry-After-Ms that disagrees is ignored",
			[]string{"Retry-After-Ms", "250", "Retry-After-Ms", "90000"},
			Signal{RetryAfter: -1}},
		{"GitHub remaining that disagrees is unknown",
			[]string{"x-ratelimit-limit", "5000", "x-ratelimit-remaining", "0", "x-ratelimit-remaining", "4000",
				"x-ratelimit-reset", epochIn(time.Hour), "x-ratelimit-resource", "core"},
			Signal{Source: SourceGitHub, RetryAfter: -1, Quotas: []Quota{quota("core", "requests", 5000, -1, time.Hour, 0)}}},
		{"GitHub reset that disagrees is unknown",
			[]string{"x-ratelimit-limit", "5000", "x-ratelimit-remaining", "0",
				"x-ratelimit-reset", epochIn(time.Minute), "x-ratelimit-reset", "99999999999"},
			Signal{Source: SourceGitHub, RetryAfter: -1, Quotas: []Quota{quota("", "requests", 5000, 0, -1, 0)}}},
		{"IETF items of one name that disagree leave it unknown",
			[]string{"RateLimit-Policy", `"a";q=100;w=60`, "RateLimit", `"a";r=0;t=5`, "RateLimit", `"a";r=50;t=5`},
			Signal{Source: SourceIETF, RetryAfter: -1, Quotas: []Quota{quota("a", "requests", 100, -1, -1, 60*s)}}},
		{"IETF items stated twice alike count once",
			[]string{"RateLimit-Policy", `"a";q=100;w=60`, "RateLimit", `"a";r=5;t=1`, "RateLimit", `"a";r=5;t=1`},
			Signal{Source: SourceIETF, RetryAfter: -1, Quotas: []Quota{quota("a", "requests", 100, 5, s, 60*s)}}},
		{"IETF policies of one name that disagree leave it unknown",
			[]string{"RateLimit-Policy", `"a";q=100;w=60`, "RateLimit-Policy", `"a";q=10;w=1`, "RateLimit", `"a";r=5;t=1`},
			Signal{Source: SourceIETF, RetryAfter: -1, Quotas: []Quota{quota("a", "requests", -1, 5, s, 0)}}},
		{"IETF lines each a list of their own",
			[]string{"RateLimit", `"x`, "RateLimit", `y";r=0;t=5`},
			Signal{RetryAfter: -1}},
		{"draft-07 RateLimit that disagrees is ignored",
			[]string{"RateLimit", "limit=100, remaining=0, reset=5", "RateLimit", "limit=100, remaining=50, reset=5"},
			Signal{RetryAfter: -1}},
		{"draft-07 member stated twice differently is unknown",
			[]string{"RateLimit", "limit=100, remaining=0, reset=5, remaining=50"},
			Signal{Source: SourceIETFLegacy, RetryAfter: -1, Quotas: []Quota{quota("", "requests", 100, -1, 5*s, 0)}}},
		{"legacy remaining that disagrees is unknown",
			[]string{"RateLimit-Limit", "10", "RateLimit-Remaining", "0", "RateLimit-Remaining", "9", "RateLimit-Reset", "7"},
			Signal{Source: SourceIETFLegacy, RetryAfter: -1, Quotas: []Quota{quota("", "requests", 10, -1, 7*s, 0)}}},
		{"OpenAI remaining that disagrees is unknown",
			[]string{"x-ratelimit-limit-tokens", "30000", "x-ratelimit-remaining-tokens", "0", "x-ratelimit-remaining-tokens", "29000",
				"x-ratelimit-reset-tokens", "1m30s"},
			Signal{Source: SourceOpenAI, RetryAfter: -1, Quotas: []Quota{quota("tokens", "tokens", 30000, -1, 90*s, 0)}}},
		{"Anthropic reset that disagrees is unknown",
			[]string{"anthropic-ratelimit-tokens-remaining", "0", "anthropic-ratelimit-tokens-reset", "2026-03-14T12:00:30Z",
				"anthropic-ratelimit-tokens-reset", "2999-01-01T00:00:00Z"},
			Signal{Source: SourceAnthropic, RetryAfter: -1, Quotas: []Quota{quota("tokens", "tokens", -1, 0, -1, 0)}}},
		{"Discord Reset-After that disagrees is unknown",
			[]string{"X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset-After", "1.5", "X-RateLimit-Reset-After", "86400",
				"X-RateLimit-Bucket", "b"},
			Signal{Source: SourceDiscord, RetryAfter: -1, Quotas: []Quota{quota("b", "requests", 5, 0, -1, 0)}}},
		{"Shopify that disagrees is ignored",
			[]string{"X-Shopify-Shop-Api-Call-Limit", "40/40", "X-Shopify-Shop-Api-Call-Limit", "1/40"},
			Signal{RetryAfter: -1}},
	} {
		for _, reversed := range []bool{false, true} {
			kv := tc.kv
			if reversed {
				kv = reversePairs(kv)
			}
			h := header(kv...)
			got := Parse(h, testNow)
			if !sameSignal(got, tc.want) {
				t.Errorf("%s (reversed %v): Parse =\n\t%+v\nwant\n\t%+v", tc.name, reversed, got, tc.want)
			}
			checkQuotas(t, got.Quotas)
			if d, ok := RetryAfter(h, testNow); ok != (tc.want.RetryAfter >= 0) || ok && d != tc.want.RetryAfter {
				t.Errorf("%s (reversed %v): RetryAfter = %v, %v; want %v", tc.name, reversed, d, ok, tc.want.RetryAfter)
			}
		}
	}
}

// reversePairs returns name, value pairs in the opposite order.
func reversePairs(kv []string) []string {
	out := make([]string, 0, len(kv))
	for i := len(kv) - 2; i >= 0; i -= 2 {
		out = append(out, kv[i], kv[i+1])
	}
	return out
}

// sameSignal reports whether a and b say the same, whatever the order of their quotas.
func sameSignal(a, b Signal) bool {
	return a.Source == b.Source && a.RetryAfter == b.RetryAfter && a.Global == b.Global &&
		slices.Equal(sortedQuotas(a.Quotas), sortedQuotas(b.Quotas))
}

func sortedQuotas(quotas []Quota) []Quota {
	return slices.SortedFunc(slices.Values(quotas), func(a, b Quota) int {
		return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Unit, b.Unit), cmp.Compare(a.Limit, b.Limit),
			cmp.Compare(a.Remaining, b.Remaining), cmp.Compare(a.Reset, b.Reset), cmp.Compare(a.Window, b.Window))
	})
}
