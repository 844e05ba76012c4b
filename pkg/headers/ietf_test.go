package headers

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseIETF(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name              string
		policy, ratelimit string
		want              []Quota
	}{
		{"policies combined with their RateLimit item",
			`"burst";q=100;w=60,"daily";q=1000;w=86400`, `"burst";r=50;t=30`,
			[]Quota{quota("burst", "requests", 100, 50, 30*s, 60*s), quota("daily", "requests", 1000, -1, -1, 86400*s)}},
		{"Cloudflare, exhausted",
			`"default";q=100;w=60`, `"default";r=0;t=42`,
			[]Quota{quota("default", "requests", 100, 0, 42*s, 60*s)}},
		{"RateLimit without a policy",
			``, `"default";r=50;t=30`,
			[]Quota{quota("default", "requests", -1, 50, 30*s, 0)}},
		{"draft 08 tokens",
			`burst;q=100;w=60`, `burst;r=5;t=1`,
			[]Quota{quota("burst", "requests", 100, 5, s, 60*s)}},
		{"quota unit and partition key",
			`"tokens";q=1000;w=60;qu="tokens";pk=:cHJvamVjdDEyMw==:`, `"tokens";r=10;t=2;pk=:cHJvamVjdDEyMw==:`,
			[]Quota{quota("tokens", "tokens", 1000, 10, 2*s, 60*s)}},
		{"an item with no policy comes after the policies",
			`"a";q=1;w=1`, `"b";r=2;t=3, "a";r=0;t=1`,
			[]Quota{quota("a", "requests", 1, 0, s, s), quota("b", "requests", -1, 2, 3*s, 0)}},
		{"several policies, one item",
			`"a";q=10;w=1, "b";q=20;w=2`, `"b";r=19`,
			[]Quota{quota("a", "requests", 10, -1, -1, s), quota("b", "requests", 20, 19, -1, 2*s)}},
		{"malformed policy ignored as a whole",
			`"burst";q=100;w=60,`, `"burst";r=5`,
			[]Quota{quota("burst", "requests", -1, 5, -1, 0)}},
		{"malformed RateLimit ignored as a whole",
			`"burst";q=100;w=60`, `"burst";r=5;t=`,
			[]Quota{quota("burst", "requests", 100, -1, -1, 60*s)}},
		{"an item with a negative r is ignored, decimals",
			`"a";q=10.9;w=1.5`, `"a";r=-3;t=-1`,
			[]Quota{quota("a", "requests", 10, -1, -1, 1500*time.Millisecond)}},
		{"a negative r is no spent quota",
			``, `"default";r=-1;t=30`,
			nil},
		{"a negative r is ignored, another item of the name stands",
			`"a";q=10;w=1`, `"a";r=-1;t=30, "a";r=4;t=1`,
			[]Quota{quota("a", "requests", 10, 4, s, s)}},
		{"a negative t is unknown",
			``, `"a";r=5;t=-1`,
			[]Quota{quota("a", "requests", -1, 5, -1, 0)}},
		{"fractional r floored, fractional t kept",
			``, `"a";r=2.7;t=0.25`,
			[]Quota{quota("a", "requests", -1, 2, 250*time.Millisecond, 0)}},
		{"parameters of the wrong type are unknown",
			`"a";q="100";w=60;qu=?1`, `"a";r=?1;t="5"`,
			[]Quota{quota("a", "requests", -1, -1, -1, 60*s)}},
		{"absurd t and w capped",
			`"a";q=999999999999999;w=999999999999999`, `"a";r=999999999999999;t=999999999999999`,
			[]Quota{quota("a", "requests", 999999999999999, 999999999999999, MaxDelay, MaxDelay)}},
		{"w=0 is no window", `"a";q=5;w=0`, ``, []Quota{quota("a", "requests", 5, -1, -1, 0)}},
		{"items that say nothing are dropped", `"a","b";q=1`, `"c"`, []Quota{quota("b", "requests", 1, -1, -1, 0)}},
		{"nothing", ``, ``, nil},
		{"only empty items", `"a"`, `"b";pk=:AA==:`, nil},
		{"legacy policy is not this form", `10;w=1, 50;w=60`, ``, nil},
		{"draft-07 RateLimit is not this form", ``, `limit=100, remaining=50, reset=5`, nil},
		{"an item that is not a name spoils the field", `"a";q=1, 10;w=1`, ``, nil},
		{"both malformed", `"a`, `"b`, nil},
	} {
		got, ok := ParseIETF(tc.policy, tc.ratelimit)
		if ok != (len(tc.want) > 0) || !slices.Equal(got, tc.want) {
			t.Errorf("%s: ParseIETF(%q, %q) =\n\t%+v, %v\nwant\n\t%+v", tc.name, tc.policy, tc.ratelimit, got, ok, tc.want)
		}
		checkQuotas(t, got)
	}
}

