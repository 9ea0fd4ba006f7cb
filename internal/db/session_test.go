package db_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// keyValue turns a postgres:// URL into lib/pq's key=value form.
func keyValue(t *testing.T, raw string) string {
	t.Helper()
	u, err := url.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	parts := []string{"host=" + u.Hostname(), "dbname=" + strings.TrimPrefix(u.Path, "/")}
	if p := u.Port(); p != "" {
		parts = append(parts, "port="+p)
	}
	if u.User != nil {
		parts = append(parts, "user="+u.User.Username())
		if pw, ok := u.User.Password(); ok {
			parts = append(parts, "password="+pw)
		}
	}
	for k, vs := range u.Query() {
		parts = append(parts, k+"="+vs[0])
	}
	return strings.Join(parts, " ")
}

// Both forms of connection string carry the timeouts to every session, and
// the server ends a session left idle in a transaction past its timeout.
func TestWithSessionTimeouts(t *testing.T) {
	base := testenv.DBURL(t)
	for _, form := range []struct{ name, dsn string }{{"url", base}, {"key=value", keyValue(t, base)}} {
		t.Run(form.name, func(t *testing.T) {
			dsn, err := db.WithSessionTimeouts(form.dsn, 90*time.Second, 200*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			d, err := db.Open(ctx, dsn)
			if err != nil {
				t.Fatal(err)
			}
			defer d.Close()
			var st, idle string
			if err := d.GetContext(ctx, &st, `SHOW statement_timeout`); err != nil {
				t.Fatal(err)
			}
			if err := d.GetContext(ctx, &idle, `SHOW idle_in_transaction_session_timeout`); err != nil {
				t.Fatal(err)
			}
			if st != "90s" || idle != "200ms" {
				t.Fatalf("statement_timeout %q, idle_in_transaction_session_timeout %q; want 90s, 200ms", st, idle)
			}
			err = db.WithTx(ctx, d, func(tx *sqlx.Tx) error {
				if _, err := tx.ExecContext(ctx, `SELECT 1`); err != nil {
					return fmt.Errorf("first statement: %w", err)
				}
				time.Sleep(time.Second)
				_, err := tx.ExecContext(ctx, `SELECT 1`)
				return err
			})
			if err == nil {
				t.Fatal("a transaction idle for 1s outlived a 200ms idle-in-transaction timeout")
			}
		})
	}
	d, err := db.WithSessionTimeouts(base, 0, 0)
	if err != nil || d != base {
		t.Fatalf("zero timeouts changed the URL: %q, %v", d, err)
	}
	if _, err := db.WithSessionTimeouts(base, -time.Second, 0); err == nil {
		t.Fatal("a negative timeout was accepted")
	}
}
