package headers

import (
	"math"
	"slices"
	"testing"
	"time"
)

func TestParseXRateLimit(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name string
		kv   []string
		want []Quota
		src  Source
	}{
		{"GitHub: reset is a Unix time",
			[]string{"x-ratelimit-limit", "5000", "x-ratelimit-remaining", "4999", "x-ratelimit-used", "1", "x-ratelimit-reset", epochIn(time.Hour), "x-ratelimit-resource", "core"},
			[]Quota{quota("core", "requests", 5000, 4999, time.Hour, 0)}, SourceGitHub},
		{"GitHub: a past reset is 0",
			[]string{"x-ratelimit-limit", "60", "x-ratelimit-remaining", "0", "x-ratelimit-reset", epochIn(-time.Minute), "x-ratelimit-resource", "core"},
			[]Quota{quota("core", "requests", 60, 0, 0, 0)}, SourceGitHub},
		{"GitHub GraphQL counts points",
			[]string{"x-ratelimit-limit", "5000", "x-ratelimit-remaining", "4980", "x-ratelimit-used", "20", "x-ratelimit-reset", epochIn(30 * time.Minute), "x-ratelimit-resource", "graphql"},
			[]Quota{quota("graphql", "points", 5000, 4980, 30*time.Minute, 0)}, SourceGitHub},
		{"GitHub: remaining worked out from limit and used",
			[]string{"x-ratelimit-limit", "5000", "x-ratelimit-used", "5001"},
			[]Quota{quota("", "requests", 5000, 0, -1, 0)}, SourceGitHub},
		{"X/Twitter",
			[]string{"x-rate-limit-limit", "900", "x-rate-limit-remaining", "0", "x-rate-limit-reset", epochIn(10 * time.Minute)},
			[]Quota{quota("", "requests", 900, 0, 10*time.Minute, 0)}, SourceGitHub},
		{"Reddit: reset is a delay, remaining a float",
			[]string{"X-Ratelimit-Used", "1", "X-Ratelimit-Remaining", "599.0", "X-Ratelimit-Reset", "540"},
			[]Quota{quota("", "requests", 600, 599, 540*s, 0)}, SourceReddit},
		{"Reddit: fractional remaining floored",
			[]string{"X-Ratelimit-Used", "2", "X-Ratelimit-Remaining", "597.9", "X-Ratelimit-Reset", "0"},
			[]Quota{quota("", "requests", 599, 597, 0, 0)}, SourceReddit},
		{"Discord's basic fields: a Unix time with decimals",
			[]string{"X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "1", "X-RateLimit-Reset", epochIn(2*s) + ".5"},
			[]Quota{quota("", "requests", 5, 1, 2500*time.Millisecond, 0)}, SourceGitHub},
		{"an epoch far ahead is capped",
			[]string{"x-ratelimit-remaining", "0", "x-ratelimit-reset", "99999999999"},
			[]Quota{quota("", "requests", -1, 0, MaxDelay, 0)}, SourceGitHub},
		{"garbage reset is unknown",
			[]string{"x-ratelimit-limit", "10", "x-ratelimit-reset", "soon"},
			[]Quota{quota("", "requests", 10, -1, -1, 0)}, SourceGitHub},
		{"negative remaining clamps, negative limit unknown",
			[]string{"x-ratelimit-limit", "-5", "x-ratelimit-remaining", "-1", "x-ratelimit-reset", "-3"},
			[]Quota{quota("", "requests", -1, 0, -1, 0)}, SourceGitHub},
		{"huge numbers clamp without overflow",
			[]string{"x-ratelimit-used", "99999999999999999999", "x-ratelimit-remaining", "99999999999999999999"},
			[]Quota{quota("", "requests", math.MaxInt64, math.MaxInt64, -1, 0)}, SourceGitHub},
		{"used alone says nothing", []string{"x-ratelimit-used", "3"}, nil, SourceNone},
		{"nothing", nil, nil, SourceNone},
	} {
		got, src, ok := ParseXRateLimit(header(tc.kv...), testNow)
		if ok != (len(tc.want) > 0) || src != tc.src || !slices.Equal(got, tc.want) {
			t.Errorf("%s: ParseXRateLimit =\n\t%+v, %q, %v\nwant\n\t%+v, %q", tc.name, got, src, ok, tc.want, tc.src)
		}
		checkQuotas(t, got)
	}
}

func TestParseDiscord(t *testing.T) {
	for _, tc := range []struct {
		name   string
		kv     []string
		want   []Quota
		global bool
		ok     bool
	}{
		{"Reset-After preferred over Reset",
			[]string{"X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset", epochIn(time.Minute) + ".123",
				"X-RateLimit-Reset-After", "1", "X-RateLimit-Bucket", "abcd1234"},
			[]Quota{quota("abcd1234", "requests", 5, 0, time.Second, 0)}, false, true},
		{"Reset when Reset-After is missing",
			[]string{"X-RateLimit-Limit", "5", "X-RateLimit-Remaining", "4", "X-RateLimit-Reset", epochIn(time.Minute) + ".250", "X-RateLimit-Bucket", "b"},
			[]Quota{quota("b", "requests", 5, 4, time.Minute+250*time.Millisecond, 0)}, false, true},
		{"Reset-After with decimals, user scope",
			[]string{"X-RateLimit-Limit", "1", "X-RateLimit-Remaining", "0", "X-RateLimit-Reset-After", "64.57", "X-RateLimit-Scope", "user"},
			[]Quota{quota("", "requests", 1, 0, 64570*time.Millisecond, 0)}, false, true},
		{"global 429 with nothing else", []string{"X-RateLimit-Global", "true"}, nil, true, true},
		{"global, any case", []string{"X-RateLimit-Global", " True "}, nil, true, true},
		{"global scope", []string{"X-RateLimit-Scope", "global", "X-RateLimit-Reset-After", "3"},
			[]Quota{quota("", "requests", -1, -1, 3*time.Second, 0)}, true, true},
		{"shared scope", []string{"X-RateLimit-Scope", "shared", "X-RateLimit-Reset-After", "3"},
			[]Quota{quota("", "requests", -1, -1, 3*time.Second, 0)}, false, true},
		{"a bucket alone says nothing", []string{"X-RateLimit-Bucket", "b"}, nil, false, false},
		{"not global, nothing else", []string{"X-RateLimit-Global", "false"}, nil, false, false},
		{"GitHub's headers are not Discord's",
			[]string{"x-ratelimit-limit", "60", "x-ratelimit-remaining", "0", "x-ratelimit-reset", epochIn(time.Hour)}, nil, false, false},
		{"negative Reset-After falls back to Reset",
			[]string{"X-RateLimit-Reset-After", "-1", "X-RateLimit-Reset", epochIn(-time.Hour)},
			[]Quota{quota("", "requests", -1, -1, 0, 0)}, false, true},
	} {
		got, global, ok := ParseDiscord(header(tc.kv...), testNow)
		if ok != tc.ok || global != tc.global || !slices.Equal(got, tc.want) {
			t.Errorf("%s: ParseDiscord =\n\t%+v, %v, %v\nwant\n\t%+v, %v, %v", tc.name, got, global, ok, tc.want, tc.global, tc.ok)
		}
		checkQuotas(t, got)
	}
}
