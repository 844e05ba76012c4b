// Package httpwire holds the rules of what may stand in an HTTP/1.1 request line and header
// field (RFC 9110, section 5), as net/http enforces them when it sends a request.
package httpwire

// ValidFieldName reports whether s is a token: a field name or a method.
func ValidFieldName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isTokenByte(s[i]) {
			return false
		}
	}
	return true
}

// ValidFieldValue reports whether s may be a field value: no control character but HTAB, and no
// DEL. Bytes of 0x80 and above (obs-text) are allowed, as net/http allows them.
func ValidFieldValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < 0x20 && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}

func isTokenByte(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}
