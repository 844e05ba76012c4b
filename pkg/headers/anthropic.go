package headers

import (
	"net/http"
	"time"
)

// ParseAnthropic reads anthropic-ratelimit-{requests,tokens,input-tokens,output-tokens}-
// {limit,remaining,reset}: one quota per kind with any usable header, named and counted in that
// kind ("requests", "tokens", "input-tokens", "output-tokens"), in that order. The reset is an
// RFC 3339 timestamp counted from now; clock skew makes past ones common, and they give 0. A
// field sent more than once with values that differ is ignored.
func ParseAnthropic(h http.Header, now time.Time) ([]Quota, bool) {
	var quotas []Quota
	for i, kind := range anthropicKinds {
		keys := anthropicKeys[i]
		q := Quota{
			Name:      kind,
			Unit:      kind,
			Limit:     limitValue(singleton(h, keys[0])),
			Remaining: remainingValue(singleton(h, keys[1])),
			Reset:     -1,
		}
		if v := singleton(h, keys[2]); v != "" {
			if t, err := time.Parse(time.RFC3339, v); err == nil {
				q.Reset = until(t, now)
			}
		}
		if q.Limit >= 0 || q.Remaining >= 0 || q.Reset >= 0 {
			quotas = append(quotas, q)
		}
	}
	return quotas, len(quotas) > 0
}

var anthropicKinds = [...]string{"requests", "tokens", "input-tokens", "output-tokens"}

// anthropicKeys are the limit, remaining and reset keys of each kind, in canonical form.
var anthropicKeys = func() (keys [len(anthropicKinds)][3]string) {
	for i, kind := range anthropicKinds {
		for j, field := range [...]string{"limit", "remaining", "reset"} {
			keys[i][j] = http.CanonicalHeaderKey("anthropic-ratelimit-" + kind + "-" + field)
		}
	}
	return keys
}()
