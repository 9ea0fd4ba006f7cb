package testenv

import (
	"os/exec"
	"syscall"
	"testing"
)

// proc is a child process of a test (a nudge role, a redis-server) in its
// own process group, so a ^C of the test run does not reach it first.
type proc struct {
	t    testing.TB
	what string // names the process in failures
	cmd  *exec.Cmd
	done chan struct{} // closed when the process has ended
}

// startProc starts cmd and waits for it in the background.
func startProc(t testing.TB, what string, cmd *exec.Cmd) proc {
	t.Helper()
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: start %s: %v", what, err)
	}
	p := proc{t: t, what: what, cmd: cmd, done: make(chan struct{})}
	go func(done chan struct{}) { _ = cmd.Wait(); close(done) }(p.done)
	return p
}

// Exited reports whether the process has ended.
func (p *proc) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Kill ends the process with SIGKILL (no shutdown, nothing committed or
// flushed) and waits for it; it does nothing when the process has already
// ended or never started.
func (p *proc) Kill() {
	if p.cmd == nil || p.Exited() {
		return
	}
	_ = p.cmd.Process.Kill()
	<-p.done
}

// Pause stops the process with SIGSTOP: its connections stay open, its
// locks held and its port accepts connections, but nothing answers, as when
// a host hangs or a network drops packets.
func (p *proc) Pause() { p.signal(syscall.SIGSTOP) }

// Resume continues a paused process (SIGCONT).
func (p *proc) Resume() { p.signal(syscall.SIGCONT) }

func (p *proc) signal(sig syscall.Signal) {
	p.t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		p.t.Fatalf("testenv: signal %v to %s: %v", sig, p.what, err)
	}
}
