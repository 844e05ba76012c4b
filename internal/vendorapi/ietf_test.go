package vendorapi

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// sfItem parses the one kind of Structured Field (RFC 9651) the IETF kind sends: a single list
// member that is an sf-string with integer parameters, `"name";key=int;key=int`. It reports ok only
// if the whole field has exactly that syntax.
func sfItem(field string) (name string, params map[string]int64, ok bool) {
	s := strings.Trim(field, " ")
	if len(s) < 2 || s[0] != '"' {
		return "", nil, false
	}
	end := strings.IndexByte(s[1:], '"')
	if end < 0 {
		return "", nil, false
	}
	name, s = s[1:1+end], s[2+end:]
	if strings.ContainsAny(name, "\\") {
		return "", nil, false // escapes are legal but never sent here
	}
	params = make(map[string]int64)
	for s != "" {
		if s[0] != ';' {
			return "", nil, false
		}
		key, rest, found := strings.Cut(s[1:], "=")
		if !found || key == "" || key[0] < 'a' || key[0] > 'z' {
			return "", nil, false
		}
		for _, c := range key {
			if (c < 'a' || c > 'z') && (c < '0' || c > '9') && c != '_' && c != '-' && c != '.' && c != '*' {
				return "", nil, false
			}
		}
		digits := rest
		if i := strings.IndexByte(rest, ';'); i >= 0 {
			digits, rest = rest[:i], rest[i:]
		} else {
			rest = ""
		}
		if digits == "" || len(digits) > 15 || strings.TrimLeft(digits, "0123456789") != "" {
			return "", nil, false // an sf-integer, and only the non-negative ones are meaningful here
		}
		v, err := strconv.ParseInt(digits, 10, 64)
		if err != nil {
			return "", nil, false
		}
		if _, dup := params[key]; dup {
			return "", nil, false
		}
		params[key] = v
		s = rest
	}
	return name, params, true
}

func TestSFItemCheck(t *testing.T) {
	for _, bad := range []string{``, `default;q=1`, `"default";q=`, `"default";Q=1`, `"default";q=1.5`, `"default";q=-1`, `"default" ;q=1`, `"default";q=1;q=2`, `"default",`} {
		if _, _, ok := sfItem(bad); ok {
			t.Errorf("sfItem(%q) accepted it", bad)
		}
	}
	name, p, ok := sfItem(`"burst";q=100;w=60`)
	if !ok || name != "burst" || p["q"] != 100 || p["w"] != 60 || len(p) != 2 {
		t.Errorf("sfItem: %q %v %v", name, p, ok)
	}
}

func TestIETFFields(t *testing.T) {
	f := serve(t, IETF, Config{Quota: 2, Window: 30 * time.Second}, epoch)
	steps := []struct {
		at     time.Duration
		status int
		r, t   int64
		retry  string
	}{
		{0, http.StatusOK, 1, 30, ""},
		{10200 * time.Millisecond, http.StatusOK, 0, 20, ""}, // 19.8 s left
		{29999 * time.Millisecond, http.StatusTooManyRequests, 0, 1, "1"},
		{30 * time.Second, http.StatusOK, 1, 30, ""},
	}
	for i, st := range steps {
		f.at(st.at)
		r := f.get("/zones")
		if r.status != st.status {
			t.Fatalf("step %d at +%v: status %d, want %d", i, st.at, r.status, st.status)
		}
		name, policy, ok := sfItem(r.header.Get("RateLimit-Policy"))
		if !ok || name != "default" || len(policy) != 2 || policy["q"] != 2 || policy["w"] != 30 {
			t.Errorf("at +%v: RateLimit-Policy %q parses as %q %v %v, want \"default\" q=2 w=30", st.at, r.header.Get("RateLimit-Policy"), name, policy, ok)
		}
		name, limit, ok := sfItem(r.header.Get("RateLimit"))
		if !ok || name != "default" || len(limit) != 2 || limit["r"] != st.r || limit["t"] != st.t {
			t.Errorf("at +%v: RateLimit %q parses as %q %v %v, want \"default\" r=%d t=%d", st.at, r.header.Get("RateLimit"), name, limit, ok, st.r, st.t)
		}
		wantHeaders(t, "at +"+st.at.String(), r.header, map[string]string{"Retry-After": st.retry})
	}
}
