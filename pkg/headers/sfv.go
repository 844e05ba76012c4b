package headers

import (
	"strconv"
	"strings"
)

// This file is a Structured Fields (RFC 9651) List parser, the subset the IETF RateLimit fields
// need: items whose bare values are integers, decimals, strings, tokens, byte sequences, booleans
// or dates, each with parameters. Inner lists and display strings are refused, which makes the
// whole field malformed; RFC 9651 says a malformed field is ignored as a whole, and so do callers.

// sfKind is the type of a bare item.
type sfKind uint8

const (
	sfInteger sfKind = iota + 1
	sfDecimal
	sfString
	sfToken
	sfBytes
	sfBoolean
	sfDate
)

// sfBare is a bare item. Integers and decimals are held in num: RFC 9651 limits integers to 15
// digits and decimals to 12+3, which float64 holds exactly (decimals to the nearest double).
type sfBare struct {
	kind sfKind
	num  float64 // integer, decimal, date
	str  string  // string, token, byte sequence (still base64)
	bool bool
}

// isNumber reports whether b is an integer or a decimal.
func (b sfBare) isNumber() bool { return b.kind == sfInteger || b.kind == sfDecimal }

// name returns the text of a string or token item, the two forms a policy name takes (draft 08
// used tokens, later drafts strings).
func (b sfBare) name() (string, bool) {
	if b.kind == sfString || b.kind == sfToken {
		return b.str, true
	}
	return "", false
}

type sfParam struct {
	key string
	val sfBare
}

type sfItem struct {
	bare   sfBare
	params []sfParam
}

// param returns the value of the parameter key, if present. A repeated key's last value wins
// (RFC 9651 §4.2.3.2); the parser keeps every occurrence and this looks from the end, since
// replacing in place while parsing would cost a hostile item of n parameters n² comparisons.
func (it sfItem) param(key string) (sfBare, bool) {
	for i := len(it.params) - 1; i >= 0; i-- {
		if it.params[i].key == key {
			return it.params[i].val, true
		}
	}
	return sfBare{}, false
}

// parseSFList parses a List field. An empty field is an empty list.
func parseSFList(s string) ([]sfItem, bool) {
	p := sfParser{s: strings.Trim(s, " \t")}
	var items []sfItem
	for !p.eof() {
		it, ok := p.item()
		if !ok {
			return nil, false
		}
		items = append(items, it)
		p.skipOWS()
		if p.eof() {
			break
		}
		if p.s[p.i] != ',' {
			return nil, false
		}
		p.i++
		p.skipOWS()
		if p.eof() { // a trailing comma
			return nil, false
		}
	}
	return items, true
}

type sfParser struct {
	s string
	i int
}

func (p *sfParser) eof() bool { return p.i >= len(p.s) }

func (p *sfParser) peek() byte {
	if p.eof() {
		return 0
	}
	return p.s[p.i]
}

func (p *sfParser) skipOWS() {
	for !p.eof() && (p.s[p.i] == ' ' || p.s[p.i] == '\t') {
		p.i++
	}
}

func (p *sfParser) skipSP() {
	for !p.eof() && p.s[p.i] == ' ' {
		p.i++
	}
}

func (p *sfParser) item() (sfItem, bool) {
	bare, ok := p.bare()
	if !ok {
		return sfItem{}, false
	}
	params, ok := p.params()
	return sfItem{bare: bare, params: params}, ok
}

// params parses parameters, keeping repeated keys (see sfItem.param).
func (p *sfParser) params() ([]sfParam, bool) {
	var params []sfParam
	for p.peek() == ';' {
		p.i++
		p.skipSP()
		key, ok := p.key()
		if !ok {
			return nil, false
		}
		val := sfBare{kind: sfBoolean, bool: true}
		if p.peek() == '=' {
			p.i++
			if val, ok = p.bare(); !ok {
				return nil, false
			}
		}
		params = append(params, sfParam{key: key, val: val})
	}
	return params, true
}

func (p *sfParser) key() (string, bool) {
	start := p.i
	if c := p.peek(); !(isLCAlpha(c) || c == '*') {
		return "", false
	}
	p.i++
	for !p.eof() {
		c := p.s[p.i]
		if !(isLCAlpha(c) || isDigit(c) || c == '_' || c == '-' || c == '.' || c == '*') {
			break
		}
		p.i++
	}
	return p.s[start:p.i], true
}

