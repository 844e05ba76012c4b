package headers

import (
	"math"
	"net/http"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// fuzzNow turns a fuzzed number into an arrival time within ±34,000 years of 1970, where time.Unix
// and Time.Add cannot wrap (beyond that, "an hour later" can be earlier, and no property holds).
func fuzzNow(sec int64) time.Time { return time.Unix(sec%(1<<40), 0).UTC() }

var seedNow = testNow.Unix()

func FuzzParseRetryAfter(f *testing.F) {
	for _, v := range []string{
		"120", "0", " 7 ", "2.0", "1.5", "+5", "1e3", "86400", "86401", "1000000", "9223372037",
		"99999999999999999999999999", "1e300", "1e400", "1e-400", "Inf", "-Inf", "NaN", "infinity", "-1", "-0", "-0.5",
		"", " ", "soon", "0x10", "0x1p4", "1_000", "٣",
		"Sun, 06 Nov 1994 08:49:37 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "Sun Nov  6 08:49:37 1994",
		"Sat, 14 Mar 2026 12:01:00 GMT", "Saturday, 14-Mar-26 12:00:09 GMT", "Monday, 01-Jan-80 00:00:00 GMT",
		"Fri, 31 Dec 9999 23:59:59 GMT", "Mon, 01 Jan 0001 00:00:00 GMT", "Sun, 06 Nov 1994 25:61:61 GMT",
	} {
		f.Add(v, seedNow)
	}
	f.Add("Monday, 01-Jan-80 00:00:00 GMT", int64(3313526400)) // 2075
	f.Add("Friday, 01-Jan-00 00:00:01 GMT", int64(math.MaxInt64))
	f.Add("Sun, 06 Nov 1994 08:49:37 GMT", int64(math.MinInt64))
	f.Fuzz(func(t *testing.T, v string, nowSec int64) {
		now := fuzzNow(nowSec)
		d, ok := ParseRetryAfter(v, now)
		checkDelay(t, "ParseRetryAfter", d, ok)
		if !ok && d != 0 {
			t.Errorf("not ok but %v", d)
		}
		// A plain count of seconds within the cap is exactly that many seconds.
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil && n <= 86400 {
			if !ok || d != time.Duration(n)*time.Second {
				t.Errorf("ParseRetryAfter(%q) = %v, %v; want %ds", v, d, ok, n)
			}
		}
		// Time passing never lengthens the wait (within a year: an rfc850 year is read relative to
		// now's, so it may change century when the year does).
		later := now.Add(time.Hour)
		if later.Year() == now.Year() {
			d2, ok2 := ParseRetryAfter(v, later)
			if ok2 != ok || d2 > d {
				t.Errorf("ParseRetryAfter(%q): %v, %v at %v but %v, %v an hour later", v, d, ok, now, d2, ok2)
			}
		}
		ms, ok := ParseRetryAfterMillis(v)
		checkDelay(t, "ParseRetryAfterMillis", ms, ok)
		if n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64); err == nil && n <= 86400000 {
			if !ok || ms != time.Duration(n)*time.Millisecond {
				t.Errorf("ParseRetryAfterMillis(%q) = %v, %v; want %dms", v, ms, ok, n)
			}
		}
	})
}

