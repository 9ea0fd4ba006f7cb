package redislease_test

import (
	"context"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/nudge-engine/nudge/internal/redislease"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// TestClaimRelease: a database leased by one holder (here the test's own,
// leased by testenv) is refused to another; release by a stranger is a
// no-op, by the holder frees it.
func TestClaimRelease(t *testing.T) {
	ctl, held := leased(t)
	ctx := context.Background()
	if ok, err := redislease.Claim(ctx, ctl, held, "other", time.Minute); err != nil || ok {
		t.Fatalf("claim of a held database: %v, %v", ok, err)
	}
	if err := redislease.Release(ctx, ctl, held, "other"); err != nil {
		t.Fatal(err)
	}
	if n, _ := ctl.Exists(ctx, redislease.Key(held)).Result(); n != 1 {
		t.Fatal("a stranger released the lease")
	}
	if _, err := redislease.Claim(ctx, ctl, 0, "x", time.Minute); err == nil {
		t.Fatal("DB 0 (the leases' own) was leased")
	}
}

// TestRenew: the holder's renewal extends the lease; a stranger's does not
// touch it.
func TestRenew(t *testing.T) {
	ctl, held := leased(t)
	ctx := context.Background()
	if ok, err := redislease.Renew(ctx, ctl, held, "other", time.Hour); err != nil || ok {
		t.Fatalf("a stranger renewed: %v, %v", ok, err)
	}
	if ttl := ctl.PTTL(ctx, redislease.Key(held)).Val(); ttl > 20*time.Minute {
		t.Fatalf("a stranger's renewal changed the ttl to %s", ttl)
	}
	if ok, err := redislease.Renew(ctx, ctl, held, ctl.Get(ctx, redislease.Key(held)).Val(), time.Hour); err != nil || !ok {
		t.Fatalf("the holder's renewal: %v, %v", ok, err)
	}
	if ttl := ctl.PTTL(ctx, redislease.Key(held)).Val(); ttl < 59*time.Minute {
		t.Fatalf("ttl after renewal %s, want about an hour", ttl)
	}
}

// leased leases a database for the test through testenv and returns a
// client of DB 0 (the leases') and the leased database's number.
func leased(t *testing.T) (*redis.Client, int) {
	t.Helper()
	ro, err := redis.ParseURL(testenv.Redis(t))
	if err != nil {
		t.Fatal(err)
	}
	held := ro.DB
	ro.DB = 0
	ctl := redis.NewClient(ro)
	t.Cleanup(func() { ctl.Close() })
	return ctl, held
}
