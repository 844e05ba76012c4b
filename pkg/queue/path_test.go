package queue_test

import (
	"errors"
	"net/http"
	"testing"

	"github.com/weir-go/weir/pkg/queue"
)

// pathCases are the job paths Validate must accept or refuse; FuzzValidate starts from them.
var pathCases = []struct {
	name string
	path string
	ok   bool
}{
	{"root", "/", true},
	{"ordinary path", "/v1/items", true},
	{"trailing slash on a clean path", "/v1/items/", true},
	{"query", "/v1/items?page=2", true},
	{"encoded space", "/v1/a%20b/c", true},
	{"encoded spaces in the query", "/v1/search?q=a%20b&x=1", true},
	{"plus in the query", "/v1/search?q=a+b", true},
	{"dots and slashes in the query", "/v1/items?next=../../admin/", true},
	{"question mark in the query", "/v1/x?a=1?b", true},
	{"empty query", "/v1/items?", true},
	{"encoded slash inside a segment", "/v1/projects/group%2Fproject", true},
	{"encoded slash at the end", "/v1/items%2F", true},
	{"matrix parameters on a name", "/v1/items;v=2/x", true},
	{"dots inside names", "/v1/file.tar.gz/a..b/.well-known", true},
	{"sub-delims, colon and at", "/v1/a:b@c/!$&'()*+,;=", true},
	{"encoded UTF-8", "/v1/caf%C3%A9", true},
	{"encoded percent", "/v1/100%25", true},
	{"encoded percent before letters", "/v1/50%25off", true},
	{"double-encoded space", "/v1/a%2520b", true},
	{"dot in a version", "/v1.2/items", true},
	{"dot inside a name", "/v1/a.b", true},
	{"trailing dot on a name", "/v1/file.", true},
	{"trailing space on a name", "/v1/file%20", true},
	{"dots around a letter", "/v1/..a/.b./a../.%20a", true},
	{"no-break space inside a name", "/v1/a%C2%A0b", true},

	{"empty", "", false},
	{"no leading slash", "v1/items", false},
	{"absolute URL", "https://evil.example/x", false},
	{"scheme-relative URL", "//evil.example/x", false},
	{"user and host", "/@evil.example/x", true},
	{"encoded dot-dot at the end", "/%2e%2e/", false},
	{"dot-dot semicolon", "/v1/..;/admin", false},
	{"dot-dot with parameters", "/v1/..;jsessionid=1/admin", false},
	{"dot with parameters", "/v1/.;x=1/admin", false},
	{"encoded dot-dot semicolon", "/v1/%2e%2e;/admin", false},
	{"dot-dot encoded semicolon", "/v1/..%3b/admin", false},
	{"double-encoded dot-dot", "/v1/%252e%252e/admin", false},
	{"double-encoded dot beside a dot", "/v1/%252E./admin", false},
	{"double-encoded dot inside a name", "/v1/file%252etxt", false},
	{"double-encoded slash", "/v1/..%252fadmin", false},
	{"double-encoded backslash", "/v1/..%255cadmin", false},
	{"triple-encoded dot-dot", "/v1/%25252e%25252e/admin", false},
	{"double-encoded dot-dot semicolon", "/v1/..%253b/admin", false},
	{"double-encoded semicolon inside a name", "/v1/a%253bb", false},
	{"double-encoded question mark", "/a%253fb", false},
	{"double-encoded number sign", "/a%2523b", false},
	{"dot-dot space", "/a/..%20/b", false},
	{"three dots", "/a/.../b", false},
	{"dot, encoded dot, dot", "/a/.%2e./b", false},
	{"dot space", "/a/.%20/b", false},
	{"space dot-dot", "/a/%20../b", false},
	{"dot-dot space dot", "/a/..%20./b", false},
	{"dot-dot spaces with parameters", "/a/..%20%20;x=1/b", false},
	{"dot-dot space at the end", "/a/..%20", false},
	{"dot-dot double-encoded space", "/a/..%2520/b", false},
	{"space only", "/a/%20/b", false},
	{"space only after the root", "/%20/evil.example/x", false},
	{"parameters only", "/a/;x=1/b", false},
	{"dot-dot no-break space", "/a/..%C2%A0/b", false},
	{"dot-dot ideographic space", "/a/..%E3%80%80/b", false},
	{"en space only", "/a/%E2%80%82/b", false},
	{"overlong dot, two bytes", "/v1/%c0%ae%c0%ae/admin", false},
	{"overlong dot, three bytes", "/v1/%e0%80%ae%e0%80%ae/admin", false},
	{"overlong slash", "/v1/..%c0%afadmin", false},
	{"double-encoded overlong dot", "/v1/%25c0%25ae%25c0%25ae/admin", false},
	{"invalid UTF-8", "/v1/%ff", false},
	{"truncated UTF-8", "/v1/%c3", false},
	{"UTF-16 surrogate", "/v1/%ed%a0%80", false},
	{"fullwidth dot-dot", "/v1/%ef%bc%8e%ef%bc%8e/admin", false},
	{"raw fullwidth dot-dot", "/v1/\uff0e\uff0e/admin", false},
	{"double-encoded fullwidth dot", "/v1/%25ef%25bc%258e%25ef%25bc%258e/admin", false},
	{"one dot leader", "/v1/%e2%80%a4%e2%80%a4/admin", false},
	{"two dot leader", "/v1/%e2%80%a5/admin", false},
	{"small full stop", "/v1/%ef%b9%92%ef%b9%92/admin", false},
	{"division slash", "/v1/..%e2%88%95admin", false},
	{"fullwidth solidus", "/v1/..%ef%bc%8fadmin", false},
	{"fullwidth reverse solidus", "/v1/..%ef%bc%bcadmin", false},
	{"fullwidth percent", "/v1/%ef%bc%852e%ef%bc%852e/admin", false},
	{"greek question mark as semicolon", "/v1/..%cd%be/admin", false},
	{"empty segment before a trailing slash", "/v1/items//", false},
	{"dot before a trailing slash", "/v1/./", false},
	{"dot-dot before a trailing slash", "/v1/../", false},
	{"encoded double slash at the end", "/v1%2F%2F", false},
	{"encoded slash after the root", "/%2F", false},
	{"encoded slash naming a host", "/%2Fevil.example/x", false},
	{"empty segment", "/v1//items", false},
	{"dot-dot", "/v1/../admin", false},
	{"trailing dot", "/v1/.", false},
	{"space in the query", "/a?x=a HTTP/1.0 b", false},
	{"tab in the query", "/a?x=a\tb", false},
	{"DEL in the query", "/a?x=\x7f", false},
	{"quote in the query", "/a?x=\"", false},
	{"angle bracket in the query", "/a?x=<b>", false},
	{"brackets in the query", "/a?expand[]=customer&filter[x]=1", true},
	{"bracket in the path", "/a[1]", false},
	{"pipe in the query", "/a?x=a|b", false},
	{"raw UTF-8 in the query", "/a?x=caf\u00e9", false},
	{"invalid escape in the query", "/a?x=%zz", false},
	{"fragment after the query", "/a?x=1#y", false},
	{"space in the path", "/a b", false},
	{"raw UTF-8 in the path", "/caf\u00e9", false},
	{"brace in the path", "/a{b}", false},
	{"caret in the path", "/a^b", false},
	{"backquote in the path", "/a`b", false},
	{"truncated escape", "/a%2", false},
	{"bare percent", "/a%", false},
	{"invalid escape", "/a%zz", false},
	{"tab in the path", "/a\tb", false},
	{"backslash", "/a\\b", false},
	{"encoded backslash", "/a/%5c../b", false},
	{"encoded NUL", "/a%00", false},
	{"encoded DEL", "/a%7f", false},
}

func TestValidatePath(t *testing.T) {
	for _, c := range pathCases {
		err := queue.Rules{}.Validate(queue.Request{Upstream: "api", Method: http.MethodGet, Path: c.path})
		switch {
		case c.ok && err != nil:
			t.Errorf("%s: %q refused: %v", c.name, c.path, err)
		case !c.ok && err == nil:
			t.Errorf("%s: %q accepted", c.name, c.path)
		case err != nil && !errors.Is(err, queue.ErrRejected):
			t.Errorf("%s: %v does not wrap ErrRejected", c.name, err)
		}
	}
}
