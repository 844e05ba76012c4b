package headers

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestParseOpenAI(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   []string
		want []Quota
	}{
		{"both kinds",
			[]string{"x-ratelimit-limit-requests", "60", "x-ratelimit-limit-tokens", "150000",
				"x-ratelimit-remaining-requests", "59", "x-ratelimit-remaining-tokens", "149984",
				"x-ratelimit-reset-requests", "1s", "x-ratelimit-reset-tokens", "6m0s"},
			[]Quota{quota("requests", "requests", 60, 59, time.Second, 0), quota("tokens", "tokens", 150000, 149984, 6*time.Minute, 0)}},
		{"exhausted tokens",
			[]string{"x-ratelimit-limit-tokens", "40000", "x-ratelimit-remaining-tokens", "0", "x-ratelimit-reset-tokens", "1h2m3.5s"},
			[]Quota{quota("tokens", "tokens", 40000, 0, time.Hour+2*time.Minute+3500*time.Millisecond, 0)}},
		{"requests only",
			[]string{"x-ratelimit-limit-requests", "10000", "x-ratelimit-remaining-requests", "9999", "x-ratelimit-reset-requests", "12ms"},
			[]Quota{quota("requests", "requests", 10000, 9999, 12*time.Millisecond, 0)}},
		{"proxy placeholders -1 are unknown",
			[]string{"x-ratelimit-limit-requests", "-1", "x-ratelimit-remaining-requests", "-1", "x-ratelimit-reset-requests", "-1",
				"x-ratelimit-limit-tokens", "1000", "x-ratelimit-remaining-tokens", "-1", "x-ratelimit-reset-tokens", "0.5s"},
			[]Quota{quota("tokens", "tokens", 1000, -1, 500*time.Millisecond, 0)}},
		{"proxy placeholders 0: a limit of 0 is unknown, and so is its remaining; 0s is a real reset",
			[]string{"x-ratelimit-limit-requests", "0", "x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "0s"},
			[]Quota{quota("requests", "requests", -1, -1, 0, 0)}},
		{"empty values",
			[]string{"x-ratelimit-limit-requests", "", "x-ratelimit-remaining-requests", "", "x-ratelimit-reset-requests", ""}, nil},
		{"a bare number of seconds",
			[]string{"x-ratelimit-remaining-requests", "0", "x-ratelimit-reset-requests", "20"},
			[]Quota{quota("requests", "requests", -1, 0, 20*time.Second, 0)}},
		{"nothing", nil, nil},
	} {
		got, ok := ParseOpenAI(header(tc.kv...))
		if ok != (len(tc.want) > 0) || !slices.Equal(got, tc.want) {
			t.Errorf("%s: ParseOpenAI =\n\t%+v, %v\nwant\n\t%+v", tc.name, got, ok, tc.want)
		}
		checkQuotas(t, got)
	}
}

func TestParseGoDuration(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"1s", time.Second, true},
		{"6m0s", 6 * time.Minute, true},
		{"12ms", 12 * time.Millisecond, true},
		{"1h2m3.5s", time.Hour + 2*time.Minute + 3500*time.Millisecond, true},
		{"0.5s", 500 * time.Millisecond, true},
		{".5s", 500 * time.Millisecond, true},
		{"5.s", 5 * time.Second, true},
		{"2m59.56s", 2*time.Minute + 59560*time.Millisecond, true},
		{"0s", 0, true},
		{"0", 0, true},
		{"20", 20 * time.Second, true},
		{"1.5", 1500 * time.Millisecond, true},
		{" 7s ", 7 * time.Second, true},
		{"+1s", time.Second, true},
		{"5us", 5 * time.Microsecond, true},
		{"5µs", 5 * time.Microsecond, true},
		{"5μs", 5 * time.Microsecond, true},
		{"300ns", 300 * time.Nanosecond, true},
		{"24h", MaxDelay, true},
		{"25h", MaxDelay, true},
		{"2562048h", MaxDelay, true}, // time.ParseDuration fails: overflow
		{"99999999999999999999999h", MaxDelay, true},
		{"-1", 0, false},
		{"-1s", 0, false},
		{"", 0, false},
		{"abc", 0, false},
		{"s", 0, false},
		{"1x", 0, false},
		{"1h1", 0, false},
		{"1.2.3s", 0, false},
		{"1 s", 0, false},
		{"1d", 0, false},
		{"NaN", 0, false},
		{".s", 0, false},
	} {
		got, ok := parseGoDuration(tc.in)
		if got != tc.want || ok != tc.ok {
			t.Errorf("parseGoDuration(%q) = %v, %v; want %v, %v", tc.in, got, ok, tc.want, tc.ok)
		}
	}
}

