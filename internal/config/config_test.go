package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
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
