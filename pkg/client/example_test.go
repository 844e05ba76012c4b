package client_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"time"

	"github.com/weir-go/weir/pkg/breaker"
	"github.com/weir-go/weir/pkg/client"
	"github.com/weir-go/weir/pkg/store"
)

func Example() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "hello")
	}))
	defer api.Close()

	c, err := client.New(client.Config{
		Name:   "partner-api",
		Limits: []store.Limit{store.PerSecond(10), store.PerHour(1000)},
	})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := c.Get(client.WithPriority(ctx, 10), api.URL)
	switch {
	case errors.Is(err, client.ErrRateLimited), errors.Is(err, client.ErrLineFull):
		fmt.Println("over the limit:", err)
	case errors.Is(err, breaker.ErrOpen):
		fmt.Println("upstream is down:", err)
	case err != nil:
		fmt.Println("failed:", err)
	default:
		resp.Body.Close()
		fmt.Println(resp.Status)
	}
	// Output: 200 OK
}

func ExampleClient_RoundTrip() {
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer api.Close()

	c, err := client.New(client.Config{Limits: []store.Limit{store.PerMinute(600)}})
	if err != nil {
		panic(err)
	}
	defer c.Close()

	// Any *http.Client gets the limits, breaker and retries.
	hc := &http.Client{Transport: c}
	resp, err := hc.Get(api.URL)
	if err != nil {
		panic(err)
	}
	resp.Body.Close()
	fmt.Println(resp.StatusCode, c.Stats().Attempts)
	// Output: 200 1
}

func ExampleNew_badConfig() {
	_, err := client.New(client.Config{Retry: client.RetryConfig{Multiplier: 0.5}})
	fmt.Println(err)
	// Output: weir/client: Config.Retry.Multiplier must be a finite number ≥ 1, got 0.5
}
