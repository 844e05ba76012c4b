package headers

import (
	"net/http"
	"strings"
	"time"
)

// MaxDelay caps every delay and reset this package returns. A server asking for more is treated
// as asking for this much: nothing a rate limit says is worth a longer pause, and the cap keeps
// absurd values far from time.Duration's overflow.
const MaxDelay = 24 * time.Hour

// Source names the header family a Signal came from.
type Source string

// The families Parse recognises.
const (
	SourceNone       Source = ""
	SourceRetryAfter Source = "retry-after" // only Retry-After / retry-after-ms
	SourceIETF       Source = "ietf"        // RateLimit-Policy + RateLimit, Structured Fields (drafts 08-10); Cloudflare uses these
	SourceIETFLegacy Source = "ietf-legacy" // RateLimit-Limit/-Remaining/-Reset, draft-07 `RateLimit: limit=, remaining=, reset=`
	SourceGitHub     Source = "github"      // x-ratelimit-* with -used/-resource or epoch reset (also X/Twitter's x-rate-limit-*)
	SourceReddit     Source = "reddit"      // x-ratelimit-used/-remaining/-reset where reset is a delay
	SourceDiscord    Source = "discord"     // X-RateLimit-Reset-After / -Bucket / -Global / -Scope present
	SourceOpenAI     Source = "openai"      // x-ratelimit-{limit,remaining,reset}-{requests,tokens}
	SourceAnthropic  Source = "anthropic"   // anthropic-ratelimit-*
	SourceShopify    Source = "shopify"     // X-Shopify-Shop-Api-Call-Limit: used/capacity
)

// Quota is one quota a server reported. Unknown numbers are -1 (Limit, Remaining, Reset) or 0
// (Window). It is a plain value, safe to copy and to share between goroutines once built.
type Quota struct {
	Name      string        // policy/quota/resource name: "default", "requests", "tokens", "core", a Discord bucket id ...; "" if none
	Unit      string        // "requests" unless the server says otherwise: "tokens", "input-tokens", "output-tokens", "points", or an IETF `qu`
	Limit     int64         // quota size, -1 unknown
	Remaining int64         // what is left, -1 unknown; fractional values ("599.0") are floored; negative clamps to 0
	Reset     time.Duration // time from `now` until more quota arrives, -1 unknown; a past instant gives 0
	Window    time.Duration // the policy window when stated (IETF w=, Shopify none), 0 unknown
}

// Signal is what one response's headers say about the server's limits. It is a plain value, safe
// to copy and to share between goroutines once built.
type Signal struct {
	Source     Source        // the family the quotas came from (SourceRetryAfter if only Retry-After was usable)
	RetryAfter time.Duration // from Retry-After (or retry-after-ms when Retry-After is absent/unusable); -1 when absent or unusable
	Quotas     []Quota
	Global     bool // the limit covers every route of the server (Discord X-RateLimit-Global: true, or X-RateLimit-Scope: global)
}

// Empty reports whether the signal carries nothing usable.
func (s Signal) Empty() bool {
	return s.RetryAfter < 0 && len(s.Quotas) == 0 && !s.Global
}

// Exhausted returns the longest Reset among quotas with Remaining == 0 (and Reset >= 0), and
// whether any such quota exists. A quota that is spent but does not say when it refills is left
// out: the caller has Retry-After or its own backoff for that.
func (s Signal) Exhausted() (time.Duration, bool) {
	var longest time.Duration
	found := false
	for _, q := range s.Quotas {
		if q.Remaining == 0 && q.Reset >= 0 {
			found = true
			longest = max(longest, q.Reset)
		}
	}
	return longest, found
}

// Parse reads h at now, the response's arrival (pass the real time: an epoch reset read against a
// zero now comes back as MaxDelay). RetryAfter is always read (see the function RetryAfter);
// Quotas come from the first family that matches, in the package doc's order. Parse cannot tell a
// cached response: the IETF drafts say to ignore these fields on one, so a caller that knows
// should not call Parse.
func Parse(h http.Header, now time.Time) Signal {
	if !mayCarry(h) {
		return Signal{RetryAfter: -1} // most responses: nothing to look for
	}
	return parseAll(h, now)
}

// carriedPrefixes start the name of every field a parser of this package reads, in lower case.
var carriedPrefixes = [...]string{"retry-after", "ratelimit", "x-ratelimit", "x-rate-limit",
	"anthropic-ratelimit-", "x-shopify-shop-api-call-limit"}

// mayCarry reports whether h holds a field whose name starts one that some parser reads.
func mayCarry(h http.Header) bool {
	for k := range h {
		for _, p := range carriedPrefixes {
			if len(k) >= len(p) && strings.EqualFold(k[:len(p)], p) {
				return true
			}
		}
	}
	return false
}

// parseAll is Parse without the shortcut for a response that carries no field it reads.
func parseAll(h http.Header, now time.Time) Signal {
	s := Signal{RetryAfter: -1}
	if d, ok := RetryAfter(h, now); ok {
		s.RetryAfter = d
	}

	if q, ok := parseIETFHeader(h); ok {
		s.Source, s.Quotas = SourceIETF, q
	} else if q, ok := ParseIETFLegacy(h); ok {
		s.Source, s.Quotas = SourceIETFLegacy, q
	} else if q, ok := ParseOpenAI(h); ok {
		s.Source, s.Quotas = SourceOpenAI, q
	} else if q, ok := ParseAnthropic(h, now); ok {
		s.Source, s.Quotas = SourceAnthropic, q
	} else if q, global, ok := ParseDiscord(h, now); ok {
		s.Source, s.Quotas, s.Global = SourceDiscord, q, global
	} else if q, ok := ParseShopify(singleton(h, shopifyKey)); ok {
		s.Source, s.Quotas = SourceShopify, q
	} else if q, src, ok := ParseXRateLimit(h, now); ok {
		s.Source, s.Quotas = src, q
	} else if s.RetryAfter >= 0 {
		s.Source = SourceRetryAfter
	}
	return s
}
