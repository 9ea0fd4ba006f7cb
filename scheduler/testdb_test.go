package scheduler

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/migrations"
)

// Several branches share one Postgres server, and testenv drops the
// templates of other migration sets when it builds its own, so the template
// this process built can vanish between two tests (3D000 "template database
// does not exist"). dbURL rebuilds it (the same way testenv does, without
// dropping anybody's) and retries. Reported to the lead for testenv itself.
func dbURL(t testing.TB) string {
	t.Helper()
	var last string
	for attempt := 0; attempt < 6; attempt++ {
		u, msg := tryDBURL(t)
		if msg == "" {
			return u
		}
		last = msg
		if !strings.Contains(msg, "does not exist") {
			break
		}
		if err := rebuildTemplate(context.Background()); err != nil {
			t.Fatalf("rebuild template: %v", err)
		}
	}
	t.Fatalf("%s", last)
	return ""
}

type tbTrap struct {
	testing.TB
	mu  sync.Mutex
	msg string
}

func (w *tbTrap) Fatalf(format string, args ...any) {
	w.mu.Lock()
	w.msg = fmt.Sprintf(format, args...)
	w.mu.Unlock()
	runtime.Goexit()
}

func (w *tbTrap) Fatal(args ...any) { w.Fatalf("%s", fmt.Sprint(args...)) }

func tryDBURL(t testing.TB) (string, string) {
	w := &tbTrap{TB: t}
	res := make(chan string, 1)
	done := make(chan struct{})
	go func() {
		defer close(done)
		res <- testenv.DBURL(w)
	}()
	<-done
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.msg != "" {
		return "", w.msg
	}
	return <-res, ""
}

func templateName() (string, error) {
	h := sha256.New()
	err := fs.WalkDir(migrations.FS(), ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.FS(), path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "%s\x00%s\x00", path, b)
		return nil
	})
	return "nudge_tpl_" + hex.EncodeToString(h.Sum(nil))[:12], err
}

func rebuildTemplate(ctx context.Context) error {
	name, err := templateName()
	if err != nil {
		return err
	}
	admin, err := sql.Open("postgres", testenv.DatabaseURL())
	if err != nil {
		return err
	}
	defer admin.Close()
	conn, err := admin.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SELECT pg_advisory_lock(7424242)`); err != nil {
		return err
	}
	defer conn.ExecContext(context.Background(), `SELECT pg_advisory_unlock(7424242)`)
	var exists bool
	if err := conn.QueryRowContext(ctx, `SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)`, name).Scan(&exists); err != nil || exists {
		return err
	}
	q := func(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }
	build := name + "_build"
	_, _ = conn.ExecContext(ctx, `DROP DATABASE IF EXISTS `+q(build)+` WITH (FORCE)`)
	if _, err := conn.ExecContext(ctx, `CREATE DATABASE `+q(build)); err != nil {
		return err
	}
	u, err := url.Parse(testenv.DatabaseURL())
	if err != nil {
		return err
	}
	u.Path = "/" + build
	mdb, err := sql.Open("postgres", u.String())
	if err != nil {
		return err
	}
	err = migrations.Up(ctx, mdb)
	mdb.Close()
	if err != nil {
		return err
	}
	_, err = conn.ExecContext(ctx, `ALTER DATABASE `+q(build)+` RENAME TO `+q(name))
	return err
}
