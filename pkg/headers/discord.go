package headers

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// ParseDiscord reads Discord's headers. They are told from the rest of the x-ratelimit family by
// X-RateLimit-Reset-After, -Bucket, -Global or -Scope. The quota comes from X-RateLimit-Limit and
// -Remaining, its Reset from -Reset-After (float seconds) or else -Reset (a Unix time with
// decimals, counted from now), its Name from -Bucket. global reports X-RateLimit-Global: true or
// X-RateLimit-Scope: global, under which every route waits. A field sent more than once with
// values that differ is ignored.
//
// A global 429 may carry nothing but X-RateLimit-Global and Retry-After: that is ok with no quota.
// ok is false when none of Discord's own headers is present, or when they say nothing usable.
func ParseDiscord(h http.Header, now time.Time) ([]Quota, bool, bool) {
	resetAfter := singleton(h, "X-Ratelimit-Reset-After")
	bucket := singleton(h, "X-Ratelimit-Bucket")
	globalV := singleton(h, "X-Ratelimit-Global")
	scope := singleton(h, "X-Ratelimit-Scope")
	if resetAfter == "" && bucket == "" && globalV == "" && scope == "" {
		return nil, false, false
	}
	global := strings.EqualFold(globalV, "true") || strings.EqualFold(scope, "global")

	q := Quota{
		Name:      bucket,
		Unit:      "requests",
		Limit:     limitValue(singleton(h, "X-Ratelimit-Limit")),
		Remaining: remainingValue(singleton(h, "X-Ratelimit-Remaining")),
		Reset:     -1,
	}
	if d, ok := delayValue(resetAfter); ok {
		q.Reset = d
	} else if f, ok := parseFloat(singleton(h, "X-Ratelimit-Reset")); ok && !math.IsNaN(f) && f >= 0 {
		q.Reset = epochValue(f, now)
	}
	var quotas []Quota
	if q.Limit >= 0 || q.Remaining >= 0 || q.Reset >= 0 {
		quotas = []Quota{q}
	}
	return quotas, global, len(quotas) > 0 || global
}
