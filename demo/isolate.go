package demo

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/redisconn"
	"github.com/nudge-engine/nudge/internal/redislease"
)

// listen binds the address the demo serves on: --addr or --port as given,
// else NUDGE_HTTP_ADDR (default :8080) and, when another program has that
// port, a free one on the same host. The listener stays bound until the
// engine serves on it (server.WithListener), so no other program can take
// the port in between. note says which address, "" when the configured one
// was free.
func listen(o Options, configured string) (ln net.Listener, note string, err error) {
	switch {
	case o.Addr != "" && o.Port != 0:
		return nil, "", errors.New("give --addr or --port, not both")
	case o.Port < 0 || o.Port > 65535:
		return nil, "", fmt.Errorf("--port %d is not a TCP port (1–65535)", o.Port)
	case o.Port != 0:
		host, _, _ := net.SplitHostPort(configured)
		ln, err = bind(net.JoinHostPort(host, strconv.Itoa(o.Port)))
		return ln, "", err
	case o.Addr != "":
		ln, err = bind(o.Addr)
		return ln, "", err
	}
	ln, err = bind(configured)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		return ln, "", err
	}
	host, _, _ := net.SplitHostPort(configured)
	if ln, err = bind(net.JoinHostPort(host, "0")); err != nil {
		return nil, "", err
	}
	return ln, fmt.Sprintf("%s is taken: serving on %s instead (--port chooses one).", configured, ln.Addr()), nil
}

func bind(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}

// port is the port of a resolved listen address.
func port(addr string) int {
	_, p, _ := net.SplitHostPort(addr)
	n, _ := strconv.Atoi(p)
	return n
}

var dbName = regexp.MustCompile(`^[a-z_][a-z0-9_]{0,62}$`)

// store is where a fresh demo keeps its data: a database beside the
// configured one and a Redis database of the configured server. Both are
// named after the port by default, so two demos on one host (each on its
// own port) do not share a queue or a funnel.
type store struct {
	Database string // database name
	RedisDB  int
	explicit bool   // RedisDB was asked for: no other will do
	token    string // holds the lease of RedisDB (package redislease)
}

// leaseTTL bounds how long a demo that died without releasing its Redis DB
// keeps others off it.
const leaseTTL = 24 * time.Hour

// defaultStore is nudge_demo_<port> and Redis DB 1 + port mod 15 (DB 0 is
// the development default), or the next one another program (a test run,
// another demo) does not hold.
func defaultStore(o Options, addr string) (*store, error) {
	p := port(addr)
	s := &store{Database: o.Database, RedisDB: o.RedisDB, explicit: o.RedisDB >= 0, token: fmt.Sprintf("nudge-demo:%d:%d", p, time.Now().UnixNano())}
	if s.Database == "" {
		s.Database = fmt.Sprintf("nudge_demo_%d", p)
	}
	if !s.explicit {
		s.RedisDB = redislease.First + p%(redislease.Last-redislease.First+1)
	}
	if !dbName.MatchString(s.Database) {
		return s, fmt.Errorf("--database %q: use lower-case letters, digits and _ (at most 63)", s.Database)
	}
	if s.RedisDB < redislease.First || s.RedisDB > redislease.Last {
		return s, fmt.Errorf("--redis-db %d: the demo uses Redis databases %d–%d (0 is the development default)", s.RedisDB, redislease.First, redislease.Last)
	}
	return s, nil
}

// lease claims the Redis DB, or with no --redis-db the next free one.
func (s *store) lease(ctx context.Context, ctl redis.Cmdable) error {
	n := redislease.Last - redislease.First + 1
	for i := 0; i < n; i++ {
		db := redislease.First + (s.RedisDB-redislease.First+i)%n
		ok, err := redislease.Claim(ctx, ctl, db, s.token, leaseTTL)
		if err != nil {
			return err
		}
		if ok {
			s.RedisDB = db
			return nil
		}
		if s.explicit {
			return fmt.Errorf("--redis-db %d is in use by another demo or test run (key %s in DB 0)", db, redislease.Key(db))
		}
	}
	return fmt.Errorf("every Redis database %d–%d is in use by demos or test runs: pass --redis-db when one is free", redislease.First, redislease.Last)
}

