// Package migrations holds the numbered SQL files of the schema, embedded in
// the binary and applied with goose (a well-kept runner with up/down/status,
// per-file transactions and a version table; no need to write our own).
//
// File numbers are owned per area so parallel work never collides:
// 00001 base, 00002 subscribers, 00003 consent, 00004 campaigns, 00005 worker,
// 00006 scheduler, 00007–00008 channels, 00009 policy, 00010 inbox, 00011 users.
package migrations

import (
	"context"
	"database/sql"
	"embed"
	"fmt"
	"io"

	"github.com/pressly/goose/v3"
)

//go:embed *.sql
var files embed.FS

// FS returns the embedded migration files.
func FS() embed.FS { return files }

func provider(d *sql.DB) (*goose.Provider, error) {
	// Out-of-order files are allowed: areas own number ranges and land in
	// any order, so a database may have a higher file before a lower one.
	p, err := goose.NewProvider(goose.DialectPostgres, d, files, goose.WithAllowOutofOrder(true))
	if err != nil {
		return nil, fmt.Errorf("migrations: %w", err)
	}
	return p, nil
}

// Up applies every pending migration.
func Up(ctx context.Context, d *sql.DB) error {
	return migrate(ctx, d, "up", (*goose.Provider).Up)
}

// Down rolls back the newest applied migration.
func Down(ctx context.Context, d *sql.DB) error {
	return migrate(ctx, d, "down", (*goose.Provider).Down)
}

// migrate runs one goose step (Up, Down) on d; dir names it in the error.
func migrate[R any](ctx context.Context, d *sql.DB, dir string, step func(*goose.Provider, context.Context) (R, error)) error {
	p, err := provider(d)
	if err != nil {
		return err
	}
	if _, err := step(p, ctx); err != nil {
		return fmt.Errorf("migrate %s: %w", dir, err)
	}
	return nil
}

// Status writes one line per migration: version, state and file.
func Status(ctx context.Context, d *sql.DB, w io.Writer) error {
	p, err := provider(d)
	if err != nil {
		return err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return fmt.Errorf("migrate status: %w", err)
	}
	for _, s := range st {
		applied := "pending"
		if s.State == goose.StatePending {
			applied = "pending"
		} else {
			applied = "applied " + s.AppliedAt.UTC().Format("2006-01-02 15:04:05")
		}
		fmt.Fprintf(w, "%05d  %-28s  %s\n", s.Source.Version, applied, s.Source.Path)
	}
	return nil
}
