// Package headers reads what an HTTP response's headers say about the server's rate limits, so
// that the client can pause before the server refuses it rather than after.
//
// Parse turns one response's headers into a Signal: the Retry-After delay, the quotas of the first
// header family it recognises, and whether the limit covers the whole server. The families, in the
// order Parse tries them:
//
//   - IETF RateLimit-Policy and RateLimit (drafts 08-10, Structured Fields; Cloudflare sends them)
//   - the older IETF RateLimit-Limit/-Remaining/-Reset, and draft-07's `RateLimit: limit=...`
//   - OpenAI's x-ratelimit-{limit,remaining,reset}-{requests,tokens}
//   - Anthropic's anthropic-ratelimit-*
//   - Discord's X-RateLimit-* with -Reset-After, -Bucket, -Global or -Scope
//   - Shopify's X-Shopify-Shop-Api-Call-Limit
//   - the x-ratelimit family of GitHub, X/Twitter and Reddit
//
// Each family also has its own parser, for a caller that knows which server it talks to.
//
// Vendors that share a header name do not share its meaning, and that is where the traps are:
//
//   - x-ratelimit-reset is a Unix time at GitHub and X but a delay at Reddit; a value above 10^9 is
//     read as a Unix time. Reddit's remaining may be fractional ("599.0"); counts are floored.
//   - Shopify's "32/40" is 32 used of 40: 8 remain, not 32.
//   - OpenAI's resets are Go durations ("6m0s"), and proxies send "-1" or "0" meaning unknown.
//   - Anthropic's resets are RFC 3339 times that clock skew often puts in the past: those give 0.
//   - Retry-After is seconds or an HTTP-date in any of three forms; servers also send decimals,
//     negative numbers and absurd values.
//   - The IETF RateLimit t is a delay, never a timestamp; a malformed Structured Field is ignored
//     as a whole, and so is an item with a negative r (it is no spent quota).
//
// A field sent more than once is read the same whatever the order of its lines: a field that
// disagrees with itself is ignored. A field of one value counts only when all its lines say the
// same; the IETF lists' items of one name that disagree leave that quota's numbers unknown.
// RetryAfter reads Retry-After and retry-after-ms by the same rule.
//
// When a response carries both, Retry-After takes precedence over a quota's Reset (the IETF drafts
// say so); Parse reports both and leaves the choice to the caller.
//
// Every delay and reset is relative to the now the caller passes (the response's arrival), never
// negative, and capped at MaxDelay; unknown numbers are -1. The parsers never panic on any input
// and ignore what they cannot read. Every function is safe for concurrent use: none keeps state.
package headers