func FuzzParseIETF(f *testing.F) {
	for _, c := range [][2]string{
		{`"burst";q=100;w=60,"daily";q=1000;w=86400`, `"burst";r=50;t=30`},
		{`"default";q=100;w=60`, `"default";r=0;t=42`},
		{`burst;q=100;w=60`, `burst;r=5;t=1`},
		{`"tokens";q=1000;w=60;qu="tokens";pk=:cHJvamVjdDEyMw==:`, `"tokens";r=10;t=2;pk=:cHJvamVjdDEyMw==:`},
		{`"a";q=10.9;w=1.5`, `"a";r=-3;t=-1`},
		{`"a";q=999999999999999;w=999999999999999`, `"a";r=999999999999999;t=999999999999999`},
		{`"a";q=-999999999999999;w=-999999999999.999`, `"a";r=-999999999999999;t=0.001`},
		{`"a";q="100";w=60;qu=?1;d=@1659578233`, `"a";r=?1;t="5"`},
		{`10;w=1, 50;w=60`, `limit=100, remaining=50, reset=5`},
		{`"a",`, `("a" "b")`},
		{`"a";q=1;q=2;q=3`, `"a";r=1, "a";r=2, "b";t=3`},
		{`"a\"b\\";q=1`, `*x;r=1`},
		{`"a";pk=:a$c:`, `%"display"`},
		{"", ""},
		{" \t ", "\t"},
	} {
		f.Add(c[0], c[1])
	}
	f.Fuzz(func(t *testing.T, policy, ratelimit string) {
		quotas, ok := ParseIETF(policy, ratelimit)
		checkQuotas(t, quotas)
		if ok != (len(quotas) > 0) {
			t.Errorf("ok %v with %d quotas", ok, len(quotas))
		}
		policyOnly, _ := ParseIETF(policy, "")
		for _, q := range policyOnly {
			if q.Remaining != -1 || q.Reset != -1 {
				t.Errorf("policy alone gave Remaining %d Reset %v", q.Remaining, q.Reset)
			}
		}
		if len(quotas) < len(policyOnly) {
			t.Errorf("RateLimit %q lost policies: %d quotas, %d without it", ratelimit, len(quotas), len(policyOnly))
		}
		limitsOnly, _ := ParseIETF("", ratelimit)
		for _, q := range limitsOnly {
			if q.Limit != -1 || q.Window != 0 || q.Unit != "requests" {
				t.Errorf("RateLimit alone gave Limit %d Window %v Unit %q", q.Limit, q.Window, q.Unit)
			}
		}
		// Every quota comes from a member of one of the two lists.
		if n := strings.Count(policy, ",") + strings.Count(ratelimit, ",") + 2; len(quotas) > n {
			t.Errorf("%d quotas from %d members at most", len(quotas), n)
		}
	})
}

func FuzzParseIETFLegacy(f *testing.F) {
	for _, c := range [][5]string{
		{"10", "1", "7", "", ""},
		{"10", "0", "1", "10;w=1, 50;w=60", ""},
		{"50", "49", "59", "10;w=1, 50;w=60", ""},
		{"10, 10;window=1, 50;window=60", "9", "", "", ""},
		{"", "", "", "100;w=900", "limit=100, remaining=25, reset=840"},
		{"", "3", "", "", "limit=100, remaining=50, reset=5"},
		{"-1", "-2", "-7", "x;w=-1", "limit=-1, remaining=-1, reset=-1"},
		{"99999999999999999999", "1e300", "1e300", "1;w=1e300", "reset=NaN"},
		{"NaN", "NaN", "NaN", ";;;,,,", "=,=;="},
		{"", "", "", "", ""},
	} {
		f.Add(c[0], c[1], c[2], c[3], c[4])
	}
	f.Fuzz(func(t *testing.T, limit, remaining, reset, policy, ratelimit string) {
		h := http.Header{}
		h.Set("RateLimit-Limit", limit)
		h.Set("RateLimit-Remaining", remaining)
		h.Set("RateLimit-Reset", reset)
		h.Set("RateLimit-Policy", policy)
		h.Set("RateLimit", ratelimit)
		quotas, ok := ParseIETFLegacy(h)
		checkQuotas(t, quotas)
		if ok != (len(quotas) == 1) || len(quotas) > 1 {
			t.Errorf("ok %v with %d quotas", ok, len(quotas))
		}
		for _, q := range quotas {
			if q.Name != "" || q.Unit != "requests" {
				t.Errorf("legacy quota named %q in %q", q.Name, q.Unit)
			}
			if n, err := strconv.ParseInt(strings.TrimSpace(limit), 10, 64); err == nil && n >= 0 && q.Limit != n {
				t.Errorf("RateLimit-Limit %q gave Limit %d", limit, q.Limit)
			}
			if n, err := strconv.ParseUint(strings.TrimSpace(reset), 10, 64); err == nil && n <= 86400 && q.Reset != time.Duration(n)*time.Second {
				t.Errorf("RateLimit-Reset %q gave Reset %v", reset, q.Reset)
			}
		}
	})
}