// prepare drops and recreates the database on the server of databaseURL
// and leases and empties a Redis database on the server of redisURL,
// returning the URLs of both.
func (s *store) prepare(ctx context.Context, databaseURL, redisURL string) (string, string, error) {
	pu, err := url.Parse(databaseURL)
	if err != nil || pu.Scheme == "" {
		return "", "", fmt.Errorf("NUDGE_DATABASE_URL is not a URL (postgres://…): a fresh demo makes its database beside it")
	}
	admin, err := db.Open(ctx, databaseURL)
	if err != nil {
		return "", "", err
	}
	defer admin.Close()
	for _, q := range []string{`DROP DATABASE IF EXISTS ` + s.Database + ` WITH (FORCE)`, `CREATE DATABASE ` + s.Database} {
		if _, err := admin.ExecContext(ctx, q); err != nil {
			return "", "", fmt.Errorf("fresh demo database %s: %w", s.Database, err)
		}
	}
	pu.Path = "/" + s.Database
	rc, err := demoRedis(redisURL)
	if err != nil {
		return "", "", err
	}
	ctl, err := rc.WithDB(0)
	if err != nil {
		return "", "", err
	}
	ctlc := ctl.Client()
	defer ctlc.Close()
	if err := s.lease(ctx, ctlc); err != nil {
		return "", "", err
	}
	mine, err := rc.WithDB(s.RedisDB)
	if err != nil {
		return "", "", err
	}
	c := mine.Client()
	defer c.Close()
	if err := c.FlushDB(ctx).Err(); err != nil {
		return "", "", fmt.Errorf("empty Redis DB %d: %w", s.RedisDB, err)
	}
	return pu.String(), mine.URL(), nil
}

// demoRedis reads NUDGE_REDIS_URL for a fresh demo, which needs a Redis
// database of its own: one server or a Sentinel master, not a Cluster
// (that has only database 0).
func demoRedis(redisURL string) (redisconn.Conn, error) {
	rc, err := redisconn.Parse(redisURL)
	if err != nil {
		return rc, fmt.Errorf("NUDGE_REDIS_URL: %w", err)
	}
	if rc.Topology == redisconn.Cluster {
		return rc, errors.New("NUDGE_REDIS_URL is a Redis Cluster, which has only database 0: a fresh demo needs a database of its own (use a single server or Sentinel, or run without --fresh)")
	}
	return rc, nil
}

// drop removes what prepare made, once the demo is over: a demo on a
// port picked at random would otherwise leave a database behind per run.
func (s *store) drop(ctx context.Context, databaseURL, redisURL string) error {
	admin, err := db.Open(ctx, databaseURL)
	if err != nil {
		return err
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `DROP DATABASE IF EXISTS `+s.Database+` WITH (FORCE)`); err != nil {
		return fmt.Errorf("drop demo database %s: %w", s.Database, err)
	}
	rc, err := demoRedis(redisURL)
	if err != nil {
		return err
	}
	for _, step := range []struct {
		db int
		do func(redis.UniversalClient) error
	}{
		{s.RedisDB, func(c redis.UniversalClient) error {
			if err := c.FlushDB(ctx).Err(); err != nil {
				return fmt.Errorf("empty Redis DB %d: %w", s.RedisDB, err)
			}
			return nil
		}},
		{0, func(c redis.UniversalClient) error { return redislease.Release(ctx, c, s.RedisDB, s.token) }},
	} {
		on, err := rc.WithDB(step.db)
		if err != nil {
			return err
		}
		c := on.Client()
		err = step.do(c)
		c.Close()
		if err != nil {
			return err
		}
	}
	return nil
}

// hidePassword is a URL for output, without its password.
func hidePassword(u string) string {
	if rc, err := redisconn.Parse(u); err == nil {
		return rc.Redacted()
	}
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.RawQuery = ""
	return strings.TrimSuffix(p.Redacted(), "?")
}
