package headers

import "strings"

// shopifyKey is X-Shopify-Shop-Api-Call-Limit in canonical form.
const shopifyKey = "X-Shopify-Shop-Api-Call-Limit"

// ParseShopify reads X-Shopify-Shop-Api-Call-Limit: "used/capacity" of a leaky bucket. "32/40"
// means 32 used of 40, so 8 remain (not 32). Remaining is clamped at 0 when used exceeds capacity;
// Reset is unknown (the bucket leaks continuously, at a rate the header does not give).
func ParseShopify(v string) ([]Quota, bool) {
	usedV, capV, found := strings.Cut(v, "/")
	if !found {
		return nil, false
	}
	used, ok1 := parseCount(usedV)
	capacity, ok2 := parseCount(capV)
	if !ok1 || !ok2 || used < 0 || capacity < 0 {
		return nil, false
	}
	return []Quota{{
		Unit:      "requests",
		Limit:     capacity,
		Remaining: max(capacity-used, 0),
		Reset:     -1,
	}}, true
}
