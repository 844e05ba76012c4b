package vendorapi

import (
	"errors"
	"fmt"
	"strings"
)

// Kind names the vendor whose limiting and headers a Server imitates.
type Kind string

// The kinds a Server can imitate. Cloudflare sends the IETF fields, so IETF stands for it too.
const (
	// GitHub sends x-ratelimit-limit/-remaining/-used/-reset (epoch seconds)/-resource and answers
	// 403 over quota.
	GitHub Kind = "github"
	// X sends x-rate-limit-limit/-remaining/-reset (epoch seconds) and answers 429.
	X Kind = "x"
	// Reddit sends X-Ratelimit-Used, a decimal X-Ratelimit-Remaining and X-Ratelimit-Reset as a
	// delay in seconds, not an epoch.
	Reddit Kind = "reddit"
	// Discord limits each route (request path) in its own bucket and, optionally, every route
	// together under a global limit.
	Discord Kind = "discord"
	// OpenAI limits requests and tokens per window; a request's token cost is its max_tokens.
	OpenAI Kind = "openai"
	// IETF sends the RateLimit-Policy and RateLimit fields of draft-ietf-httpapi-ratelimit-headers
	// 08–10.
	IETF Kind = "ietf"
	// RetryAfterDate says nothing until it rejects, then sends only Retry-After as an HTTP-date.
	RetryAfterDate Kind = "retry-after-date"
	// Bare says nothing at all: a 429 with no headers and no body.
	Bare Kind = "bare"
)

// ErrUnknownKind is wrapped by the errors of ParseKind and New for a kind not in Kinds.
var ErrUnknownKind = errors.New("weir/vendorapi: unknown kind")

// Kinds returns every kind, in a fixed order. The slice is the caller's.
func Kinds() []Kind {
	return []Kind{GitHub, X, Reddit, Discord, OpenAI, IETF, RetryAfterDate, Bare}
}

// ParseKind returns the kind named s, ignoring case and surrounding space.
func ParseKind(s string) (Kind, error) {
	name := strings.TrimSpace(s)
	for _, k := range Kinds() {
		if strings.EqualFold(name, string(k)) {
			return k, nil
		}
	}
	return "", fmt.Errorf("%w %q (want one of %s)", ErrUnknownKind, s, kindList())
}

func (k Kind) known() bool {
	for _, known := range Kinds() {
		if k == known {
			return true
		}
	}
	return false
}

func kindList() string {
	names := make([]string, 0, len(Kinds()))
	for _, k := range Kinds() {
		names = append(names, string(k))
	}
	return strings.Join(names, ", ")
}
