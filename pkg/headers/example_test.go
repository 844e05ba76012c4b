package headers_test

import (
	"fmt"
	"net/http"
	"time"

	"github.com/weir-go/weir/pkg/headers"
)

func ExampleParse() {
	// A GitHub response once the hourly quota is spent.
	now := time.Date(2026, 3, 14, 12, 0, 0, 0, time.UTC)
	h := http.Header{}
	h.Set("x-ratelimit-limit", "5000")
	h.Set("x-ratelimit-remaining", "0")
	h.Set("x-ratelimit-used", "5000")
	h.Set("x-ratelimit-reset", fmt.Sprint(now.Add(42*time.Minute).Unix()))
	h.Set("x-ratelimit-resource", "core")

	sig := headers.Parse(h, now)
	for _, q := range sig.Quotas {
		fmt.Printf("%s %q: %d of %d %s left, more in %v\n", sig.Source, q.Name, q.Remaining, q.Limit, q.Unit, q.Reset)
	}
	if wait, ok := sig.Exhausted(); ok {
		fmt.Println("pause for", wait)
	}
	// Output:
	// github "core": 0 of 5000 requests left, more in 42m0s
	// pause for 42m0s
}
