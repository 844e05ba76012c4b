package headers

import (
	"net/http"
	"strings"
)

// A server may send a field more than once. What the parsers make of a response must never
// depend on the order of those lines (a proxy may reorder them, and a hostile upstream may pick
// whichever order suits it), so one rule applies to every field they read: a field that
// disagrees with itself is ignored.
//
//   - A field of a single value (Retry-After, retry-after-ms, every vendor field, the older IETF
//     drafts' fields) counts when all its non-blank lines say the same, once whitespace around
//     them is trimmed; lines that differ make it absent, as if malformed. A blank line says
//     nothing. Taking the largest instead would suit a delay but not a remaining count, and
//     this way no field needs a rule of its own.
//   - The current drafts' RateLimit and RateLimit-Policy are lists: every line is parsed as a
//     list of its own (a line that is not one makes the whole field malformed), and the items of
//     one name that disagree leave that quota's numbers unknown; items that say the same count
//     once.

// singleton returns the value of a field that holds one value, trimmed: "" when the field is
// absent, blank, or sent more than once with values that differ.
func singleton(h http.Header, key string) string {
	v := ""
	for _, line := range h.Values(key) {
		line = strings.TrimSpace(line)
		switch {
		case line == "":
		case v == "":
			v = line
		case line != v:
			return ""
		}
	}
	return v
}

// sfLines parses a Structured Field list sent over any number of lines, each line a list of its
// own (RFC 9651 §4.2 joins them with commas first, which lets two malformed halves make one
// valid item in one order and not in the other). Blank lines are left out; a malformed line, or
// an item that is not a name (see ietfItems), makes the whole field malformed: nil.
func sfLines(h http.Header, key string) []sfItem {
	lines := h.Values(key)
	if len(lines) == 1 {
		return ietfItems(lines[0])
	}
	var items []sfItem
	for _, line := range lines {
		if strings.Trim(line, " \t") == "" {
			continue
		}
		more := ietfItems(line)
		if more == nil {
			return nil
		}
		items = append(items, more...)
	}
	return items
}