func FuzzParseXRateLimit(f *testing.F) {
	for _, c := range [][5]string{
		{"5000", "4999", "1", epochIn(time.Hour), "core"},
		{"60", "0", "60", epochIn(-time.Minute), "core"},
		{"5000", "4980", "20", epochIn(time.Minute), "graphql"},
		{"", "599.0", "1", "540", ""},
		{"", "597.9", "2", "0", ""},
		{"5", "1", "", epochIn(time.Second) + ".5", ""},
		{"900", "0", "", "99999999999", ""},
		{"-5", "-1", "", "-3", ""},
		{"", "99999999999999999999", "99999999999999999999", "1e300", ""},
		{"NaN", "Inf", "-Inf", "NaN", " "},
		{"", "", "", "1000000000", ""},
		{"", "", "", "1000000000.5", ""},
		{"", "", "", "", ""},
	} {
		f.Add(c[0], c[1], c[2], c[3], c[4], false, seedNow)
		f.Add(c[0], c[1], c[2], c[3], c[4], true, seedNow)
	}
	f.Add("1", "1", "1", "1e15", "", false, int64(math.MinInt64))
	f.Add("1", "1", "1", "1e16", "", false, int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, limit, remaining, used, reset, resource string, twitter bool, nowSec int64) {
		prefix := "X-Ratelimit-"
		if twitter {
			prefix = "X-Rate-Limit-"
		}
		h := http.Header{}
		h.Set(prefix+"Limit", limit)
		h.Set(prefix+"Remaining", remaining)
		h.Set(prefix+"Used", used)
		h.Set(prefix+"Reset", reset)
		h.Set("X-Ratelimit-Resource", resource)
		quotas, src, ok := ParseXRateLimit(h, fuzzNow(nowSec))
		checkQuotas(t, quotas)
		switch {
		case ok && len(quotas) != 1, !ok && len(quotas) != 0:
			t.Errorf("ok %v with %d quotas", ok, len(quotas))
		case ok && src != SourceGitHub && src != SourceReddit, !ok && src != SourceNone:
			t.Errorf("ok %v from source %q", ok, src)
		}
		if n, err := strconv.ParseUint(strings.TrimSpace(reset), 10, 64); err == nil {
			switch {
			case n <= 86400 && (!ok || quotas[0].Reset != time.Duration(n)*time.Second || src != SourceReddit):
				t.Errorf("delay reset %q gave %+v from %q", reset, quotas, src)
			case n > epochThreshold && (!ok || src != SourceGitHub):
				t.Errorf("epoch reset %q gave %+v from %q", reset, quotas, src)
			}
		}
		if ok && quotas[0].Name != strings.TrimSpace(resource) {
			t.Errorf("resource %q gave Name %q", resource, quotas[0].Name)
		}
	})
}

func FuzzParseDiscord(f *testing.F) {
	for _, c := range [][7]string{
		{"5", "0", epochIn(time.Minute) + ".123", "1", "abcd1234", "", "user"},
		{"5", "4", epochIn(time.Minute) + ".250", "", "b", "", ""},
		{"1", "0", "", "64.57", "", "", "user"},
		{"", "", "", "", "", "true", ""},
		{"", "", "", "", "", " True ", "global"},
		{"", "", "", "3", "", "false", "shared"},
		{"", "", "", "", "b", "", ""},
		{"", "", epochIn(-time.Hour), "-1", "", "", ""},
		{"-1", "-1", "-1", "NaN", "\t", "1", "GLOBAL"},
		{"99999999999999999999", "1e300", "1e300", "1e300", "x", "", ""},
		{"", "", "", "", "", "", ""},
	} {
		f.Add(c[0], c[1], c[2], c[3], c[4], c[5], c[6], seedNow)
	}
	f.Fuzz(func(t *testing.T, limit, remaining, reset, resetAfter, bucket, global, scope string, nowSec int64) {
		h := http.Header{}
		h.Set("X-RateLimit-Limit", limit)
		h.Set("X-RateLimit-Remaining", remaining)
		h.Set("X-RateLimit-Reset", reset)
		h.Set("X-RateLimit-Reset-After", resetAfter)
		h.Set("X-RateLimit-Bucket", bucket)
		h.Set("X-RateLimit-Global", global)
		h.Set("X-RateLimit-Scope", scope)
		quotas, isGlobal, ok := ParseDiscord(h, fuzzNow(nowSec))
		checkQuotas(t, quotas)
		if len(quotas) > 1 || ok != (len(quotas) > 0 || isGlobal) {
			t.Errorf("ok %v, global %v with %d quotas", ok, isGlobal, len(quotas))
		}
		wantGlobal := strings.EqualFold(strings.TrimSpace(global), "true") || strings.EqualFold(strings.TrimSpace(scope), "global")
		if isGlobal != wantGlobal {
			t.Errorf("Global %q Scope %q gave global %v", global, scope, isGlobal)
		}
		for _, q := range quotas {
			if q.Name != strings.TrimSpace(bucket) {
				t.Errorf("bucket %q gave Name %q", bucket, q.Name)
			}
			if n, err := strconv.ParseUint(strings.TrimSpace(resetAfter), 10, 64); err == nil && n <= 86400 && q.Reset != time.Duration(n)*time.Second {
				t.Errorf("Reset-After %q gave Reset %v", resetAfter, q.Reset)
			}
		}
	})
}

