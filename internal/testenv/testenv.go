// Package testenv gives tests real, isolated Postgres and Redis.
//
// Postgres: each call to DB creates a fresh database cloned from a template
// that holds the current migrations (the template is built once per migration
// set, under an advisory lock, so parallel packages share it). Redis: each call
// to Redis claims one of the logical databases 1–15 with a lock key in
// database 0 and flushes it before and after use.
//
// The servers come from NUDGE_DATABASE_URL and NUDGE_REDIS_URL, which `make
// test` sets through scripts/services; without them the local defaults are tried.
//
// Tests that kill, pause or restart servers start private ones instead:
// StartRedisServer (redisproc.go) and StartPostgres (postgresproc.go); tests
// of real `nudge` processes build and start them with NudgeBinary and
// StartNudge (nudgeproc.go).
package testenv

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // the postgres driver
	"github.com/redis/go-redis/v9"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/redisconn"
	"github.com/nudge-engine/nudge/internal/redislease"
	"github.com/nudge-engine/nudge/migrations"
)

// DatabaseURL is the server the tests use (any database on it; tests create their own).
func DatabaseURL() string {
	if u := os.Getenv("NUDGE_DATABASE_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"
}

// RedisURL is the Redis server the tests use.
func RedisURL() string {
	if u := os.Getenv("NUDGE_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

func withDatabase(raw, name string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	u.Path = "/" + name
	return u.String()
}

var (
	tplOnce sync.Once
	tplName string
	tplErr  error
)

func migrationsHash() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%s\x00", path, b)
		return nil
	})
	return hex.EncodeToString(h.Sum(nil))[:12], err
}

// template returns the name of a migrated template database, building it once.
func template(ctx context.Context) (string, error) {
	tplOnce.Do(func() { tplName, tplErr = buildTemplate(ctx) })
	return tplName, tplErr
}

