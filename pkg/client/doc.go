// Package client is Weir's HTTP client: every request waits for a token of the upstream's shared
// rate limit, passes its shared circuit breaker, and is retried with backoff and jitter, honouring
// what the server says (Retry-After) — so that a fleet of processes calls an API as one careful
// client.
//
// A Client is safe for concurrent use.
//
// # Adapting to what servers say
//
// With Limits set, and unless AdaptConfig.Off, the client reads the rate-limit headers of every
// response (package headers lists the families it reads) and keeps what it learns in the store,
// beside the key's buckets, so that the whole fleet obeys it:
//
//   - a quota exhausted (remaining 0) with a reset time pauses the key until the reset, for
//     AdaptConfig.MaxPause at most;
//   - a quota running low (what is left would not last until the reset at the configured rate;
//     for a quota whose size and window the server states, counting how long the configured
//     limits took to spend what is gone) is spread over the time to the reset: a pace of one request (or unit of cost, for quotas of
//     tokens or points) about every reset/remaining (every MaxPause at most), with a burst of one;
//   - a rejection (429; 503 or 403 that say so, by Retry-After or a spent quota) that carries no
//     quota pauses the key: for the server's Retry-After, keeping the pace a quota stated on
//     the server's other responses set (Discord's global limit), or, from a server that never
//     states one, coming back one request at a time at the rate the server let through; with no
//     Retry-After, cutting the key's rate (multiplicative decrease, see store.Backoff), which then
//     recovers additively with every admitted request. The first such rejection of a key knows
//     nothing of the server's rate: the fleet comes back no faster than one request per four
//     round trips of the refused request (store.Backoff.RoundTrip). A bare 503 is the server
//     failing: the breaker's business, not a cut.
//
// The configured Limits stay the ceiling: nothing a server says raises them. The reasons behind
// these rules are in docs/client.md in Weir's repository.
package client
