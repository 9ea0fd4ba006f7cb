// Package redislease shares the logical databases (1–15) of one Redis
// server among the programs on a host that each want one to themselves and
// flush it: test runs (internal/testenv) and demos (nudge-demo --fresh). A
// lease is a key in DB 0 set with SETNX and a time to live; whoever holds it
// may flush that database, nobody else.
package redislease

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// The databases leases are given for; DB 0 holds the leases.
const (
	First = 1
	Last  = 15
)

// Key is the lease key of database n. The name predates this package (test
// runs of older checkouts on the same host use it too).
func Key(n int) string { return fmt.Sprintf("nudge:testenv:redis-db:%d", n) }

// Claim takes the lease of database n for ttl under token, reporting false
// when another holder has it. ctl is a client of DB 0 (one server or a
// Sentinel master).
func Claim(ctx context.Context, ctl redis.Cmdable, n int, token string, ttl time.Duration) (bool, error) {
	if n < First || n > Last {
		return false, fmt.Errorf("redis database %d: leases cover %d–%d", n, First, Last)
	}
	ok, err := ctl.SetNX(ctx, Key(n), token, ttl).Result()
	if err != nil {
		return false, fmt.Errorf("lease redis database %d: %w", n, err)
	}
	return ok, nil
}

// Release gives the lease of database n back if token still holds it.
func Release(ctx context.Context, ctl redis.Cmdable, n int, token string) error {
	v, err := ctl.Get(ctx, Key(n)).Result()
	if errors.Is(err, redis.Nil) || (err == nil && v != token) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("release redis database %d: %w", n, err)
	}
	return ctl.Del(ctx, Key(n)).Err()
}

// renew extends a lease only while its value is still the holder's token.
var renew = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
    return redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0`)

// Renew extends the lease of database n to ttl from now if token still
// holds it, reporting whether it did. A holder that runs longer than the
// ttl it claimed with (a 10M benchmark) renews, or another program takes
// the database and flushes it under the holder.
func Renew(ctx context.Context, ctl redis.Scripter, n int, token string, ttl time.Duration) (bool, error) {
	v, err := renew.Run(ctx, ctl, []string{Key(n)}, token, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("renew redis database %d: %w", n, err)
	}
	return v == 1, nil
}
