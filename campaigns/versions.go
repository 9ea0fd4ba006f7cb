package campaigns

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/db"
)

const (
	qVersionDefinition = `SELECT definition FROM campaign_versions WHERE campaign_id = $1 AND version = $2`
	qCurrentVersion    = `SELECT coalesce(current_version, '') FROM campaigns WHERE id = $1`
)

// Versions is the cache of immutable campaign versions the runtime reads
// (the worker's claims, the inbox's router, analytics): a version is read
// and decoded once per process, then shared. The cache never goes stale:
// applying a changed campaign makes a new version.
type Versions struct {
	d    *sqlx.DB
	defs sync.Map // campaign id + "\x00" + version → *Definition
}

// NewVersions returns an empty cache reading from d.
func NewVersions(d *sqlx.DB) *Versions { return &Versions{d: d} }

// Get returns the definition of a campaign version (its content hash, as
// runs and messages record it); ErrNotFound when there is no such version.
// Callers must not modify the definition: it is shared.
func (v *Versions) Get(ctx context.Context, campaignID, version string) (*Definition, error) {
	key := campaignID + "\x00" + version
	if d, ok := v.defs.Load(key); ok {
		return d.(*Definition), nil
	}
	var raw []byte
	err := v.d.GetContext(ctx, &raw, qVersionDefinition, campaignID, version)
	if db.IsNoRows(err) {
		return nil, fmt.Errorf("campaign %s version %s: %w", campaignID, version, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("campaign %s version %s: %w", campaignID, version, err)
	}
	var def Definition
	if err := json.Unmarshal(raw, &def); err != nil {
		return nil, fmt.Errorf("campaign %s version %s: decode definition: %w", campaignID, version, err)
	}
	d, _ := v.defs.LoadOrStore(key, &def)
	return d.(*Definition), nil
}

// Current returns the definition of the campaign's current version (read
// each time: applying moves it); ErrNotFound for an unknown campaign or one
// without a current version.
func (v *Versions) Current(ctx context.Context, campaignID string) (*Definition, error) {
	var version string
	err := v.d.GetContext(ctx, &version, qCurrentVersion, campaignID)
	if db.IsNoRows(err) {
		return nil, fmt.Errorf("campaign %s: %w", campaignID, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("current version of %s: %w", campaignID, err)
	}
	return v.Get(ctx, campaignID, version)
}