func TestParseAnthropic(t *testing.T) {
	for _, tc := range []struct {
		name string
		kv   []string
		want []Quota
	}{
		{"every kind",
			[]string{
				"anthropic-ratelimit-requests-limit", "50", "anthropic-ratelimit-requests-remaining", "49", "anthropic-ratelimit-requests-reset", "2026-03-14T12:00:01Z",
				"anthropic-ratelimit-tokens-limit", "90000", "anthropic-ratelimit-tokens-remaining", "89000", "anthropic-ratelimit-tokens-reset", "2026-03-14T12:00:30Z",
				"anthropic-ratelimit-input-tokens-limit", "40000", "anthropic-ratelimit-input-tokens-remaining", "39500", "anthropic-ratelimit-input-tokens-reset", "2026-03-14T12:00:30.5Z",
				"anthropic-ratelimit-output-tokens-limit", "8000", "anthropic-ratelimit-output-tokens-remaining", "0", "anthropic-ratelimit-output-tokens-reset", "2026-03-14T13:00:45+01:00",
			},
			[]Quota{
				quota("requests", "requests", 50, 49, time.Second, 0),
				quota("tokens", "tokens", 90000, 89000, 30*time.Second, 0),
				quota("input-tokens", "input-tokens", 40000, 39500, 30500*time.Millisecond, 0),
				quota("output-tokens", "output-tokens", 8000, 0, 45*time.Second, 0),
			}},
		{"a past reset (clock skew) is 0",
			[]string{"anthropic-ratelimit-tokens-remaining", "0", "anthropic-ratelimit-tokens-reset", "2026-03-14T11:59:58Z"},
			[]Quota{quota("tokens", "tokens", -1, 0, 0, 0)}},
		{"a far reset is capped",
			[]string{"anthropic-ratelimit-requests-reset", "2999-01-01T00:00:00Z"},
			[]Quota{quota("requests", "requests", -1, -1, MaxDelay, 0)}},
		{"unreadable resets are unknown",
			[]string{"anthropic-ratelimit-requests-limit", "50", "anthropic-ratelimit-requests-reset", "in 5 seconds",
				"anthropic-ratelimit-tokens-limit", "1000", "anthropic-ratelimit-tokens-reset", "1773489600"},
			[]Quota{quota("requests", "requests", 50, -1, -1, 0), quota("tokens", "tokens", 1000, -1, -1, 0)}},
		{"nothing", []string{"anthropic-organization-id", "x"}, nil},
	} {
		got, ok := ParseAnthropic(header(tc.kv...), testNow)
		if ok != (len(tc.want) > 0) || !slices.Equal(got, tc.want) {
			t.Errorf("%s: ParseAnthropic =\n\t%+v, %v\nwant\n\t%+v", tc.name, got, ok, tc.want)
		}
		checkQuotas(t, got)
	}
}

func TestParseShopify(t *testing.T) {
	for _, tc := range []struct {
		in               string
		limit, remaining int64
		ok               bool
	}{
		{"32/40", 40, 8, true}, // 32 used: 8 remain, not 32
		{"1/40", 40, 39, true},
		{"40/40", 40, 0, true},
		{"45/40", 40, 0, true},
		{" 1 / 80 ", 80, 79, true},
		{"0/0", 0, 0, true},
		{"32.0/40.0", 40, 8, true},
		{"99999999999999999999/40", 40, 0, true},
		{"1/99999999999999999999", math.MaxInt64, math.MaxInt64 - 1, true},
		{"32", 0, 0, false},
		{"", 0, 0, false},
		{"/40", 0, 0, false},
		{"32/", 0, 0, false},
		{"a/b", 0, 0, false},
		{"-1/40", 0, 0, false},
		{"1/-40", 0, 0, false},
		{"32/40/50", 0, 0, false},
		{"NaN/40", 0, 0, false},
	} {
		got, ok := ParseShopify(tc.in)
		var want []Quota
		if tc.ok {
			want = []Quota{quota("", "requests", tc.limit, tc.remaining, -1, 0)}
		}
		if ok != tc.ok || !slices.Equal(got, want) {
			t.Errorf("ParseShopify(%q) = %+v, %v; want %+v, %v", tc.in, got, ok, want, tc.ok)
		}
		checkQuotas(t, got)
	}
}
