// Package tlserr recognises the TLS errors that come from the client's own checks of a server.
package tlserr

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
)

// IsCertificate reports whether err is, or wraps, the client's rejection of the server's
// certificate: a failed verification, an unknown authority or a name that does not match. Another
// attempt meets the same certificate, and the rejection says nothing of the upstream's health.
func IsCertificate(err error) bool {
	var verifyErr *tls.CertificateVerificationError
	var unknownAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	return errors.As(err, &verifyErr) || errors.As(err, &unknownAuth) || errors.As(err, &hostErr)
}