func FuzzParseOpenAI(f *testing.F) {
	for _, c := range [][6]string{
		{"60", "59", "1s", "150000", "149984", "6m0s"},
		{"", "", "", "40000", "0", "1h2m3.5s"},
		{"10000", "9999", "12ms", "", "", ""},
		{"-1", "-1", "-1", "1000", "-1", "0.5s"},
		{"0", "0", "0s", "0", "0", "0"},
		{"", "0", "20", "", "", ".5s"},
		{"1e300", "NaN", "2562048h", "99999999999999999999", "-99999999999999999999", "99999999999999999999999h"},
		{"x", "y", "1h1", "1.2.3s", "5µs5μs5us5ns", "+1s"},
		{"", "", "", "", "", ""},
	} {
		f.Add(c[0], c[1], c[2], c[3], c[4], c[5])
	}
	f.Fuzz(func(t *testing.T, limitReq, remainingReq, resetReq, limitTok, remainingTok, resetTok string) {
		h := http.Header{}
		h.Set("X-Ratelimit-Limit-Requests", limitReq)
		h.Set("X-Ratelimit-Remaining-Requests", remainingReq)
		h.Set("X-Ratelimit-Reset-Requests", resetReq)
		h.Set("X-Ratelimit-Limit-Tokens", limitTok)
		h.Set("X-Ratelimit-Remaining-Tokens", remainingTok)
		h.Set("X-Ratelimit-Reset-Tokens", resetTok)
		quotas, ok := ParseOpenAI(h)
		checkQuotas(t, quotas)
		if ok != (len(quotas) > 0) || len(quotas) > 2 {
			t.Errorf("ok %v with %d quotas", ok, len(quotas))
		}
		if len(quotas) == 2 && (quotas[0].Name != "requests" || quotas[1].Name != "tokens") {
			t.Errorf("quotas out of order: %+v", quotas)
		}
		for _, q := range quotas {
			if q.Name != q.Unit || q.Name != "requests" && q.Name != "tokens" {
				t.Errorf("quota %q in %q", q.Name, q.Unit)
			}
			if q.Limit == 0 {
				t.Errorf("a limit of 0 is a placeholder, not a limit: %+v", q)
			}
		}
		// The reset agrees with time.ParseDuration wherever that can read it, up to the rounding of
		// fractional nanoseconds (ParseDuration truncates each term, this package rounds the sum).
		for _, v := range []string{resetReq, resetTok} {
			want, err := time.ParseDuration(strings.TrimSpace(v))
			got, ok := parseGoDuration(v)
			checkDelay(t, "parseGoDuration", got, ok)
			if err != nil {
				continue
			}
			if want < 0 {
				if ok {
					t.Errorf("parseGoDuration(%q) = %v for a negative duration", v, got)
				}
				continue
			}
			want = min(want, MaxDelay)
			diff := got - want
			if tolerance := time.Duration(len(v)) + time.Microsecond; !ok || diff > tolerance || diff < -tolerance {
				t.Errorf("parseGoDuration(%q) = %v, %v; time.ParseDuration says %v", v, got, ok, want)
			}
		}
	})
}

