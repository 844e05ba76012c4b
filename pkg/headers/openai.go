package headers

import (
	"net/http"
	"strings"
	"time"
)

// ParseOpenAI reads x-ratelimit-{limit,remaining,reset}-{requests,tokens}: up to two quotas, Name
// and Unit "requests" then "tokens", leaving out a kind with no usable field. A reset is a Go
// duration ("6m0s") or bare seconds. Proxies' placeholders are unknown: a limit of -1 or 0, a
// remaining of -1 (or 0 beside such a limit), a reset of -1; "0s" is a real zero.
func ParseOpenAI(h http.Header) ([]Quota, bool) {
	var quotas []Quota
	for i, kind := range [...]string{"requests", "tokens"} {
		keys := openAIKeys[i]
		q := Quota{Name: kind, Unit: kind, Limit: -1, Remaining: -1, Reset: -1}
		limit, limitOK := parseCount(singleton(h, keys[0]))
		if limitOK && limit > 0 {
			q.Limit = limit
		}
		if n, ok := parseCount(singleton(h, keys[1])); ok && n != -1 && !(n == 0 && q.Limit < 0 && limitOK) {
			q.Remaining = max(n, 0)
		}
		if d, ok := parseGoDuration(singleton(h, keys[2])); ok {
			q.Reset = d
		}
		if q.Limit >= 0 || q.Remaining >= 0 || q.Reset >= 0 {
			quotas = append(quotas, q)
		}
	}
	return quotas, len(quotas) > 0
}

// openAIKeys are the limit, remaining and reset keys of each kind, in canonical form.
var openAIKeys = [2][3]string{
	{"X-Ratelimit-Limit-Requests", "X-Ratelimit-Remaining-Requests", "X-Ratelimit-Reset-Requests"},
	{"X-Ratelimit-Limit-Tokens", "X-Ratelimit-Remaining-Tokens", "X-Ratelimit-Reset-Tokens"},
}

// parseGoDuration reads a duration in time.ParseDuration's syntax, or a bare number of seconds,
// into [0, MaxDelay]. Unlike time.ParseDuration it caps what would overflow instead of failing,
// and it refuses negative durations (a negative zero is zero).
func parseGoDuration(s string) (time.Duration, bool) {
	s = strings.TrimSpace(s)
	if d, ok := delayValue(s); ok {
		return d, true
	}
	s = strings.TrimPrefix(s, "+")
	if rest, neg := strings.CutPrefix(s, "-"); neg {
		// A negative duration is refused, but "-0s" is zero (time.ParseDuration agrees).
		if d, ok := parseGoDuration(rest); ok && d == 0 && !strings.HasPrefix(rest, "-") && !strings.HasPrefix(rest, "+") {
			return 0, true
		}
		return 0, false
	}
	if s == "" {
		return 0, false
	}
	total := 0.0 // seconds; a sum of finite non-negative terms, at worst +Inf, which seconds caps
	for s != "" {
		i, digits := 0, 0
		for ; i < len(s) && (isDigit(s[i]) || s[i] == '.'); i++ {
			if s[i] != '.' {
				digits++
			}
		}
		if digits == 0 {
			return 0, false
		}
		n, ok := parseFloat(s[:i])
		if !ok {
			return 0, false // "1.2.3"
		}
		j := i
		for j < len(s) && !isDigit(s[j]) && s[j] != '.' {
			j++
		}
		unit, ok := goDurationUnits[s[i:j]]
		if !ok {
			return 0, false
		}
		total += n * unit
		s = s[j:]
	}
	return seconds(total), true
}

// goDurationUnits are time.ParseDuration's units, in seconds.
var goDurationUnits = map[string]float64{
	"ns": 1e-9,
	"us": 1e-6,
	"µs": 1e-6, // U+00B5
	"μs": 1e-6, // U+03BC
	"ms": 1e-3,
	"s":  1,
	"m":  60,
	"h":  3600,
}
