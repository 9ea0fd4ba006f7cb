package campaigns

import (
	"context"
	"encoding/json"
	"errors"
	"testing"

	"github.com/nudge-engine/nudge/internal/testenv"
)

func TestVersionsCacheReadsOnce(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	raw, _ := json.Marshal(Definition{ID: "c", Name: "first"})
	d.MustExec(`INSERT INTO campaigns (id, current_version) VALUES ('c', 'v1')`)
	d.MustExec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('c', 'v1', 1, $1, '')`, raw)
	v := NewVersions(d)
	a, err := v.Get(ctx, "c", "v1")
	if err != nil || a.Name != "first" {
		t.Fatalf("get: %+v %v", a, err)
	}
	// A version is immutable: the cache answers without reading again.
	d.MustExec(`DELETE FROM campaign_versions`)
	b, err := v.Get(ctx, "c", "v1")
	if err != nil || b != a {
		t.Fatalf("second get: %p %v, want the cached %p", b, err, a)
	}
	if _, err := v.Get(ctx, "c", "v2"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("unknown version: %v, want ErrNotFound", err)
	}
}

func TestVersionsCurrent(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	raw, _ := json.Marshal(Definition{ID: "c", Name: "first"})
	d.MustExec(`INSERT INTO campaigns (id, current_version) VALUES ('c', 'v1'), ('none', NULL)`)
	d.MustExec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('c', 'v1', 1, $1, '')`, raw)
	v := NewVersions(d)
	if def, err := v.Current(ctx, "c"); err != nil || def.Name != "first" {
		t.Fatalf("current: %+v %v", def, err)
	}
	for _, id := range []string{"none", "unknown"} {
		if _, err := v.Current(ctx, id); !errors.Is(err, ErrNotFound) {
			t.Errorf("current of %s: %v, want ErrNotFound", id, err)
		}
	}
}
