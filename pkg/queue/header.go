package queue

import (
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/weir-go/weir/internal/httpwire"
)

// checkHeader refuses a job header net/http would refuse to send, and one that would steer the
// request rather than describe it.
func checkHeader(name string, values []string) error {
	if !httpwire.ValidFieldName(name) {
		return fmt.Errorf("header name %q is not a token", name)
	}
	for _, v := range values {
		if !httpwire.ValidFieldValue(v) {
			// Not the value itself: it may be a secret.
			return fmt.Errorf("header %s: value holds a control character other than HTAB", name)
		}
	}
	if err := steering(http.CanonicalHeaderKey(name)); err != nil {
		return fmt.Errorf("header %s %w", name, err)
	}
	return nil
}

// steering says why a job may not set header k (in canonical form), or returns nil.
// net/http drops Host, Content-Length, Transfer-Encoding and Trailer from the header it writes;
// hop-by-hop headers change the connection or what a proxy strips (Connection: X-Api-Key would
// strip the worker's credentials); the others make a proxy or framework see another host, path
// or method than the one checked here.
func steering(k string) error {
	switch {
	case k == "Host", k == "Forwarded", strings.HasPrefix(k, "X-Forwarded-"):
		return errors.New("would name the host; the worker's profile does")
	case k == "X-Original-Url", k == "X-Rewrite-Url",
		k == "X-Http-Method-Override", k == "X-Http-Method", k == "X-Method-Override":
		return errors.New("would override the job's path or method")
	case k == "Content-Length", k == "Transfer-Encoding", k == "Trailer", k == "Expect":
		return errors.New("would frame the body; net/http does")
	case k == "Connection", k == "Keep-Alive", k == "Te", k == "Upgrade", k == "Http2-Settings",
		strings.HasPrefix(k, "Proxy-"):
		return errors.New("is hop-by-hop or for a proxy")
	}
	return nil
}
