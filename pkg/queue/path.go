package queue

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"unicode/utf8"
)

// checkPath accepts only a path (and query) relative to the upstream's base URL, written exactly as
// it goes on the wire. A server, or a proxy before it, may decode the path once or twice, strip
// ";params" from segments (Tomcat's "..;"), trim a segment's trailing dots and spaces (IIS and
// Windows: "..%20" and "..." become "..") or normalise Unicode after its own checks: so neither the
// path nor either decoding may hold a segment that such trimming leaves empty or a dot segment, a
// backslash, a control, invalid UTF-8 or a character that normalises to path syntax.
func checkPath(p string) error {
	switch {
	case p == "":
		return errors.New("empty")
	case p[0] != '/':
		return errors.New("must start with /")
	case strings.HasPrefix(p, "//"):
		return errors.New("// would name another host")
	}
	// Every byte as it will be sent: net/http sends a query as given, so a raw space there would
	// end the request-target early and put the rest on the request line.
	inQuery := false
	for i := 0; i < len(p); i++ {
		c := p[i]
		switch {
		case c == '%':
			if i+2 >= len(p) || !isHex(p[i+1]) || !isHex(p[i+2]) {
				return fmt.Errorf("%% at offset %d does not start an escape", i)
			}
		case c == '?':
			inQuery = true
		case c < utf8.RuneSelf && targetByte[c]:
		case inQuery && (c == '[' || c == ']'):
			// Not RFC 3986's, but what Stripe's expand[]= and JSON:API's filter[x]= send raw.
		default:
			where := "path"
			if inQuery {
				where = "query"
			}
			return fmt.Errorf("%q at offset %d must be percent-encoded in a %s", p[i:i+1], i, where)
		}
	}
	raw, _, _ := strings.Cut(p, "?")
	once := unescape(raw)
	if err := checkDecoded(once); err != nil {
		return fmt.Errorf("decoded once: %w", err)
	}
	if clean := path.Clean(once); once != clean && (clean == "/" || once != clean+"/") {
		return fmt.Errorf("decoded once, %q is not in clean form", once)
	}
	// %252e is "." to a server that decodes twice; refuse every escape the first decoding leaves
	// that a second would turn into path syntax or a new escape. A second decoding that makes a
	// '?' or '#' ends the path early there; a ';' starts parameters that a server may cut.
	for i := 0; i+2 < len(once); i++ {
		if once[i] == '%' && isHex(once[i+1]) && isHex(once[i+2]) {
			if c := unhex(once[i+1])<<4 | unhex(once[i+2]); strings.IndexByte("./\\%?#;", c) >= 0 {
				return fmt.Errorf("%q is double-encoded", string(rune(c)))
			}
		}
	}
	if err := checkDecoded(unescape(once)); err != nil {
		return fmt.Errorf("decoded twice: %w", err)
	}
	return nil
}

// checkDecoded refuses what a decoded path must not hold.
func checkDecoded(d string) error {
	if !utf8.ValidString(d) {
		return errors.New("invalid UTF-8 (overlong, truncated or a surrogate)")
	}
	for _, r := range d {
		switch {
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("control character %U", r)
		case r == '\\':
			return errors.New("backslash")
		case lookalike(r):
			return fmt.Errorf("%U normalises to path syntax", r)
		}
	}
	// IIS and Windows trim a segment's trailing dots and spaces: "..%20" becomes "..", and any
	// segment made only of dots and spaces becomes a dot segment or nothing, as does ";x" once
	// its parameters are cut. A name that loses a trailing dot or space ("file.") to the same
	// trimming stays a name at the same level, so it is left alone.
	for seg := range strings.SplitSeq(d, "/") {
		if name, _, _ := strings.Cut(seg, ";"); seg != "" && strings.TrimFunc(name, dotOrSpace) == "" {
			return fmt.Errorf("%q is a dot segment, or made only of dots and spaces", seg)
		}
	}
	return nil
}

// lookalike reports whether r's compatibility form (NFKC, Unicode 14) holds '.', '/', '\', '%',
// ';', '?' or '#', or r is drawn as a slash or backslash (Windows best-fit code pages map some).
func lookalike(r rune) bool {
	switch r {
	case '\u037e', // Greek question mark: ';'
		'\u2024', '\u2025', '\u2026', '\ufe19', '\ufe30', '\ufe52', '\uff0e', // dot leaders, ellipses, small and fullwidth full stops
		'\u2047', '\u2048', '\u2049', '\ufe16', '\ufe56', '\uff1f', // question marks
		'\u2100', '\u2101', '\u2105', '\u2106', '\uff0f', // a/c, a/s, c/o, c/u, fullwidth solidus
		'\u2044', '\u2215', '\u29f8', // fraction, division and big solidus
		'\u2216', '\u29f5', '\u29f9', '\ufe68', '\uff3c', // set minus, reverse solidus operator, big, small and fullwidth reverse solidus
		'\ufe6a', '\uff05', // small and fullwidth percent sign
		'\ufe14', '\ufe54', '\uff1b', // semicolons
		'\ufe5f', '\uff03', // number signs
		'\u33c2', '\u33c7', '\u33d8', '\U0001f100': // "a.m.", "Co.", "p.m.", "0."
		return true
	}
	return r >= '\u2488' && r <= '\u249b' // "1." to "20."
}

// dotOrSpace reports whether r is '.' or ' ', or a space that NFKC (Unicode 14) turns into ' ':
// no-break, en quad to hair, narrow no-break, medium mathematical and ideographic spaces. The
// look-alikes of '.' are refused wherever they are.
func dotOrSpace(r rune) bool {
	switch r {
	case '.', ' ', '\u00a0', '\u202f', '\u205f', '\u3000':
		return true
	}
	return r >= '\u2000' && r <= '\u200a'
}

// targetByte marks the bytes a request-target may hold unescaped besides '%' and '?': RFC 3986's
// unreserved characters, sub-delims, ':', '@' and '/'.
var targetByte = func() (t [utf8.RuneSelf]bool) {
	for _, c := range "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-._~!$&'()*+,;=:@/" {
		t[c] = true
	}
	return t
}()

// unescape decodes every well-formed %XX and keeps any other byte as it is.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	b := make([]byte, 0, len(s))
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]) {
			b = append(b, unhex(s[i+1])<<4|unhex(s[i+2]))
			i += 2
			continue
		}
		b = append(b, s[i])
	}
	return string(b)
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func unhex(c byte) byte {
	switch {
	case c <= '9':
		return c - '0'
	case c <= 'F':
		return c - 'A' + 10
	}
	return c - 'a' + 10
}
