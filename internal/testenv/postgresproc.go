package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/migrations"
)

// PostgresProc is a private PostgreSQL server of one test (initdb and pg_ctl
// from the installed server packages), on a free port of 127.0.0.1 with its
// data in a temporary directory. Tests that restart or crash Postgres use it
// rather than the shared server, which other packages' tests are using.
type PostgresProc struct {
	t    testing.TB
	Port int
	bin  string // the directory of initdb and pg_ctl
	dir  string // data directory, socket and log under it
	cred *syscall.Credential
}

// PostgresBinDir is the newest /usr/lib/postgresql/*/bin holding pg_ctl; a
// test that needs one skips when none is installed (scripts/services
// installs the Debian postgresql package). Under -short the test is
// skipped (SkipProcesses).
func PostgresBinDir(t testing.TB) string {
	t.Helper()
	SkipProcesses(t, "postgres")
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return pgVersion(dirs[i]) < pgVersion(dirs[j]) })
	for i := len(dirs) - 1; i >= 0; i-- {
		if _, err := os.Stat(filepath.Join(dirs[i], "pg_ctl")); err == nil {
			return dirs[i]
		}
	}
	t.Skip("no PostgreSQL server binaries under /usr/lib/postgresql/*/bin")
	return ""
}

func pgVersion(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// StartPostgres initialises a cluster (trust authentication, fsync off) and
// starts it. The server is stopped with -m immediate and its files removed
// at cleanup.
func StartPostgres(t testing.TB) *PostgresProc {
	t.Helper()
	p := &PostgresProc{t: t, bin: PostgresBinDir(t), Port: freePort(t)}
	// The server refuses to run as root: it runs as the postgres account
	// then, which must own its directory and be able to reach it, so the
	// directory is made here rather than under the test's private TempDir.
	dir, err := os.MkdirTemp("", "nudge-pg-")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	p.dir = dir
	t.Cleanup(func() { _ = os.RemoveAll(dir) })
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			t.Skipf("testenv: running as root and no postgres account to run the server as: %v", err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		p.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			t.Fatalf("testenv: %v", err)
		}
	}
	if out, err := p.run("initdb", "-D", p.data(), "-U", "postgres", "--auth=trust", "-E", "UTF8", "--no-sync"); err != nil {
		t.Fatalf("testenv: initdb: %v\n%s", err, out)
	}
	p.Start()
	t.Cleanup(func() { _, _ = p.run("pg_ctl", "-D", p.data(), "-m", "immediate", "-w", "stop") })
	return p
}

func (p *PostgresProc) data() string { return filepath.Join(p.dir, "data") }

func (p *PostgresProc) run(tool string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, filepath.Join(p.bin, tool), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Credential: p.cred}
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// Start starts the stopped server and waits until it accepts connections.
func (p *PostgresProc) Start() {
	p.t.Helper()
	opts := fmt.Sprintf("-p %d -k %s -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200", p.Port, p.dir)
	if out, err := p.run("pg_ctl", "-D", p.data(), "-l", p.logFile(), "-o", opts, "-w", "-t", "60", "start"); err != nil {
		p.t.Fatalf("testenv: pg_ctl start: %v\n%s\n%s", err, out, p.Log())
	}
}

// Stop stops the server with pg_ctl's mode: "fast" (sessions are ended,
// open transactions rolled back, a clean checkpoint) or "immediate" (every
// process quits at once, as in a crash; the next start recovers from WAL).
func (p *PostgresProc) Stop(mode string) {
	p.t.Helper()
	if out, err := p.run("pg_ctl", "-D", p.data(), "-m", mode, "-w", "-t", "60", "stop"); err != nil {
		p.t.Fatalf("testenv: pg_ctl stop -m %s: %v\n%s", mode, err, out)
	}
}

func (p *PostgresProc) logFile() string { return filepath.Join(p.dir, "postgres.log") }

// Log is the server's log so far (for failure messages).
func (p *PostgresProc) Log() string {
	b, err := os.ReadFile(p.logFile())
	if err != nil {
		return "(no log)"
	}
	return strings.TrimSpace(string(b))
}

// URL is the address of database name on this server.
func (p *PostgresProc) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", p.Port, name)
}

// MigratedDB creates a database holding the current migrations and returns
// its URL.
func (p *PostgresProc) MigratedDB(name string) string {
	p.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	admin, err := sql.Open("postgres", p.URL("postgres"))
	if err != nil {
		p.t.Fatalf("testenv: %v", err)
	}
	defer admin.Close()
	if _, err := admin.ExecContext(ctx, `CREATE DATABASE `+quoteIdent(name)); err != nil {
		p.t.Fatalf("testenv: create database %s: %v", name, err)
	}
	d, err := sql.Open("postgres", p.URL(name))
	if err != nil {
		p.t.Fatalf("testenv: %v", err)
	}
	defer d.Close()
	if err := migrations.Up(ctx, d); err != nil {
		p.t.Fatalf("testenv: migrate %s: %v", name, err)
	}
	return p.URL(name)
}
