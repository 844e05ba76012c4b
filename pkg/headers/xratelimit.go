package headers

import (
	"math"
	"net/http"
	"time"
)

// ParseXRateLimit reads the x-ratelimit family: GitHub's -limit/-remaining/-used/-reset/-resource,
// X's x-rate-limit-*, Reddit's and Discord's basic fields. A reset above 10^9 is a Unix time
// (Source SourceGitHub, as when there is no reset), a smaller one a delay (SourceReddit). Name is
// GitHub's resource, Unit "points" for "graphql", else "requests"; a missing limit or remaining is
// worked out from used. ok reports a known limit, remaining or reset.
func ParseXRateLimit(h http.Header, now time.Time) ([]Quota, Source, bool) {
	get := func(k int) string {
		if v := singleton(h, xRateLimitKeys[k]); v != "" {
			return v
		}
		return singleton(h, xRateLimitTwitterKeys[k])
	}
	resource := singleton(h, "X-Ratelimit-Resource")
	q := Quota{
		Name:      resource,
		Unit:      "requests",
		Limit:     limitValue(get(xLimit)),
		Remaining: remainingValue(get(xRemaining)),
		Reset:     -1,
	}
	if resource == "graphql" {
		q.Unit = "points"
	}
	used, usedOK := parseCount(get(xUsed))
	if usedOK {
		used = max(used, 0)
		switch {
		case q.Limit < 0 && q.Remaining >= 0:
			q.Limit = q.Remaining + min(used, math.MaxInt64-q.Remaining)
		case q.Remaining < 0 && q.Limit >= 0:
			q.Remaining = max(q.Limit-used, 0)
		}
	}
	src := SourceGitHub
	if d, epoch, ok := resetValue(get(xReset), now); ok {
		q.Reset = d
		if !epoch {
			src = SourceReddit
		}
	}
	if q.Limit < 0 && q.Remaining < 0 && q.Reset < 0 {
		return nil, SourceNone, false
	}
	return []Quota{q}, src, true
}

const (
	xLimit = iota
	xRemaining
	xUsed
	xReset
)

// The keys in canonical form, so that http.Header.Get finds them without canonicalising.
var (
	xRateLimitKeys        = [...]string{"X-Ratelimit-Limit", "X-Ratelimit-Remaining", "X-Ratelimit-Used", "X-Ratelimit-Reset"}
	xRateLimitTwitterKeys = [...]string{"X-Rate-Limit-Limit", "X-Rate-Limit-Remaining", "X-Rate-Limit-Used", "X-Rate-Limit-Reset"}
)
