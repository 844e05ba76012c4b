package httpwire

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

// The rules agree with what net/http's transport refuses to send, byte by byte, against a real
// loopback server.
func TestAgreesWithNetHTTP(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {}))
	defer srv.Close()
	tr := srv.Client().Transport
	sends := func(set func(h http.Header)) bool {
		req, err := http.NewRequest(http.MethodGet, srv.URL, nil)
		if err != nil {
			t.Fatal(err)
		}
		set(req.Header)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	}
	for c := 0; c < 256; c++ {
		v := "a" + string([]byte{byte(c)}) + "b"
		if got, want := ValidFieldValue(v), sends(func(h http.Header) { h["X-Value"] = []string{v} }); got != want {
			t.Errorf("value byte %#x: ValidFieldValue %v, net/http sends it: %v", c, got, want)
		}
		if got, want := ValidFieldName(v), sends(func(h http.Header) { h[v] = []string{"x"} }); got != want {
			t.Errorf("name byte %#x: ValidFieldName %v, net/http sends it: %v", c, got, want)
		}
	}
	if ValidFieldName("") {
		t.Error("an empty name is no token")
	}
}
