package testenv

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

var (
	nudgeOnce sync.Once
	nudgePath string
	nudgeErr  error
)

// NudgeBinary builds cmd/nudge once per test process and returns its path.
// Tests that start `nudge worker`, `nudge scheduler` or `nudge serve` as
// real processes use it, so a kill -9 hits the production binary. Under
// -short the test is skipped (SkipProcesses).
func NudgeBinary(t testing.TB) string {
	t.Helper()
	SkipProcesses(t, "nudge")
	nudgeOnce.Do(func() {
		dir, err := os.MkdirTemp("", "nudge-bin-")
		if err != nil {
			nudgeErr = err
			return
		}
		_, file, _, _ := runtime.Caller(0)
		root := filepath.Join(filepath.Dir(file), "..", "..")
		nudgePath = filepath.Join(dir, "nudge")
		cmd := exec.Command("go", "build", "-o", nudgePath, "./cmd/nudge")
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			nudgeErr = &buildError{err: err, out: string(out)}
		}
	})
	if nudgeErr != nil {
		t.Fatalf("testenv: build nudge: %v", nudgeErr)
	}
	return nudgePath
}

// SkipProcesses skips t under -short: the helpers that start real server or
// nudge processes (what names them) call it, so a test that starts one skips
// there without saying so itself.
func SkipProcesses(t testing.TB, what string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("starts %s processes", what)
	}
}

type buildError struct {
	err error
	out string
}

func (e *buildError) Error() string { return e.err.Error() + "\n" + e.out }

// NudgeProc is one `nudge <role>` process of a test. Its output is kept and
// logged when the test fails; the process is killed at cleanup.
type NudgeProc struct {
	proc
	Name string
	mu   sync.Mutex
	out  bytes.Buffer
}

// StartNudge starts `nudge args…` with exactly env (plus PATH and HOME): a
// process sees nothing of the test's own environment, as in a deployment
// configured only by its variables.
func StartNudge(t testing.TB, name string, env map[string]string, args ...string) *NudgeProc {
	t.Helper()
	p := &NudgeProc{Name: name}
	cmd := exec.Command(NudgeBinary(t), args...)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Stdout, cmd.Stderr = (*procWriter)(p), (*procWriter)(p)
	p.proc = startProc(t, name, cmd)
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("==== %s output ====\n%s", name, p.Output())
		}
	})
	return p
}

type procWriter NudgeProc

func (w *procWriter) Write(b []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.out.Len() > 1<<20 { // keep the start, where the first problem shows
		return len(b), nil
	}
	return w.out.Write(b)
}

// Output is what the process printed so far.
func (p *NudgeProc) Output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.out.String()
}

// Printed reports whether the process's output contains s.
func (p *NudgeProc) Printed(s string) bool { return strings.Contains(p.Output(), s) }

// WaitFor is WaitFor that fails at once, with the process's output, when
// the process exits while the test waits.
func (p *NudgeProc) WaitFor(what string, limit time.Duration, ok func() bool) {
	p.t.Helper()
	WaitFor(p.t, what, limit, func() bool {
		if ok() {
			return true
		}
		if p.Exited() {
			p.t.Fatalf("%s exited while waiting for %s:\n%s", p.Name, what, p.Output())
		}
		return false
	})
}

// Stop asks the process to end with SIGTERM and fails the test when it does
// not exit cleanly within limit.
func (p *NudgeProc) Stop(limit time.Duration) {
	p.t.Helper()
	if p.Exited() {
		p.t.Fatalf("testenv: %s had already exited: %v\n%s", p.Name, p.cmd.ProcessState, p.Output())
	}
	p.signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(limit):
		p.Kill()
		p.t.Fatalf("testenv: %s did not exit within %v of SIGTERM", p.Name, limit)
	}
	if !p.cmd.ProcessState.Success() {
		p.t.Fatalf("testenv: %s exited with %v after SIGTERM\n%s", p.Name, p.cmd.ProcessState, p.Output())
	}
}
