package tlserr_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net/url"
	"testing"

	"github.com/weir-go/weir/internal/tlserr"
)

func TestIsCertificate(t *testing.T) {
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"verification failed", &tls.CertificateVerificationError{Err: errors.New("expired")}, true},
		{"unknown authority", x509.UnknownAuthorityError{}, true},
		{"wrong name", x509.HostnameError{Host: "api.example.com"}, true},
		{"wrapped by net/http", &url.Error{Op: "Get", URL: "https://api.example.com", Err: fmt.Errorf("tls: %w", x509.HostnameError{})}, true},
		{"not TLS at all", tls.RecordHeaderError{Msg: "first record does not look like a TLS handshake"}, false},
		{"a transport error", io.ErrUnexpectedEOF, false},
		{"nil", nil, false},
	} {
		if got := tlserr.IsCertificate(tc.err); got != tc.want {
			t.Errorf("%s: IsCertificate = %v, want %v", tc.name, got, tc.want)
		}
	}
}
