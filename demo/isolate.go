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

	"github.com/redis/go-redis/v9"

	"github.com/nudge-engine/nudge/internal/db"
)

// listenAddr picks the address the demo serves on: --addr or --port as
// given, else NUDGE_HTTP_ADDR (default :8080) and, when another program has
// that port, a free one on the same host. note says which, "" when the
// configured address was free.
func listenAddr(o Options, configured string) (addr, note string, err error) {
	switch {
	case o.Addr != "" && o.Port != 0:
		return "", "", errors.New("give --addr or --port, not both")
	case o.Port < 0 || o.Port > 65535:
		return "", "", fmt.Errorf("--port %d is not a TCP port (1–65535)", o.Port)
	case o.Port != 0:
		host, _, _ := net.SplitHostPort(configured)
		addr, err = freeAddr(net.JoinHostPort(host, strconv.Itoa(o.Port)))
		return addr, "", err
	case o.Addr != "":
		addr, err = freeAddr(o.Addr)
		return addr, "", err
	}
	addr, err = freeAddr(configured)
	if err == nil || !errors.Is(err, syscall.EADDRINUSE) {
		return addr, "", err
	}
	host, _, _ := net.SplitHostPort(configured)
	if addr, err = freeAddr(net.JoinHostPort(host, "0")); err != nil {
		return "", "", err
	}
	return addr, fmt.Sprintf("%s is taken: serving on %s instead (--port chooses one).", configured, addr), nil
}

// freeAddr resolves a ":0" port to a free one, so links can name it before
// the server starts.
func freeAddr(addr string) (string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("listen %s: %w", addr, err)
	}
	defer ln.Close()
	return ln.Addr().String(), nil
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
}

// defaultStore is nudge_demo_<port> and Redis DB 1 + port mod 15 (DB 0 is
// the development default).
func defaultStore(o Options, addr string) (store, error) {
	p := port(addr)
	s := store{Database: o.Database, RedisDB: o.RedisDB}
	if s.Database == "" {
		s.Database = fmt.Sprintf("nudge_demo_%d", p)
	}
	if s.RedisDB < 0 {
		s.RedisDB = 1 + p%15
	}
	if !dbName.MatchString(s.Database) {
		return s, fmt.Errorf("--database %q: use lower-case letters, digits and _ (at most 63)", s.Database)
	}
	if s.RedisDB > 15 {
		return s, fmt.Errorf("--redis-db %d: Redis has databases 0–15", s.RedisDB)
	}
	return s, nil
}

// prepare drops and recreates the database on the server of databaseURL
// and empties the Redis database on the server of redisURL, returning the
// URLs of both.
func (s store) prepare(ctx context.Context, databaseURL, redisURL string) (string, string, error) {
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
	ro, err := redis.ParseURL(redisURL)
	if err != nil {
		return "", "", fmt.Errorf("NUDGE_REDIS_URL: %w", err)
	}
	ro.DB = s.RedisDB
	rc := redis.NewClient(ro)
	defer rc.Close()
	if err := rc.FlushDB(ctx).Err(); err != nil {
		return "", "", fmt.Errorf("empty Redis DB %d: %w", s.RedisDB, err)
	}
	ru, err := url.Parse(redisURL)
	if err != nil {
		return "", "", fmt.Errorf("NUDGE_REDIS_URL: %w", err)
	}
	ru.Path = "/" + strconv.Itoa(s.RedisDB)
	return pu.String(), ru.String(), nil
}

// hidePassword is a URL for output, without its password.
func hidePassword(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(unparsable URL)"
	}
	p.RawQuery = ""
	return strings.TrimSuffix(p.Redacted(), "?")
}
