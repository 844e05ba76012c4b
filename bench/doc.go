// Package bench compares Weir's hot paths with their closest peers, side by side in one run:
// the in-memory store's Take against golang.org/x/time/rate, and the client against a bare
// net/http client on the same loopback server. It holds only benchmarks; see README.md.
package bench
