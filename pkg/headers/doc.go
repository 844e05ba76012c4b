// Package headers reads what an HTTP response's headers say about the server's rate limits, so
// that the client can pause before the server refuses it rather than after.
//
// Parse turns one response's headers into a Signal: the Retry-After delay (see RetryAfter), the
// Quotas of the first header family it recognises, and whether the limit covers the whole server.
// The families, in the order Parse tries them, each with a parser of its own for a caller that
// knows which server it talks to:
//
//   - ParseIETF: RateLimit-Policy and RateLimit (drafts 08-10, Structured Fields; Cloudflare)
//   - ParseIETFLegacy: RateLimit-Limit/-Remaining/-Reset, and draft-07's `RateLimit: limit=...`
//   - ParseOpenAI: x-ratelimit-{limit,remaining,reset}-{requests,tokens}
//   - ParseAnthropic: anthropic-ratelimit-*
//   - ParseDiscord: X-RateLimit-* with -Reset-After, -Bucket, -Global or -Scope
//   - ParseShopify: X-Shopify-Shop-Api-Call-Limit
//   - ParseXRateLimit: the x-ratelimit family of GitHub, X/Twitter and Reddit
//
// Every delay and reset is counted from the now the caller passes (the response's arrival), never
// negative, and capped at MaxDelay; unknown numbers are -1 (a Window, 0). A field sent more than
// once counts only when all its lines say the same, whatever their order; the IETF lists' items of
// one name that disagree leave that quota's numbers unknown. When a response carries both,
// Retry-After takes precedence over a quota's Reset (the IETF drafts say so): Parse reports both
// and leaves the choice to the caller.
//
// The parsers never panic and ignore what they cannot read. Every function is safe for concurrent
// use: none keeps state. docs/headers.md tells how each family is read, and why.
package headers