func FuzzParseAnthropic(f *testing.F) {
	f.Add("50", "49", "2026-03-14T12:00:01Z", "90000", "89000", "2026-03-14T12:00:30Z",
		"40000", "39500", "2026-03-14T12:00:30.5Z", "8000", "0", "2026-03-14T13:00:45+01:00", seedNow)
	f.Add("", "", "", "", "0", "2026-03-14T11:59:58Z", "", "", "", "", "", "", seedNow)
	f.Add("", "", "2999-01-01T00:00:00Z", "", "", "0000-01-01T00:00:00Z", "", "", "9999-12-31T23:59:59.999999999Z",
		"", "", "1773489600", seedNow)
	f.Add("-1", "-1", "in 5 seconds", "NaN", "599.9", "2026-03-14T12:00:00+23:59", "1e300", "99999999999999999999",
		"2026-02-30T00:00:00Z", "x", "-5", "2026-03-14t12:00:00z", seedNow)
	f.Add("", "", "", "", "", "", "", "", "", "", "", "", int64(math.MaxInt64))
	f.Fuzz(func(t *testing.T, rl, rr, rt, tl, tr, tt, il, ir, it, ol, or, ot string, nowSec int64) {
		h := http.Header{}
		values := [len(anthropicKinds)][3]string{{rl, rr, rt}, {tl, tr, tt}, {il, ir, it}, {ol, or, ot}}
		for i := range values {
			for j := range values[i] {
				h.Set(anthropicKeys[i][j], values[i][j])
			}
		}
		quotas, ok := ParseAnthropic(h, fuzzNow(nowSec))
		checkQuotas(t, quotas)
		if ok != (len(quotas) > 0) || len(quotas) > len(anthropicKinds) {
			t.Errorf("ok %v with %d quotas", ok, len(quotas))
		}
		last := -1
		for _, q := range quotas {
			i := slices.Index(anthropicKinds[:], q.Name)
			if i <= last || q.Unit != q.Name {
				t.Errorf("quota %q in %q out of place: %+v", q.Name, q.Unit, quotas)
			}
			last = i
		}
	})
}

func FuzzParseShopify(f *testing.F) {
	for _, v := range []string{
		"32/40", "1/40", "40/40", "45/40", " 1 / 80 ", "0/0", "32.0/40.0", "99999999999999999999/40",
		"1/99999999999999999999", "1/Inf", "Inf/Inf", "32", "", "/", "/40", "32/", "a/b", "-1/40", "1/-40",
		"32/40/50", "NaN/40", "1e18/1e19", "-0/-0",
	} {
		f.Add(v)
	}
	f.Fuzz(func(t *testing.T, v string) {
		quotas, ok := ParseShopify(v)
		checkQuotas(t, quotas)
		if ok != (len(quotas) == 1) || len(quotas) > 1 {
			t.Fatalf("ok %v with %d quotas", ok, len(quotas))
		}
		if !ok {
			return
		}
		q := quotas[0]
		if q.Limit < 0 || q.Remaining < 0 || q.Remaining > q.Limit || q.Reset != -1 || q.Name != "" || q.Unit != "requests" {
			t.Errorf("ParseShopify(%q) = %+v", v, q)
		}
		usedV, capV, _ := strings.Cut(v, "/")
		used, err1 := strconv.ParseInt(strings.TrimSpace(usedV), 10, 64)
		capacity, err2 := strconv.ParseInt(strings.TrimSpace(capV), 10, 64)
		if err1 == nil && err2 == nil && (q.Limit != capacity || q.Remaining != max(capacity-used, 0)) {
			t.Errorf("ParseShopify(%q) = %+v; want Limit %d Remaining %d", v, q, capacity, max(capacity-used, 0))
		}
	})
}

