package headers

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// ParseDiscord reads Discord's X-RateLimit-* fields, told from the x-ratelimit family by
// -Reset-After, -Bucket, -Global or -Scope: Limit and Remaining, Reset from -Reset-After (seconds)
// or else -Reset (a Unix time), Name from -Bucket. global reports -Global: true or -Scope: global
// (every route waits). ok reports a usable quota or a global limit: a global 429 may carry no
// quota at all.
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
