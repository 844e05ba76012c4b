package headers

import (
	"net/http"
	"strings"
)

// A field sent more than once reads the same in any order of its lines: a field of one value is
// ignored when its lines disagree, and the IETF lists' items of one name that disagree leave their
// numbers unknown. docs/headers.md tells why.

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