func FuzzParse(f *testing.F) {
	// block is more header lines, "Name: value" each, so that the fuzzer can mix any families.
	type seed struct{ ra, policy, rl, limit, remaining, reset, block string }
	for _, c := range []seed{
		{"60", "", "", "5000", "4000", epochIn(time.Hour), "X-Ratelimit-Resource: core\nX-Ratelimit-Used: 1000"},
		{"30", `"default";q=100;w=60`, `"default";r=0;t=30`, "", "", "", ""},
		{"", "100;w=900", "limit=100, remaining=25, reset=840", "", "", "", ""},
		{"", "", "", "100", "0", "840", "Ratelimit-Limit: 100\nRatelimit-Remaining: 0\nRatelimit-Reset: 840"},
		{"", "", "", "", "", "", "Retry-After-Ms: 1500\nX-Ratelimit-Remaining-Tokens: 0\nX-Ratelimit-Reset-Tokens: 1m30s"},
		{"30", "", "", "", "", "", "Anthropic-Ratelimit-Tokens-Reset: 2026-03-14T12:00:30Z\nAnthropic-Ratelimit-Tokens-Remaining: 0"},
		{"65", "", "", "", "", "", "X-Ratelimit-Global: true"},
		{"1", "", "", "5", "0", epochIn(time.Second) + ".470", "X-Ratelimit-Reset-After: 1.470\nX-Ratelimit-Bucket: abcd1234\nX-Ratelimit-Scope: user"},
		{"2.0", "", "", "", "", "", "X-Shopify-Shop-Api-Call-Limit: 40/40"},
		{"", "", "", "", "599.0", "540", "X-Ratelimit-Used: 1"},
		{"", "", "", "900", "0", epochIn(time.Minute), "X-Rate-Limit-Limit: 900"},
		{"", "", "", "", "", "", "X-Shopify-Shop-Api-Call-Limit: 1/40\nX-Ratelimit-Scope: global\nAnthropic-Ratelimit-Requests-Limit: 5\nX-Ratelimit-Limit-Requests: 7"},
		{"", "", "", "", "", "", "X-Shopify-Shop-Api-Call-Limit: 1/40\nX-Ratelimit-Scope: global"},
		{"", "", "", "", "", "", "Anthropic-Ratelimit-Tokens-Remaining: 5\nX-Ratelimit-Remaining-Tokens: 7"},
		{"NaN", `"a",`, `"a";r=`, "NaN", "NaN", "NaN", "X-Ratelimit-Scope: global\nRetry-After-Ms: NaN"},
		{"-1", "", "", "", "", "", "Stripe-Should-Retry: true\nRetry-After: 5"},
		{"Sun, 06 Nov 1994 08:49:37 GMT", "", "", "", "", "", "Ratelimit-Policy: \nRatelimit-Policy: \"b\";q=1"},
		{"", "", "", "", "", "", ""},
	} {
		f.Add(c.ra, c.policy, c.rl, c.limit, c.remaining, c.reset, c.block, seedNow)
	}
	f.Fuzz(func(t *testing.T, ra, policy, rl, limit, remaining, reset, block string, nowSec int64) {
		now := fuzzNow(nowSec)
		h := http.Header{}
		set := func(k, v string) {
			if v != "" {
				h.Add(k, v)
			}
		}
		set("Retry-After", ra)
		set("RateLimit-Policy", policy)
		set("RateLimit", rl)
		set("X-RateLimit-Limit", limit)
		set("X-RateLimit-Remaining", remaining)
		set("X-RateLimit-Reset", reset)
		for line := range strings.SplitSeq(block, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				h.Add(strings.TrimSpace(k), strings.TrimSpace(v))
			}
		}

		s := Parse(h, now)
		if all := parseAll(h, now); !reflect.DeepEqual(s, all) {
			t.Errorf("Parse = %+v, but every parser finds %+v", s, all)
		}
		checkQuotas(t, s.Quotas)
		if s.RetryAfter != -1 && (s.RetryAfter < 0 || s.RetryAfter > MaxDelay) {
			t.Errorf("RetryAfter %v", s.RetryAfter)
		}
		if s.Empty() != (s.RetryAfter < 0 && len(s.Quotas) == 0 && !s.Global) {
			t.Errorf("Empty() = %v for %+v", s.Empty(), s)
		}
		if s.Global && s.Source != SourceDiscord {
			t.Errorf("Global from %q", s.Source)
		}
		d, exhausted := s.Exhausted()
		spent := slices.ContainsFunc(s.Quotas, func(q Quota) bool { return q.Remaining == 0 && q.Reset >= 0 })
		if exhausted != spent || d < 0 || d > MaxDelay || !exhausted && d != 0 {
			t.Errorf("Exhausted() = %v, %v for %+v", d, exhausted, s.Quotas)
		}

		// The quotas are those of the first family, in Parse's documented order, whose parser
		// recognises the header; RetryAfter stands alone only when none does.
		type family struct {
			src    Source
			quotas []Quota
			ok     bool
		}
		var families []family
		add := func(src Source, q []Quota, ok bool) { families = append(families, family{src, q, ok}) }
		q, ok := parseIETFHeader(h)
		add(SourceIETF, q, ok)
		q, ok = ParseIETFLegacy(h)
		add(SourceIETFLegacy, q, ok)
		q, ok = ParseOpenAI(h)
		add(SourceOpenAI, q, ok)
		q, ok = ParseAnthropic(h, now)
		add(SourceAnthropic, q, ok)
		q, global, ok := ParseDiscord(h, now)
		add(SourceDiscord, q, ok)
		q, ok = ParseShopify(singleton(h, "X-Shopify-Shop-Api-Call-Limit"))
		add(SourceShopify, q, ok)
		q, src, ok := ParseXRateLimit(h, now)
		add(src, q, ok)

		want := family{src: SourceNone}
		if s.RetryAfter >= 0 {
			want.src = SourceRetryAfter
		}
		for _, fam := range families {
			if fam.ok {
				want = fam
				break
			}
		}
		if s.Source != want.src || !slices.Equal(s.Quotas, want.quotas) {
			t.Errorf("Parse gave %q %+v; the first family to match is %q %+v", s.Source, s.Quotas, want.src, want.quotas)
		}
		if s.Source == SourceDiscord && s.Global != global {
			t.Errorf("Parse gave Global %v, ParseDiscord %v", s.Global, global)
		}
		if (s.Source == SourceNone || s.Source == SourceRetryAfter) && len(s.Quotas) > 0 {
			t.Errorf("quotas from %q", s.Source)
		}
	})
}

