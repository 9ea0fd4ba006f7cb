// Package config reads configuration from the environment. Every variable may
// instead be given as NAME_FILE naming a file that holds the value (for secrets
// mounted as files). Problems are collected and reported together, each naming
// the variable at fault.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/internal/redisconn"
)

// Env reads variables and collects problems. The zero value reads os.LookupEnv.
type Env struct {
	// Lookup overrides os.LookupEnv (tests).
	Lookup func(string) (string, bool)
	// Names overrides the names of the set variables (os.Environ's); with
	// Lookup set and Names nil, none are listed.
	Names func() []string
	errs  []error
}

func (e *Env) lookup(name string) (string, bool) {
	look := e.Lookup
	if look == nil {
		look = os.LookupEnv
	}
	if v, ok := look(name); ok {
		return v, true
	}
	if path, ok := look(name + "_FILE"); ok && path != "" {
		b, err := os.ReadFile(path)
		if err != nil {
			e.Fail(name+"_FILE", "cannot read %s: %v", path, err)
			return "", false
		}
		return strings.TrimRight(string(b), "\r\n"), true
	}
	return "", false
}

// NamesWithPrefix lists the set variables whose names start with prefix,
// for checks of names no loader asks for (a stray account's token).
func (e *Env) NamesWithPrefix(prefix string) []string {
	var all []string
	switch {
	case e.Names != nil:
		all = e.Names()
	case e.Lookup == nil:
		for _, kv := range os.Environ() {
			name, _, _ := strings.Cut(kv, "=")
			all = append(all, name)
		}
	}
	var out []string
	for _, n := range all {
		if strings.HasPrefix(n, prefix) {
			out = append(out, n)
		}
	}
	return out
}

// Fail records a problem with variable name, once: a variable read by two
// loaders (the CLI's core and a role's clock) is reported once.
func (e *Env) Fail(name, format string, args ...any) {
	err := fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...))
	for _, had := range e.errs {
		if had.Error() == err.Error() {
			return
		}
	}
	e.errs = append(e.errs, err)
}

// Err returns every problem recorded so far, or nil.
func (e *Env) Err() error { return errors.Join(e.errs...) }

// String returns the variable or def when unset.
func (e *Env) String(name, def string) string {
	if v, ok := e.lookup(name); ok {
		return v
	}
	return def
}

// Required returns the variable, recording a problem when it is unset or empty.
func (e *Env) Required(name string) string {
	v, _ := e.lookup(name)
	if v == "" {
		e.Fail(name, "is required")
	}
	return v
}

// URL returns the variable parsed as a URL with one of schemes (any when none).
func (e *Env) URL(name, def string, schemes ...string) string {
	v := e.String(name, def)
	if v == "" {
		return v
	}
	u, err := url.Parse(v)
	if err != nil || u.Scheme == "" || u.Host == "" {
		e.Fail(name, "is not a URL: %q", redact(v))
		return v
	}
	if len(schemes) > 0 {
		for _, s := range schemes {
			if u.Scheme == s {
				return v
			}
		}
		e.Fail(name, "scheme must be one of %s, got %q", strings.Join(schemes, ", "), u.Scheme)
	}
	return v
}

// Redis returns the variable checked as a Redis URL by redisconn.Parse (one
// server, Sentinel or Cluster); the problem it records never holds the
// password.
func (e *Env) Redis(name, def string) string {
	v := e.String(name, def)
	if _, err := redisconn.Parse(v); err != nil {
		e.Fail(name, "%v", err)
	}
	return v
}

// Duration returns the variable parsed by time.ParseDuration.
func (e *Env) Duration(name string, def time.Duration) time.Duration {
	return parsed(e, name, def, "a duration like 30s or 5m", time.ParseDuration)
}

// Int returns the variable parsed as an integer.
func (e *Env) Int(name string, def int) int {
	return parsed(e, name, def, "an integer", strconv.Atoi)
}

// Bool returns the variable parsed as a boolean.
func (e *Env) Bool(name string, def bool) bool {
	return parsed(e, name, def, "a boolean", strconv.ParseBool)
}

// parsed returns the variable read by parse, def when it is unset or empty;
// a value parse refuses fails the variable ("is not " + want) and gives def.
func parsed[T any](e *Env, name string, def T, want string, parse func(string) (T, error)) T {
	v, ok := e.lookup(name)
	if !ok || v == "" {
		return def
	}
	x, err := parse(v)
	if err != nil {
		e.Fail(name, "is not %s: %q", want, v)
		return def
	}
	return x
}

// OneOf returns the variable, which must be one of allowed.
func (e *Env) OneOf(name, def string, allowed ...string) string {
	v := e.String(name, def)
	for _, a := range allowed {
		if v == a {
			return v
		}
	}
	e.Fail(name, "must be one of %s, got %q", strings.Join(allowed, ", "), v)
	return def
}

// redact hides a password in a URL-ish string.
func redact(s string) string {
	if u, err := url.Parse(s); err == nil && u.User != nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "xxx")
			return u.String()
		}
	}
	return s
}

// Core is the configuration every role needs.
type Core struct {
	DatabaseURL string
	RedisURL    string
	HTTPAddr    string
	BaseURL     string // public URL of this install, for links and webhooks
	LogFormat   string // text | json
	LogLevel    string // debug | info | warn | error
	DBMaxConns  int    // Postgres pool size per process
	PhoneRegion string // region of phone numbers written without a country code
}

// LoadCore reads the core variables.
func LoadCore(e *Env) Core {
	c := Core{
		DatabaseURL: e.URL("NUDGE_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/nudge?sslmode=disable", "postgres", "postgresql"),
		RedisURL:    e.Redis("NUDGE_REDIS_URL", "redis://127.0.0.1:6379/0"),
		HTTPAddr:    e.String("NUDGE_HTTP_ADDR", "127.0.0.1:8080"),
		BaseURL:     strings.TrimRight(e.URL("NUDGE_BASE_URL", "http://127.0.0.1:8080", "http", "https"), "/"),
		LogFormat:   e.OneOf("NUDGE_LOG_FORMAT", "text", "text", "json"),
		LogLevel:    e.OneOf("NUDGE_LOG_LEVEL", "info", "debug", "info", "warn", "error"),
		DBMaxConns:  e.Int("NUDGE_DB_MAX_CONNS", 50),      // db.DefaultMaxConns
		PhoneRegion: e.String("NUDGE_PHONE_REGION", "RU"), // subscribers.DefaultPhoneRegion
	}
	if c.DBMaxConns < 4 {
		e.Fail("NUDGE_DB_MAX_CONNS", "must be at least 4")
	}
	return c
}
