package testenv

import (
	"context"
	"testing"
)

func TestDBIsMigratedAndIsolated(t *testing.T) {
	t.Parallel()
	a, b := DB(t), DB(t)
	ctx := context.Background()
	if _, err := a.ExecContext(ctx, `INSERT INTO subscribers (external_id) VALUES ('x')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := b.GetContext(ctx, &n, `SELECT count(*) FROM subscribers`); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatalf("databases are not isolated: %d rows leaked", n)
	}
}

func TestRedisIsIsolated(t *testing.T) {
	t.Parallel()
	a, b := RedisClient(t), RedisClient(t)
	ctx := context.Background()
	if err := a.Set(ctx, "k", "v", 0).Err(); err != nil {
		t.Fatal(err)
	}
	if n, _ := b.Exists(ctx, "k").Result(); n != 0 {
		t.Fatal("redis databases are not isolated")
	}
}