// repeatedKeys are the fields the parsers read, for FuzzRepeatedFields to send twice.
var repeatedKeys = func() []string {
	keys := []string{"Retry-After", "Retry-After-Ms", "Ratelimit-Policy", "Ratelimit", "Ratelimit-Limit", "Ratelimit-Remaining",
		"Ratelimit-Reset", "X-Ratelimit-Resource", "X-Ratelimit-Reset-After", "X-Ratelimit-Bucket", "X-Ratelimit-Global",
		"X-Ratelimit-Scope", shopifyKey}
	keys = append(keys, xRateLimitKeys[:]...)
	keys = append(keys, xRateLimitTwitterKeys[:]...)
	for _, k := range openAIKeys {
		keys = append(keys, k[:]...)
	}
	for _, k := range anthropicKeys {
		keys = append(keys, k[:]...)
	}
	return keys
}()

// FuzzRepeatedFields sends one field twice, a then b in one header and b then a in another, beside
// more lines (block, "Name: value" each) added in one order to the first and in the reverse order
// to the second: what Parse makes of them must not depend on the order, every delay stays within
// MaxDelay, and a field sent twice alike reads as if sent once.
func FuzzRepeatedFields(f *testing.F) {
	index := func(key string) uint8 { return uint8(slices.Index(repeatedKeys, key)) }
	for _, c := range []struct{ key, a, b, block string }{
		{"Retry-After", "5", "3600", ""},
		{"Retry-After", "5", " 5 ", ""},
		{"Retry-After", "", "7", "Retry-After-Ms: 250"},
		{"Retry-After", "Sat, 14 Mar 2026 12:01:00 GMT", "60", "Retry-After-Ms: 250\nRetry-After-Ms: 500"},
		{"Retry-After-Ms", "250", "1e309", ""},
		{"X-Ratelimit-Remaining", "0", "4000", "X-Ratelimit-Limit: 5000\nX-Ratelimit-Reset: " + epochIn(time.Hour) + "\nX-Ratelimit-Resource: core"},
		{"X-Ratelimit-Reset", epochIn(time.Minute), "1e309", "X-Ratelimit-Limit: 5000\nX-Ratelimit-Remaining: 0"},
		{"X-Rate-Limit-Reset", "99999999999", "60", "X-Rate-Limit-Remaining: 0\nX-Ratelimit-Remaining: 1"},
		{"Ratelimit", `"a";r=0;t=5`, `"a";r=50;t=5`, `Ratelimit-Policy: "a";q=100;w=60`},
		{"Ratelimit", `"a";r=5;t=1`, `"a";r=5;t=1`, `Ratelimit-Policy: "a";q=100;w=60` + "\nRatelimit: \"b\";r=-1;t=3"},
		{"Ratelimit", `"x`, `y";r=0;t=5`, ""},
		{"Ratelimit", "limit=100, remaining=0, reset=5", "limit=100, remaining=50, reset=5", ""},
		{"Ratelimit-Policy", `"a";q=100;w=60`, `"a";q=10;w=1`, `Ratelimit: "a";r=5;t=1`},
		{"Ratelimit-Policy", "10;w=1, 50;w=60", "50;w=60", "Ratelimit-Limit: 50\nRatelimit-Remaining: 0\nRatelimit-Reset: 9"},
		{"Ratelimit-Remaining", "0", "9", "Ratelimit-Limit: 10\nRatelimit-Reset: 7"},
		{"X-Ratelimit-Remaining-Tokens", "0", "29000", "X-Ratelimit-Limit-Tokens: 30000\nX-Ratelimit-Reset-Tokens: 1m30s"},
		{"Anthropic-Ratelimit-Tokens-Reset", "2026-03-14T12:00:30Z", "2999-01-01T00:00:00Z", "Anthropic-Ratelimit-Tokens-Remaining: 0"},
		{"X-Ratelimit-Reset-After", "1.5", "86400", "X-Ratelimit-Remaining: 0\nX-Ratelimit-Bucket: b"},
		{"X-Ratelimit-Global", "true", "false", "Retry-After: 65"},
		{"X-Ratelimit-Bucket", "a", "b", "X-Ratelimit-Remaining: 0\nX-Ratelimit-Reset: 5"},
		{shopifyKey, "40/40", "1/40", "Retry-After: 2.0"},
		{"Retry-After", "", "", ""},
	} {
		f.Add(index(c.key), c.a, c.b, c.block, seedNow)
	}
	f.Fuzz(func(t *testing.T, key uint8, a, b, block string, nowSec int64) {
		now := fuzzNow(nowSec)
		name := repeatedKeys[int(key)%len(repeatedKeys)]
		var lines [][2]string
		for line := range strings.SplitSeq(block, "\n") {
			if k, v, ok := strings.Cut(line, ":"); ok {
				lines = append(lines, [2]string{strings.TrimSpace(k), v})
			}
		}
		build := func(values ...string) (forward, backward http.Header) {
			forward, backward = http.Header{}, http.Header{}
			for i, v := range values {
				forward.Add(name, v)
				backward.Add(name, values[len(values)-1-i])
			}
			for i, l := range lines {
				forward.Add(l[0], l[1])
				r := lines[len(lines)-1-i]
				backward.Add(r[0], r[1])
			}
			return forward, backward
		}

		ab, ba := build(a, b)
		s1, s2 := Parse(ab, now), Parse(ba, now)
		if !sameSignal(s1, s2) {
			t.Errorf("the order of the lines matters:\n\t%v\n\tgives %+v\n\t%v\n\tgives %+v", ab, s1, ba, s2)
		}
		for _, s := range []Signal{s1, s2} {
			checkQuotas(t, s.Quotas)
			if s.RetryAfter != -1 && (s.RetryAfter < 0 || s.RetryAfter > MaxDelay) {
				t.Errorf("RetryAfter %v outside {-1} ∪ [0, MaxDelay]", s.RetryAfter)
			}
		}
		// The client's own reading of Retry-After agrees with Parse's, in both orders.
		for _, h := range []http.Header{ab, ba} {
			d, ok := RetryAfter(h, now)
			checkDelay(t, "RetryAfter", d, ok)
			if want := s1.RetryAfter; ok != (want >= 0) || ok && d != want {
				t.Errorf("RetryAfter(%v) = %v, %v; Parse says %v", h, d, ok, want)
			}
		}

		twice, _ := build(a, a)
		once, _ := build(a)
		if s1, s2 := Parse(twice, now), Parse(once, now); !sameSignal(s1, s2) {
			t.Errorf("a line sent twice alike is not read as once:\n\t%v\n\tgives %+v\n\t%v\n\tgives %+v", twice, s1, once, s2)
		}
	})
}