func TestParseIETFLegacy(t *testing.T) {
	s := time.Second
	for _, tc := range []struct {
		name string
		kv   []string
		want []Quota
	}{
		{"three fields", []string{"RateLimit-Limit", "10", "RateLimit-Remaining", "1", "RateLimit-Reset", "7"},
			[]Quota{quota("", "requests", 10, 1, 7*s, 0)}},
		{"old policy: first element's window",
			[]string{"RateLimit-Limit", "10", "RateLimit-Remaining", "0", "RateLimit-Reset", "1", "RateLimit-Policy", "10;w=1, 50;w=60"},
			[]Quota{quota("", "requests", 10, 0, s, s)}},
		{"old policy: the element matching the limit",
			[]string{"RateLimit-Limit", "50", "RateLimit-Remaining", "49", "RateLimit-Reset", "59", "RateLimit-Policy", "10;w=1, 50;w=60"},
			[]Quota{quota("", "requests", 50, 49, 59*s, 60*s)}},
		{"express-rate-limit draft-6", []string{"RateLimit-Policy", "100;w=900", "RateLimit-Limit", "100", "RateLimit-Remaining", "99", "RateLimit-Reset", "900"},
			[]Quota{quota("", "requests", 100, 99, 900*s, 900*s)}},
		{"policies listed in RateLimit-Limit", []string{"RateLimit-Limit", "10, 10;window=1, 50;window=60", "RateLimit-Remaining", "9"},
			[]Quota{quota("", "requests", 10, 9, -1, s)}},
		{"draft-07 single field", []string{"RateLimit", "limit=100, remaining=50, reset=5"},
			[]Quota{quota("", "requests", 100, 50, 5*s, 0)}},
		{"draft-07 with policy", []string{"RateLimit", "limit=100, remaining=25, reset=840", "RateLimit-Policy", "100;w=900"},
			[]Quota{quota("", "requests", 100, 25, 840*s, 900*s)}},
		{"draft-07 fills what the separate fields leave unknown", []string{"RateLimit-Remaining", "3", "RateLimit", "limit=100, remaining=50, reset=5"},
			[]Quota{quota("", "requests", 100, 3, 5*s, 0)}},
		{"negative remaining is 0, negative reset unknown", []string{"RateLimit-Limit", "10", "RateLimit-Remaining", "-2", "RateLimit-Reset", "-7"},
			[]Quota{quota("", "requests", 10, 0, -1, 0)}},
		{"garbage is unknown", []string{"RateLimit-Limit", "ten", "RateLimit-Remaining", "1"},
			[]Quota{quota("", "requests", -1, 1, -1, 0)}},
		{"absurd values clamp", []string{"RateLimit-Limit", "99999999999999999999", "RateLimit-Reset", "1e300"},
			[]Quota{quota("", "requests", 1<<63-1, -1, MaxDelay, 0)}},
		{"whitespace", []string{"RateLimit-Limit", " 10 ", "RateLimit-Reset", " 2.5 "},
			[]Quota{quota("", "requests", 10, -1, 2500*time.Millisecond, 0)}},
		{"a policy alone says nothing", []string{"RateLimit-Policy", "10;w=1"}, nil},
		{"nothing", nil, nil},
	} {
		got, ok := ParseIETFLegacy(header(tc.kv...))
		if ok != (len(tc.want) > 0) || !slices.Equal(got, tc.want) {
			t.Errorf("%s: ParseIETFLegacy(%q) =\n\t%+v, %v\nwant\n\t%+v", tc.name, tc.kv, got, ok, tc.want)
		}
		checkQuotas(t, got)
	}
}

// TestParseIETFHostile feeds fields as large as a response header may be (net/http's client allows
// 10 MB), with many items and many parameters: this must take time in proportion to their size.
// A quadratic match of items to policies would take minutes here.
func TestParseIETFHostile(t *testing.T) {
	const n = 50000
	var policy, ratelimit, params strings.Builder
	for i := range n {
		if i > 0 {
			policy.WriteByte(',')
			ratelimit.WriteByte(',')
		}
		fmt.Fprintf(&policy, `"p%d";q=%d;w=60`, i, i)
		fmt.Fprintf(&ratelimit, `"r%d";r=%d;t=1`, i, i)
		fmt.Fprintf(&params, ";k%d=%d", i, i)
	}
	quotas, ok := ParseIETF(policy.String(), ratelimit.String())
	if !ok || len(quotas) != 2*n {
		t.Fatalf("got %d quotas, %v; want %d", len(quotas), ok, 2*n)
	}
	quotas, ok = ParseIETF(`"a";q=5`+params.String()+`;w=9`, "")
	if !ok || len(quotas) != 1 || quotas[0].Limit != 5 || quotas[0].Window != 9*time.Second {
		t.Fatalf("got %+v, %v", quotas, ok)
	}
}
