package queue

import (
	"net/url"
	"path"
	"strings"
	"testing"
)

// redirectBases are the base URLs FuzzRedirectPath's redirects start under.
var redirectBases = []string{
	"http://127.0.0.1:9/base",
	"http://127.0.0.1:9/base/",
	"http://127.0.0.1:9",
	"http://127.0.0.1:9/",
	"http://127.0.0.1:9/v1/api%20x",
	"http://127.0.0.1:9/a%2Fb",
}

// FuzzRedirectPath resolves a Location as net/http does, against a job's request under one of
// redirectBases, and asserts that every target checkRedirectPath lets through is sent under the
// base path, and that decoded once its path holds no segment that is, or trims to, a dot segment.
func FuzzRedirectPath(f *testing.F) {
	for _, loc := range []string{
		"/base/v1/next", "next?page=2", "../2", "../../x", "?x=1", "#top", "/base", "/base/",
		"http://127.0.0.1:9/base/v1/a%20b?q=1", "//127.0.0.1:9/base/x", "//evil.example/base/x",
		"/base/%2e%2e/admin", "/base/..%20/admin", "/base/.../admin", "/base/a%253fb", "/base/a%2523b",
		"/base/..;/admin", "/base/%2F/x", "/base//x", "/base/x/%2e", "http:base/x", "/v1/api%20x/y",
		"/a%2Fb/c", "/a/b/c", "/base/a%5cb", "/base/%EF%BC%8E%EF%BC%8E/x",
	} {
		for b := range redirectBases {
			f.Add(loc, uint8(b))
		}
	}
	f.Fuzz(func(t *testing.T, loc string, b uint8) {
		base, err := url.Parse(redirectBases[int(b)%len(redirectBases)])
		if err != nil {
			t.Fatal(err)
		}
		to, err := JoinURL(base, "/v1/items/1").Parse(loc)
		if err != nil || checkRedirectPath(base, to) != nil {
			return
		}
		target := to.RequestURI() // what net/http puts on the request line
		wirePath, _, _ := strings.Cut(target, "?")
		if prefix := strings.TrimSuffix(base.EscapedPath(), "/") + "/"; !strings.HasPrefix(wirePath, prefix) {
			t.Fatalf("base %v, Location %q: request-target %q is not under %q", base, loc, target, prefix)
		}
		once, err := url.PathUnescape(wirePath)
		if err != nil {
			t.Fatalf("base %v, Location %q: request-target %q does not decode: %v", base, loc, target, err)
		}
		under := strings.TrimSuffix(base.Path, "/") + "/"
		if !strings.HasPrefix(once, under) || !strings.HasPrefix(path.Clean(once)+"/", under) {
			t.Fatalf("base %v, Location %q: request-target %q decodes to %q, not under %q", base, loc, target, once, under)
		}
		for seg := range strings.SplitSeq(once, "/") {
			if name, _, _ := strings.Cut(seg, ";"); seg != "" && strings.Trim(name, ". ") == "" {
				t.Fatalf("base %v, Location %q: request-target %q decodes to %q, with segment %q", base, loc, target, once, seg)
			}
		}
	})
}
