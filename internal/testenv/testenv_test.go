package testenv

import (
	"context"
	"net"
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

// TestFreeAddrIsOutsideTheKernelsRange: FreeAddr's port is bindable and,
// where the kernel says its ephemeral range, below it, so no ":0" listener
// or outgoing connection elsewhere on the host can take it before the
// test's process binds it.
func TestFreeAddrIsOutsideTheKernelsRange(t *testing.T) {
	lo, ok := ephemeralLow()
	for range 20 {
		addr := FreeAddr(t)
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			t.Fatalf("FreeAddr %s: %v", addr, err)
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln.Close()
		if ok && (p >= lo || p < portsFrom) {
			t.Fatalf("FreeAddr %s: want a port in %d–%d", addr, portsFrom, lo-1)
		}
	}
}