func (p *sfParser) bare() (sfBare, bool) {
	switch c := p.peek(); {
	case c == '-' || isDigit(c):
		return p.number()
	case c == '"':
		return p.string()
	case c == '*' || isAlpha(c):
		return p.token(), true
	case c == ':':
		return p.bytes()
	case c == '?':
		return p.boolean()
	case c == '@':
		p.i++
		b, ok := p.number()
		if !ok || b.kind != sfInteger {
			return sfBare{}, false
		}
		b.kind = sfDate
		return b, true
	}
	return sfBare{}, false
}

// number follows RFC 9651 §4.2.4: at most 15 integer digits, or at most 12 digits, a dot and 1 to 3
// fraction digits.
func (p *sfParser) number() (sfBare, bool) {
	start := p.i
	if p.peek() == '-' {
		p.i++
	}
	intStart := p.i
	for !p.eof() && isDigit(p.s[p.i]) {
		p.i++
	}
	intDigits := p.i - intStart
	if intDigits == 0 {
		return sfBare{}, false
	}
	kind := sfInteger
	if p.peek() == '.' {
		if intDigits > 12 {
			return sfBare{}, false
		}
		p.i++
		fracStart := p.i
		for !p.eof() && isDigit(p.s[p.i]) {
			p.i++
		}
		if n := p.i - fracStart; n < 1 || n > 3 {
			return sfBare{}, false
		}
		kind = sfDecimal
	} else if intDigits > 15 {
		return sfBare{}, false
	}
	f, err := strconv.ParseFloat(p.s[start:p.i], 64)
	if err != nil {
		return sfBare{}, false
	}
	return sfBare{kind: kind, num: f}, true
}

func (p *sfParser) string() (sfBare, bool) {
	p.i++ // the opening quote
	var b strings.Builder
	for !p.eof() {
		c := p.s[p.i]
		p.i++
		switch {
		case c == '"':
			return sfBare{kind: sfString, str: b.String()}, true
		case c == '\\':
			if p.eof() || p.s[p.i] != '"' && p.s[p.i] != '\\' {
				return sfBare{}, false
			}
			b.WriteByte(p.s[p.i])
			p.i++
		case c < 0x20 || c > 0x7e:
			return sfBare{}, false
		default:
			b.WriteByte(c)
		}
	}
	return sfBare{}, false // no closing quote
}

func (p *sfParser) token() sfBare {
	start := p.i
	p.i++ // ALPHA or '*', checked by the caller
	for !p.eof() && (isTChar(p.s[p.i]) || p.s[p.i] == ':' || p.s[p.i] == '/') {
		p.i++
	}
	return sfBare{kind: sfToken, str: p.s[start:p.i]}
}

// bytes checks a byte sequence's alphabet and keeps it encoded: nothing in this package decodes
// one (the only one the RateLimit fields carry is the partition key, which is ignored).
func (p *sfParser) bytes() (sfBare, bool) {
	p.i++ // the opening colon
	start := p.i
	for !p.eof() {
		c := p.s[p.i]
		switch {
		case c == ':':
			p.i++
			return sfBare{kind: sfBytes, str: p.s[start : p.i-1]}, true
		case isAlpha(c) || isDigit(c) || c == '+' || c == '/' || c == '=':
			p.i++
		default:
			return sfBare{}, false
		}
	}
	return sfBare{}, false
}

func (p *sfParser) boolean() (sfBare, bool) {
	p.i++ // '?'
	switch p.peek() {
	case '0':
		p.i++
		return sfBare{kind: sfBoolean}, true
	case '1':
		p.i++
		return sfBare{kind: sfBoolean, bool: true}, true
	}
	return sfBare{}, false
}

func isDigit(c byte) bool   { return '0' <= c && c <= '9' }
func isLCAlpha(c byte) bool { return 'a' <= c && c <= 'z' }
func isAlpha(c byte) bool   { return isLCAlpha(c) || 'A' <= c && c <= 'Z' }

// isTChar reports whether c is an RFC 9110 tchar.
func isTChar(c byte) bool {
	return isAlpha(c) || isDigit(c) || strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0
}
