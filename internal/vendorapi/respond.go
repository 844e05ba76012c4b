package vendorapi

import (
	"fmt"
	"io"
	"net/http"
	"strconv"
	"time"
)

// The bodies of rejections, as the vendors word them.
const (
	githubBody = `{"message":"API rate limit exceeded for user ID 1.","documentation_url":"https://docs.github.com/rest/using-the-rest-api/rate-limits-for-the-rest-api"}`
	xBody      = `{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}`
	redditBody = `{"message":"Too Many Requests","error":429}`
)

// respond writes d as the server's kind answers it: its headers on every response (or none), its
// status and, for an admitted request, {"ok":true,"n":<arrival number>}.
func (s *Server) respond(w http.ResponseWriter, d decision) {
	h := w.Header()
	var body string // of a rejection; "" sends none
	switch s.kind {
	case GitHub:
		body = githubAnswer(h, d)
	case X:
		body = xAnswer(h, d)
	case Reddit:
		body = redditAnswer(h, d)
	case Discord:
		body = discordAnswer(h, d)
	case OpenAI:
		body = openaiAnswer(h, d)
	case IETF:
		ietfAnswer(h, d, int64(s.cfg.Window/time.Second))
	case RetryAfterDate:
		if d.status != http.StatusOK {
			h.Set("Retry-After", d.end.UTC().Format(http.TimeFormat))
		}
	case Bare:
	}
	if d.status == http.StatusOK {
		body = fmt.Sprintf(`{"ok":true,"n":%d}`, d.n)
	}
	if body != "" {
		h.Set("Content-Type", "application/json; charset=utf-8")
	}
	w.WriteHeader(d.status)
	_, _ = io.WriteString(w, body) // a client that hung up has nothing left to tell
}

// githubAnswer sets GitHub's primary-limit headers; reset is the window's end in epoch seconds.
func githubAnswer(h http.Header, d decision) string {
	h.Set("X-Ratelimit-Limit", strconv.Itoa(d.limit))
	h.Set("X-Ratelimit-Remaining", strconv.Itoa(d.limit-d.used))
	h.Set("X-Ratelimit-Used", strconv.Itoa(d.used))
	h.Set("X-Ratelimit-Reset", strconv.FormatInt(d.end.Unix(), 10))
	h.Set("X-Ratelimit-Resource", "core")
	return githubBody
}

// xAnswer sets X's headers: GitHub's, spelt with "rate-limit", reset in epoch seconds.
func xAnswer(h http.Header, d decision) string {
	h.Set("X-Rate-Limit-Limit", strconv.Itoa(d.limit))
	h.Set("X-Rate-Limit-Remaining", strconv.Itoa(d.limit-d.used))
	h.Set("X-Rate-Limit-Reset", strconv.FormatInt(d.end.Unix(), 10))
	return xBody
}

// redditAnswer sets Reddit's headers: remaining as a decimal, reset as a delay in whole seconds,
// rounded up so that waiting it out always reaches the next window.
func redditAnswer(h http.Header, d decision) string {
	h.Set("X-Ratelimit-Used", strconv.Itoa(d.used))
	h.Set("X-Ratelimit-Remaining", strconv.FormatFloat(float64(d.limit-d.used), 'f', 1, 64))
	h.Set("X-Ratelimit-Reset", strconv.FormatInt(ceilSeconds(d.untilEnd()), 10))
	return redditBody
}

// discordAnswer sets Discord's headers: the route bucket's on every answer but a global rejection,
// which carries only the global ones.
func discordAnswer(h http.Header, d decision) string {
	after := ceilMillis(d.untilEnd())
	retry := strconv.FormatInt(ceilSeconds(d.untilEnd()), 10)
	if d.global {
		h.Set("X-Ratelimit-Global", "true")
		h.Set("X-Ratelimit-Scope", "global")
		h.Set("Retry-After", retry)
		return discordBody(after, true)
	}
	h.Set("X-Ratelimit-Limit", strconv.Itoa(d.limit))
	h.Set("X-Ratelimit-Remaining", strconv.Itoa(d.limit-d.used))
	h.Set("X-Ratelimit-Reset", millisDecimal(d.end.UnixMilli()))
	h.Set("X-Ratelimit-Reset-After", millisDecimal(after))
	h.Set("X-Ratelimit-Bucket", d.bucket)
	if d.status != http.StatusOK {
		h.Set("X-Ratelimit-Scope", "user")
		h.Set("Retry-After", retry)
	}
	return discordBody(after, false)
}

func discordBody(retryMillis int64, global bool) string {
	return fmt.Sprintf(`{"message":"You are being rate limited.","retry_after":%s,"global":%t}`, millisDecimal(retryMillis), global)
}

// openaiAnswer sets OpenAI's request and token headers; both resets are the time to the window's
// end, rounded up to the millisecond and written as a Go duration ("1s", "6m0s", "120ms").
func openaiAnswer(h http.Header, d decision) string {
	reset := (time.Duration(ceilMillis(d.untilEnd())) * time.Millisecond).String()
	h.Set("X-Ratelimit-Limit-Requests", strconv.Itoa(d.limit))
	h.Set("X-Ratelimit-Remaining-Requests", strconv.Itoa(d.limit-d.used))
	h.Set("X-Ratelimit-Reset-Requests", reset)
	h.Set("X-Ratelimit-Limit-Tokens", strconv.FormatInt(d.tokensLimit, 10))
	h.Set("X-Ratelimit-Remaining-Tokens", strconv.FormatInt(d.tokensLimit-d.tokensUsed, 10))
	h.Set("X-Ratelimit-Reset-Tokens", reset)
	if d.status == http.StatusBadRequest {
		return fmt.Sprintf(`{"error":{"message":"Request too large: it asks for more tokens than the limit of %d per window","type":"invalid_request_error","code":"request_too_large"}}`, d.tokensLimit)
	}
	quota := "requests"
	if d.tokensExceeded {
		quota = "tokens"
	}
	return fmt.Sprintf(`{"error":{"message":"Rate limit reached for %s","type":%q,"code":"rate_limit_exceeded"}}`, quota, quota)
}

// ietfAnswer sets the Structured Fields of draft-ietf-httpapi-ratelimit-headers 08–10, and
// Retry-After on a rejection.
func ietfAnswer(h http.Header, d decision, windowSeconds int64) {
	t := ceilSeconds(d.untilEnd())
	h.Set("Ratelimit-Policy", fmt.Sprintf(`"default";q=%d;w=%d`, d.limit, windowSeconds))
	h.Set("Ratelimit", fmt.Sprintf(`"default";r=%d;t=%d`, d.limit-d.used, t))
	if d.status != http.StatusOK {
		h.Set("Retry-After", strconv.FormatInt(t, 10))
	}
}

// ceilSeconds is d in whole seconds, rounded up; never below 0.
func ceilSeconds(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Second - 1) / time.Second)
}

// ceilMillis is d in whole milliseconds, rounded up; never below 0.
func ceilMillis(d time.Duration) int64 {
	if d <= 0 {
		return 0
	}
	return int64((d + time.Millisecond - 1) / time.Millisecond)
}

// millisDecimal writes a non-negative count of milliseconds as seconds with three decimals.
func millisDecimal(ms int64) string { return fmt.Sprintf("%d.%03d", ms/1000, ms%1000) }
