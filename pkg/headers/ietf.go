package headers

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// ParseIETF reads the current drafts' (08-10) Structured Fields: policy is the RateLimit-Policy
// value (`"burst";q=100;w=60,"daily";q=1000;w=86400`: quota q, window w in seconds, unit qu,
// partition key pk, which is ignored) and ratelimit the RateLimit value (`"default";r=50;t=30`:
// remaining r, seconds t until more quota arrives). Either may be empty. A malformed field is
// ignored as a whole, as RFC 9651 asks; so is one whose items are not names (strings or tokens),
// which is how the older drafts' `RateLimit-Policy: 10;w=1` and draft-07's `RateLimit: limit=...`
// are told apart from the current form.
//
// Each RateLimit item is matched by name to a policy to combine Limit and Window with Remaining
// and Reset. An item with no policy is still a quota (Limit -1); a policy with no item has
// Remaining -1 and Reset -1. A parameter that is missing or of the wrong type leaves its number
// unknown; an item that says nothing at all is dropped. ok reports whether any quota was found.
func ParseIETF(policy, ratelimit string) ([]Quota, bool) {
	policies := ietfItems(policy)
	limits := ietfItems(ratelimit)

	var quotas []Quota
	// The policies not yet matched, by name: scanning the list for each item instead would let a
	// hostile pair of fields cost n² comparisons.
	unmatched := make(map[string][]int, len(policies))
	for i, it := range policies {
		name, _ := it.bare.name()
		q := Quota{Name: name, Unit: "requests", Limit: -1, Remaining: -1, Reset: -1}
		if v, ok := it.param("q"); ok && v.isNumber() && v.num >= 0 {
			q.Limit = int64(math.Floor(v.num))
		}
		if v, ok := it.param("w"); ok && v.isNumber() && v.num > 0 {
			q.Window = seconds(v.num)
		}
		if v, ok := it.param("qu"); ok {
			if u, ok := v.name(); ok && u != "" {
				q.Unit = u
			}
		}
		quotas = append(quotas, q)
		unmatched[name] = append(unmatched[name], i)
	}
	for _, it := range limits {
		name, _ := it.bare.name()
		var i int
		if same := unmatched[name]; len(same) > 0 {
			i, unmatched[name] = same[0], same[1:]
		} else {
			quotas = append(quotas, Quota{Name: name, Unit: "requests", Limit: -1, Remaining: -1, Reset: -1})
			i = len(quotas) - 1
		}
		q := &quotas[i]
		if v, ok := it.param("r"); ok && v.isNumber() {
			q.Remaining = max(int64(math.Floor(v.num)), 0)
		}
		if v, ok := it.param("t"); ok && v.isNumber() && v.num >= 0 {
			q.Reset = seconds(v.num)
		}
	}
	kept := quotas[:0]
	for _, q := range quotas {
		if q.Limit >= 0 || q.Remaining >= 0 || q.Reset >= 0 || q.Window > 0 {
			kept = append(kept, q)
		}
	}
	if len(kept) == 0 {
		return nil, false
	}
	return kept, true
}

// ietfItems parses a RateLimit or RateLimit-Policy field; malformed fields and fields with an item
// that is not a name give nothing.
func ietfItems(field string) []sfItem {
	items, ok := parseSFList(field)
	if !ok {
		return nil
	}
	for _, it := range items {
		if _, ok := it.bare.name(); !ok {
			return nil
		}
	}
	return items
}

// ParseIETFLegacy reads the fields of the drafts before 08, still widely deployed:
// RateLimit-Limit, RateLimit-Remaining and RateLimit-Reset (a delay in seconds, capped at
// MaxDelay), with an optional old-style
// `RateLimit-Policy: 10;w=1, 50;w=60` that gives the Window (of the element whose quota equals
// the limit, else of the first); and draft-07's single
// `RateLimit: limit=100, remaining=50, reset=5`, which fills whatever the separate fields left
// unknown. It returns one quota, with no name; ok reports whether any number was found.
func ParseIETFLegacy(h http.Header) ([]Quota, bool) {
	limitField := h.Get("Ratelimit-Limit")
	q := Quota{
		Unit:      "requests",
		Limit:     limitValue(firstElement(limitField)),
		Remaining: remainingValue(firstElement(h.Get("Ratelimit-Remaining"))),
		Reset:     -1,
	}
	if d, ok := delayValue(firstElement(h.Get("Ratelimit-Reset"))); ok {
		q.Reset = d
	}
	if q.Limit < 0 || q.Remaining < 0 || q.Reset < 0 {
		draft07(h.Get("Ratelimit"), &q)
	}
	if q.Limit < 0 && q.Remaining < 0 && q.Reset < 0 {
		return nil, false
	}
	q.Window = legacyWindow(h.Get("Ratelimit-Policy"), q.Limit)
	if q.Window == 0 {
		// Drafts 00-02 listed the policies in RateLimit-Limit itself: `10, 10;window=1, 50;window=60`.
		q.Window = legacyWindow(limitField, q.Limit)
	}
	return []Quota{q}, true
}

// firstElement returns a legacy field's value before any list element or parameter: "10" from
// "10, 10;w=1".
func firstElement(v string) string {
	if i := strings.IndexAny(v, ",;"); i >= 0 {
		v = v[:i]
	}
	return v
}

// draft07 fills q's unknown numbers from draft-07's `RateLimit: limit=100, remaining=50, reset=5`.
func draft07(field string, q *Quota) {
	for member := range strings.SplitSeq(field, ",") {
		member, _, _ = strings.Cut(member, ";")
		key, val, found := strings.Cut(member, "=")
		if !found {
			continue
		}
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "limit":
			if q.Limit < 0 {
				q.Limit = limitValue(val)
			}
		case "remaining":
			if q.Remaining < 0 {
				q.Remaining = remainingValue(val)
			}
		case "reset":
			if d, ok := delayValue(val); ok && q.Reset < 0 {
				q.Reset = d
			}
		}
	}
}

// legacyWindow reads an old-style policy list (`10;w=1, 50;w=60`, or `window=` in the oldest
// drafts) and returns the window of the element whose quota equals limit, else of the first
// element that states one; 0 if none does.
func legacyWindow(field string, limit int64) time.Duration {
	var first time.Duration
	for element := range strings.SplitSeq(field, ",") {
		params := strings.Split(element, ";")
		var w time.Duration
		for _, p := range params[1:] {
			key, val, _ := strings.Cut(p, "=")
			switch strings.ToLower(strings.TrimSpace(key)) {
			case "w", "window":
				if d, ok := delayValue(val); ok && d > 0 {
					w = d
				}
			}
		}
		if w == 0 {
			continue
		}
		if n, ok := parseCount(params[0]); ok && limit >= 0 && n == limit {
			return w
		}
		if first == 0 {
			first = w
		}
	}
	return first
}
