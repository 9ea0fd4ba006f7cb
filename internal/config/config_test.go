package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func envOf(m map[string]string) *Env {
	return &Env{Lookup: func(k string) (string, bool) { v, ok := m[k]; return v, ok }}
}

func TestLoadCoreNamesBadVariables(t *testing.T) {
	e := envOf(map[string]string{
		"NUDGE_DATABASE_URL": "mysql://x/y",
		"NUDGE_LOG_FORMAT":   "xml",
	})
	LoadCore(e)
	err := e.Err()
	if err == nil {
		t.Fatal("want an error")
	}
	for _, want := range []string{"NUDGE_DATABASE_URL: scheme", "NUDGE_LOG_FORMAT: must be one of"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestFileVariant(t *testing.T) {
	p := filepath.Join(t.TempDir(), "secret")
	if err := os.WriteFile(p, []byte("s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := envOf(map[string]string{"X_FILE": p, "Y_FILE": p + ".missing"})
	if got := e.String("X", ""); got != "s3cret" {
		t.Fatalf("got %q", got)
	}
	e.String("Y", "")
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "Y_FILE") {
		t.Fatalf("want Y_FILE error, got %v", err)
	}
}

// NUDGE_REDIS_URL takes every topology redisconn reads, and a bad one is
// reported without its password.
func TestRedisURL(t *testing.T) {
	for _, ok := range []string{
		"redis://127.0.0.1:6379/0", "rediss://:pw@cache:6380/1",
		"redis-sentinel://:pw@s1:26379,s2:26379/mymaster/2", "redis-cluster://n1:7000,n2:7001",
	} {
		e := envOf(map[string]string{"NUDGE_REDIS_URL": ok})
		if c := LoadCore(e); c.RedisURL != ok || e.Err() != nil {
			t.Errorf("%s: got %q, %v", ok, c.RedisURL, e.Err())
		}
	}
	e := envOf(map[string]string{"NUDGE_REDIS_URL": "redis-sentinel://:TopSecret9@s1:26379"})
	LoadCore(e)
	err := e.Err()
	if err == nil || !strings.Contains(err.Error(), "NUDGE_REDIS_URL: a sentinel URL names its master") {
		t.Fatalf("want a NUDGE_REDIS_URL error naming the missing master, got %v", err)
	}
	if strings.Contains(err.Error(), "TopSecret9") {
		t.Errorf("the error echoes the password: %v", err)
	}
}

// Duration, Int and Bool give the parsed value, the default when the
// variable is unset or empty, and the default with a problem naming the
// variable when the value does not parse.
func TestParsedVariables(t *testing.T) {
	e := envOf(map[string]string{"D": "90s", "I": "42", "B": "true", "EMPTY": "",
		"BAD_D": "soon", "BAD_I": "4x", "BAD_B": "maybe"})
	if d := e.Duration("D", time.Second); d != 90*time.Second {
		t.Errorf("Duration = %v", d)
	}
	if n := e.Int("I", 1); n != 42 {
		t.Errorf("Int = %d", n)
	}
	if b := e.Bool("B", false); !b {
		t.Error("Bool = false")
	}
	if d, n, b := e.Duration("EMPTY", time.Minute), e.Int("UNSET", 7), e.Bool("UNSET", true); d != time.Minute || n != 7 || !b {
		t.Errorf("defaults: %v %d %v", d, n, b)
	}
	if e.Err() != nil {
		t.Fatalf("good values failed: %v", e.Err())
	}
	if d, n, b := e.Duration("BAD_D", time.Minute), e.Int("BAD_I", 7), e.Bool("BAD_B", true); d != time.Minute || n != 7 || !b {
		t.Errorf("bad values did not give the defaults: %v %d %v", d, n, b)
	}
	for _, want := range []string{`BAD_D: is not a duration like 30s or 5m: "soon"`, `BAD_I: is not an integer: "4x"`, `BAD_B: is not a boolean: "maybe"`} {
		if err := e.Err(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}
