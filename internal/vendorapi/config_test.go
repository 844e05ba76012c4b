package vendorapi

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestNewRejectsBadConfig(t *testing.T) {
	ok := Config{Quota: 1, Window: time.Second, TokenQuota: 1}
	with := func(change func(*Config)) Config {
		c := ok
		change(&c)
		return c
	}
	cases := []struct {
		kind  Kind
		cfg   Config
		field string
	}{
		{GitHub, with(func(c *Config) { c.Quota = 0 }), "Config.Quota"},
		{Bare, with(func(c *Config) { c.Quota = -3 }), "Config.Quota"},
		{X, with(func(c *Config) { c.Window = 0 }), "Config.Window"},
		{X, with(func(c *Config) { c.Window = 1500 * time.Millisecond }), "Config.Window"},
		{IETF, with(func(c *Config) { c.Window = 500 * time.Millisecond }), "Config.Window"},
		{Reddit, with(func(c *Config) { c.Window = -time.Second }), "Config.Window"},
		{OpenAI, with(func(c *Config) { c.TokenQuota = 0 }), "Config.TokenQuota"},
		{Discord, with(func(c *Config) { c.GlobalQuota = -1 }), "Config.GlobalQuota"},
		{Discord, with(func(c *Config) { c.GlobalQuota = 50 }), "Config.GlobalWindow"},
		{Discord, with(func(c *Config) { c.GlobalQuota, c.GlobalWindow = 50, 1100*time.Millisecond }), "Config.GlobalWindow"},
	}
	for _, c := range cases {
		_, err := New(c.kind, c.cfg)
		if err == nil || !strings.HasPrefix(err.Error(), "weir/vendorapi: "+c.field+" ") {
			t.Errorf("New(%s, %+v) = %v, want an error naming %s", c.kind, c.cfg, err, c.field)
		}
	}

	// Fields a kind does not use are ignored.
	for _, cfg := range []Config{
		with(func(c *Config) { c.TokenQuota = 0 }),
		with(func(c *Config) { c.GlobalQuota, c.GlobalWindow = 5, 0 }),
	} {
		if _, err := New(GitHub, cfg); err != nil {
			t.Errorf("New(GitHub, %+v): %v, want the unused fields ignored", cfg, err)
		}
	}
	if _, err := New(Discord, with(func(c *Config) { c.GlobalWindow = 1500 * time.Millisecond })); err != nil {
		t.Errorf("Discord with the global limit off: %v, want GlobalWindow ignored", err)
	}
	if _, err := New("shopify", ok); !errors.Is(err, ErrUnknownKind) {
		t.Errorf("New(shopify) = %v, want ErrUnknownKind", err)
	}
}

func TestParseKind(t *testing.T) {
	for _, k := range Kinds() {
		for _, s := range []string{string(k), strings.ToUpper(string(k)), " " + string(k) + "\n"} {
			if got, err := ParseKind(s); err != nil || got != k {
				t.Errorf("ParseKind(%q) = %q, %v; want %q", s, got, err, k)
			}
		}
		if _, err := New(k, Config{Quota: 1, Window: time.Second, TokenQuota: 1}); err != nil {
			t.Errorf("New(%s): %v", k, err)
		}
	}
	if len(Kinds()) != 8 {
		t.Errorf("Kinds() = %v, want 8 kinds", Kinds())
	}
	_, err := ParseKind("anthropic")
	if !errors.Is(err, ErrUnknownKind) || !strings.Contains(err.Error(), "retry-after-date") {
		t.Errorf("ParseKind(anthropic) = %v, want ErrUnknownKind listing the kinds", err)
	}
}