func buildTemplate(ctx context.Context) (string, error) {
	sum, err := migrationsHash()
	if err != nil {
		return "", err
	}
	name := "nudge_tpl_" + sum
	admin, err := sql.Open("postgres", DatabaseURL())
	if err != nil {
		return "", err
	}
	defer admin.Close()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return "", fmt.Errorf("testenv: connect to postgres at %s: %w", DatabaseURL(), err)
	}
	defer conn.Close()
	// One builder at a time across test processes.
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7424242)`); err != nil {
		return "", err
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(7424242)`)
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil {
		return "", err
	}
	if exists {
		return name, nil
	}
	// Drop templates of other migration sets once they are old, so they do not
	// pile up; a young one may belong to another checkout's test run right now.
	rows, err := conn.QueryContext(ctx, `SELECT d.datname FROM pg_database d
		 WHERE d.datname LIKE 'nudge\_tpl\_%' AND d.datname NOT LIKE '%\_build'
		   AND coalesce(shobj_description(d.oid, 'pg_database'), '0')::bigint < extract(epoch FROM now() - interval '6 hours')`)
	if err != nil {
		return "", err
	}
	var old []string
	for rows.Next() {
		var n string
		_ = rows.Scan(&n)
		old = append(old, n)
	}
	rows.Close()
	for _, n := range old {
		_, _ = conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quoteIdent(n)+` WITH (FORCE)`)
	}
	build := name + "_build"
	_, _ = conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+quoteIdent(build)+` WITH (FORCE)`)
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+quoteIdent(build)); err != nil {
		return "", fmt.Errorf("testenv: create template: %w", err)
	}
	mdb, err := sql.Open("postgres", withDatabase(DatabaseURL(), build))
	if err != nil {
		return "", err
	}
	err = migrations.Up(ctx, mdb)
	mdb.Close()
	if err != nil {
		return "", fmt.Errorf("testenv: migrate template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, `ALTER DATABASE `+quoteIdent(build)+` RENAME TO `+quoteIdent(name)); err != nil {
		return "", fmt.Errorf("testenv: rename template: %w", err)
	}
	if _, err := conn.ExecContext(ctx, fmt.Sprintf(`COMMENT ON DATABASE %s IS '%d'`, quoteIdent(name), time.Now().Unix())); err != nil {
		return "", fmt.Errorf("testenv: date template: %w", err)
	}
	return name, nil
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func randomSuffix() string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// DBURL creates a fresh migrated database for t, dropped at cleanup, and returns its URL.
// Use it when a test starts another process that must reach the same database.
func DBURL(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	tpl, err := template(ctx)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	name := "nudge_t_" + randomSuffix()
	admin, err := sql.Open("postgres", DatabaseURL())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer admin.Close()
	// CREATE DATABASE fails while another session is connected to the template;
	// that only happens for an instant while another package builds it, so retry.
	for i := 0; ; i++ {
		_, err = admin.ExecContext(ctx, `CREATE DATABASE `+quoteIdent(name)+` TEMPLATE `+quoteIdent(tpl))
		if err == nil || i > 50 {
			break
		}
		if strings.Contains(err.Error(), "does not exist") { // dropped by a stale-template sweep: build it again
			if tpl, err = buildTemplate(ctx); err != nil {
				break
			}
			continue
		}
		time.Sleep(100 * time.Millisecond)
	}
	if err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	dropAtCleanup(t, name)
	return withDatabase(DatabaseURL(), name)
}

// EmptyDBURL creates a fresh database with no schema for t (what a new
// install has before `nudge migrate up`), dropped at cleanup, and returns its URL.
func EmptyDBURL(t testing.TB) string {
	t.Helper()
	name := "nudge_e_" + randomSuffix()
	admin, err := sql.Open("postgres", DatabaseURL())
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec(`CREATE DATABASE ` + quoteIdent(name)); err != nil {
		t.Fatalf("testenv: create database: %v", err)
	}
	dropAtCleanup(t, name)
	return withDatabase(DatabaseURL(), name)
}

// DB returns a pool on a fresh migrated database for t.
func DB(t testing.TB) *sqlx.DB {
	t.Helper()
	u := DBURL(t)
	d, err := sqlx.Open(db.DriverName, u)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	d.SetMaxOpenConns(20)
	d.SetMaxIdleConns(20)
	urlsMu.Lock()
	urls[d] = u
	urlsMu.Unlock()
	t.Cleanup(func() {
		urlsMu.Lock()
		delete(urls, d)
		urlsMu.Unlock()
		d.Close()
	})
	return d
}

// Open returns a plain lib/pq pool of at most maxOpen connections (0: no
// limit) on url, a database of DBURL or of a private server, closed at
// cleanup. Unlike DB it does not use the engine's statement cache, for
// tests that look at the database beside the engine rather than as it.
func Open(t testing.TB, url string, maxOpen int) *sqlx.DB {
	t.Helper()
	d, err := sqlx.Open("postgres", url)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	d.SetMaxOpenConns(maxOpen)
	t.Cleanup(func() { d.Close() })
	return d
}

// Count runs q, a query for one number, on d; an error fails t with the query.
func Count(t testing.TB, ctx context.Context, d sqlx.QueryerContext, q string, args ...any) int {
	t.Helper()
	var n int
	if err := sqlx.GetContext(ctx, d, &n, q, args...); err != nil {
		t.Fatalf("%s: %v", strings.TrimSpace(q), err)
	}
	return n
}

// WantCount fails t unless q, a query for one number, counts want; what names
// the number in the failure, as "what = got, want want".
func WantCount(t testing.TB, ctx context.Context, d sqlx.QueryerContext, what string, want int, q string, args ...any) {
	t.Helper()
	if n := Count(t, ctx, d, q, args...); n != want {
		t.Fatalf("%s = %d, want %d", what, n, want)
	}
}

// redisLease is how long a test's claim on a Redis database lasts unless
// renewed; Redis renews it every third of that while the test runs.
const redisLease = 15 * time.Minute

// Redis claims an isolated, flushed logical Redis database for t and returns
// its URL (redis://host:port/N, or the Sentinel form when NUDGE_REDIS_URL is
// one). The database is flushed again at cleanup.
func Redis(t testing.TB) string {
	t.Helper()
	base, err := redisconn.Parse(RedisURL())
	if err != nil {
		t.Fatalf("testenv: NUDGE_REDIS_URL: %v", err)
	}
	on := func(n int) redis.UniversalClient {
		c, err := base.WithDB(n)
		if err != nil {
			t.Fatalf("testenv: NUDGE_REDIS_URL: %v", err)
		}
		return c.Client()
	}
	ctl := on(0)
	defer ctl.Close()
	ctx := context.Background()
	token := randomSuffix()
	deadline := time.Now().Add(3 * time.Minute)
	for {
		for n := redislease.First; n <= redislease.Last; n++ {
			key := redislease.Key(n) // shared with nudge-demo --fresh
			ok, err := redislease.Claim(ctx, ctl, n, token, redisLease)
			if err != nil {
				t.Fatalf("testenv: redis at %s: %v", base.Redacted(), err)
			}
			if !ok {
				continue
			}
			c := on(n)
			c.FlushDB(ctx)
			c.Close()
			// A benchmark can hold the database for longer than the lease
			// (a 10M blast runs an hour): renew it until cleanup, or another
			// test run takes the database and flushes it underneath.
			stop := make(chan struct{})
			renewed := make(chan struct{})
			go func() {
				defer close(renewed)
				ctl := on(0)
				defer ctl.Close()
				tick := time.NewTicker(redisLease / 3)
				defer tick.Stop()
				for {
					select {
					case <-stop:
						return
					case <-tick.C:
						_, _ = redislease.Renew(context.Background(), ctl, n, token, redisLease)
					}
				}
			}()
			t.Cleanup(func() {
				close(stop)
				<-renewed
				c := on(n)
				c.FlushDB(context.Background())
				c.Close()
				ctl := on(0)
				if v, _ := ctl.Get(context.Background(), key).Result(); v == token {
					ctl.Del(context.Background(), key)
				}
				ctl.Close()
			})
			mine, _ := base.WithDB(n)
			return mine.URL()
		}
		if time.Now().After(deadline) {
			t.Fatalf("testenv: no free Redis database (1-15) after 3 minutes")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// RedisClient returns a client on an isolated Redis database for t.
func RedisClient(t testing.TB) redis.UniversalClient {
	t.Helper()
	rc, err := redisconn.Parse(Redis(t))
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	c := rc.Client()
	t.Cleanup(func() { c.Close() })
	return c
}

// RedisClientAt returns a client on the Redis database at url (redis://…,
// as Redis gives for a plain server), closed at cleanup.
func RedisClientAt(t testing.TB, url string) *redis.Client {
	t.Helper()
	opt, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	c := redis.NewClient(opt)
	t.Cleanup(func() { c.Close() })
	return c
}

var (
	urlsMu sync.Mutex
	urls   = map[*sqlx.DB]string{}
)

// DBURLOf returns the URL of a database made by DB (for listeners and
// subprocesses that need their own connection).
func DBURLOf(d *sqlx.DB) string {
	urlsMu.Lock()
	defer urlsMu.Unlock()
	return urls[d]
}

// ClockStartVar names the variable that fixes where end-to-end tests start
// their simulated flow time (RFC 3339).
const ClockStartVar = "NUDGE_TEST_CLOCK_START"

// ClockStart is the simulated start of an end-to-end test: NUDGE_TEST_CLOCK_START
// when set, otherwise now. No test may depend on a calendar date: run them
// with the variable set to dates in the past, the future and across midnight.
func ClockStart(t testing.TB) time.Time {
	t.Helper()
	v := os.Getenv(ClockStartVar)
	if v == "" {
		return time.Now()
	}
	at, err := time.Parse(time.RFC3339, v)
	if err != nil {
		t.Fatalf("%s: not an RFC 3339 time: %q", ClockStartVar, v)
	}
	return at
}

// dropAtCleanup drops database name when t ends, even while connections to
// it are still open.
func dropAtCleanup(t testing.TB, name string) {
	t.Cleanup(func() {
		a, err := sql.Open("postgres", DatabaseURL())
		if err != nil {
			return
		}
		defer a.Close()
		_, _ = a.Exec(`DROP DATABASE IF EXISTS ` + quoteIdent(name) + ` WITH (FORCE)`)
	})
}
