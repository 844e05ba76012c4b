package vendorapi_test

import (
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/weir-go/weir/internal/vendorapi"
)

func ExampleNew() {
	now := time.Date(2026, time.January, 1, 0, 0, 20, 0, time.UTC) // a third into a minute window
	api, err := vendorapi.New(vendorapi.GitHub, vendorapi.Config{
		Quota:  2,
		Window: time.Minute,
		Now:    func() time.Time { return now },
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	srv := httptest.NewServer(api)
	defer srv.Close()

	for range 3 {
		resp, err := http.Get(srv.URL + "/repos/weir-go/weir")
		if err != nil {
			fmt.Println(err)
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		fmt.Println(resp.StatusCode, resp.Header.Get("X-Ratelimit-Remaining"), resp.Header.Get("X-Ratelimit-Reset"))
	}
	r := api.Report()
	fmt.Println("served", r.Served, "rejected", r.Rejected)
	fmt.Println("5 requests ideally take", api.Ideal(now, 5, 1))
	// Output:
	// 200 1 1767225660
	// 200 0 1767225660
	// 403 0 1767225660
	// served 2 rejected 1
	// 5 requests ideally take 1m40s
}
