package headers

import (
	"math"
	"net/http"
	"strings"
	"time"
)

// ParseIETF reads drafts 08-10's fields: policy is a RateLimit-Policy value (`"burst";q=100;w=60`:
// quota q, window w seconds, unit qu), ratelimit a RateLimit value (`"burst";r=50;t=30`: remaining
// r, t seconds to more), matched by name; either may be empty. A number missing, mistyped,
// negative or stated two ways under one name is unknown; a negative r drops its item. A malformed
// or older-draft field (items not names) is ignored whole. ok reports any quota found.
func ParseIETF(policy, ratelimit string) ([]Quota, bool) {
	return ietfQuotas(ietfItems(policy), ietfItems(ratelimit))
}

// parseIETFHeader is ParseIETF of h's RateLimit-Policy and RateLimit fields, each line a list
// of its own (see sfLines).
func parseIETFHeader(h http.Header) ([]Quota, bool) {
	return ietfQuotas(sfLines(h, "Ratelimit-Policy"), sfLines(h, "Ratelimit"))
}

// ietfQuotas combines parsed RateLimit-Policy and RateLimit items (see ParseIETF).
func ietfQuotas(policies, limits []sfItem) ([]Quota, bool) {
	var quotas []Quota
	// Quotas are found by name in maps: scanning the list for each item instead would let a
	// hostile pair of fields cost n² comparisons.
	byName := make(map[string]int, len(policies))
	for _, it := range policies {
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
		if i, seen := byName[name]; !seen {
			byName[name] = len(quotas)
			quotas = append(quotas, q)
		} else if quotas[i] != q {
			// Two policies of one name that disagree: neither is believed. Once unknown, the
			// quota stays so, since no later policy equals it unless it says nothing either.
			quotas[i] = Quota{Name: name, Unit: "requests", Limit: -1, Remaining: -1, Reset: -1}
		}
	}

	// What the RateLimit items say, by name, in the order the names first appear.
	type current struct {
		name      string
		remaining int64
		reset     time.Duration
	}
	var items []current
	itemOf := make(map[string]int, len(limits))
	for _, it := range limits {
		name, _ := it.bare.name()
		c := current{name: name, remaining: -1, reset: -1}
		if v, ok := it.param("r"); ok && v.isNumber() {
			if v.num < 0 {
				continue
			}
			c.remaining = int64(math.Floor(v.num))
		}
		if v, ok := it.param("t"); ok && v.isNumber() && v.num >= 0 {
			c.reset = seconds(v.num)
		}
		if i, seen := itemOf[name]; !seen {
			itemOf[name] = len(items)
			items = append(items, c)
		} else if items[i] != c {
			items[i] = current{name: name, remaining: -1, reset: -1}
		}
	}
	for _, c := range items {
		i, ok := byName[c.name]
		if !ok {
			i = len(quotas)
			quotas = append(quotas, Quota{Name: c.name, Unit: "requests", Limit: -1})
		}
		quotas[i].Remaining, quotas[i].Reset = c.remaining, c.reset
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

// ParseIETFLegacy reads the drafts before 08: RateLimit-Limit, -Remaining and -Reset (seconds), an
// old-style `RateLimit-Policy: 10;w=1, 50;w=60` for the Window (of the element whose quota is the
// limit, else the first), and draft-07's `RateLimit: limit=100, remaining=50, reset=5` for what
// the separate fields leave unknown. It returns one quota, with no name; ok reports whether any
// number was found.
func ParseIETFLegacy(h http.Header) ([]Quota, bool) {
	limitField := singleton(h, "Ratelimit-Limit")
	q := Quota{
		Unit:      "requests",
		Limit:     limitValue(firstElement(limitField)),
		Remaining: remainingValue(firstElement(singleton(h, "Ratelimit-Remaining"))),
		Reset:     -1,
	}
	if d, ok := delayValue(firstElement(singleton(h, "Ratelimit-Reset"))); ok {
		q.Reset = d
	}
	if q.Limit < 0 || q.Remaining < 0 || q.Reset < 0 {
		draft07(singleton(h, "Ratelimit"), &q)
	}
	if q.Limit < 0 && q.Remaining < 0 && q.Reset < 0 {
		return nil, false
	}
	q.Window = legacyWindow(singleton(h, "Ratelimit-Policy"), q.Limit)
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
// A member stated twice with values that differ is unknown, whichever came first.
func draft07(field string, q *Quota) {
	var vals [3]string // limit, remaining, reset, trimmed
	var differ [3]bool
	for member := range strings.SplitSeq(field, ",") {
		member, _, _ = strings.Cut(member, ";")
		key, val, found := strings.Cut(member, "=")
		if !found {
			continue
		}
		var k int
		switch strings.ToLower(strings.TrimSpace(key)) {
		case "limit":
			k = 0
		case "remaining":
			k = 1
		case "reset":
			k = 2
		default:
			continue
		}
		switch val = strings.TrimSpace(val); {
		case val == "":
		case vals[k] == "":
			vals[k] = val
		case vals[k] != val:
			differ[k] = true
		}
	}
	if q.Limit < 0 && !differ[0] {
		q.Limit = limitValue(vals[0])
	}
	if q.Remaining < 0 && !differ[1] {
		q.Remaining = remainingValue(vals[1])
	}
	if d, ok := delayValue(vals[2]); ok && q.Reset < 0 && !differ[2] {
		q.Reset = d
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
