package headers

import (
	"reflect"
	"testing"
)

func TestParseSFList(t *testing.T) {
	str := func(s string) sfBare { return sfBare{kind: sfString, str: s} }
	tok := func(s string) sfBare { return sfBare{kind: sfToken, str: s} }
	num := func(f float64) sfBare { return sfBare{kind: sfInteger, num: f} }
	dec := func(f float64) sfBare { return sfBare{kind: sfDecimal, num: f} }
	boolean := func(b bool) sfBare { return sfBare{kind: sfBoolean, bool: b} }
	for _, tc := range []struct {
		in   string
		want []sfItem
	}{
		{``, nil},
		{`  `, nil},
		{`"burst";q=100;w=60,"daily";q=1000;w=86400`, []sfItem{
			{str("burst"), []sfParam{{"q", num(100)}, {"w", num(60)}}},
			{str("daily"), []sfParam{{"q", num(1000)}, {"w", num(86400)}}},
		}},
		{` burst;q=100 ,	daily `, []sfItem{{tok("burst"), []sfParam{{"q", num(100)}}}, {tok("daily"), nil}}},
		{`"a";pk=:cHJvamVjdDEyMw==:`, []sfItem{{str("a"), []sfParam{{"pk", sfBare{kind: sfBytes, str: "cHJvamVjdDEyMw=="}}}}}},
		{`"a";x=?1;y=?0;z=1.5;n=-3;s="x\"y\\";t=tok/en:x;flag`, []sfItem{{str("a"), []sfParam{
			{"x", boolean(true)}, {"y", boolean(false)}, {"z", dec(1.5)}, {"n", num(-3)},
			{"s", str(`x"y\`)}, {"t", tok("tok/en:x")}, {"flag", boolean(true)},
		}}}},
		{`"a";q=1;w=2;q=3`, []sfItem{{str("a"), []sfParam{{"q", num(1)}, {"w", num(2)}, {"q", num(3)}}}}},
		{`"a"; q=1`, []sfItem{{str("a"), []sfParam{{"q", num(1)}}}}},
		{`""`, []sfItem{{str(""), nil}}},
		{`*x`, []sfItem{{tok("*x"), nil}}},
		{`"a";d=@1659578233`, []sfItem{{str("a"), []sfParam{{"d", sfBare{kind: sfDate, num: 1659578233}}}}}},
		{`"a";q=999999999999999`, []sfItem{{str("a"), []sfParam{{"q", num(999999999999999)}}}}},
		{`"a";q=999999999999.999`, []sfItem{{str("a"), []sfParam{{"q", dec(999999999999.999)}}}}},
		{`10;w=1, 50;w=60`, []sfItem{{num(10), []sfParam{{"w", num(1)}}}, {num(50), []sfParam{{"w", num(60)}}}}},
	} {
		got, ok := parseSFList(tc.in)
		if !ok || !reflect.DeepEqual(got, tc.want) {
			t.Errorf("parseSFList(%q) = %+v, %v; want %+v", tc.in, got, ok, tc.want)
		}
	}
}

func TestParseSFListMalformed(t *testing.T) {
	for _, in := range []string{
		`"a",`,
		`,"a"`,
		`"a",,"b"`,
		`"a" "b"`,
		`"unterminated`,
		`"bad\x"`,
		"\"ctl\x01\"",
		"\"utf8 é\"",
		`("a" "b")`,
		`%"display"`,
		`"a";Q=1`,
		`"a";=1`,
		`"a";q=1;`,
		`"a";q=`,
		`"a";q=1234567890123456`,
		`"a";q=1234567890123.5`,
		`"a";q=1.2345`,
		`"a";q=1.`,
		`"a";q=-`,
		`"a";q=--1`,
		`"a";pk=:abc`,
		`"a";pk=:a$c:`,
		`"a";b=?2`,
		`"a";d=@1.5`,
		`"a" ;q=1`,
		`limit=100, remaining=50, reset=5`,
		`é`,
		`"a"x`,
	} {
		if got, ok := parseSFList(in); ok {
			t.Errorf("parseSFList(%q) = %+v, ok; want malformed", in, got)
		}
	}
}

func TestSFItemParamLastWins(t *testing.T) {
	items, ok := parseSFList(`"a";q=1;w=2;q=3`)
	if !ok || len(items) != 1 {
		t.Fatalf("parseSFList = %+v, %v", items, ok)
	}
	if v, ok := items[0].param("q"); !ok || v.num != 3 {
		t.Errorf("param(q) = %+v, %v; want 3", v, ok)
	}
	if _, ok := items[0].param("x"); ok {
		t.Errorf("param(x) found")
	}
}
