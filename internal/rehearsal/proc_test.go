package rehearsal

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// logs collects every process's output, printed only when the test fails.
type logs struct {
	mu  sync.Mutex
	buf map[string]*bytes.Buffer
}

func (l *logs) writer(name string) io.Writer {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.buf == nil {
		l.buf = map[string]*bytes.Buffer{}
	}
	b := &bytes.Buffer{}
	l.buf[name] = b
	return lockedWriter{l, b}
}

type lockedWriter struct {
	l *logs
	b *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.l.mu.Lock()
	defer w.l.mu.Unlock()
	return w.b.Write(p)
}

func (l *logs) dump(t *testing.T) {
	l.mu.Lock()
	defer l.mu.Unlock()
	names := make([]string, 0, len(l.buf))
	for n := range l.buf {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Logf("==== %s ====\n%s", n, l.buf[n].String())
	}
}

// buildBinaries builds nudge and nudge-fakes into a temporary directory.
func buildBinaries(t *testing.T) string {
	t.Helper()
	gomod, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	root := filepath.Dir(strings.TrimSpace(string(gomod)))
	dir := t.TempDir()
	cmd := exec.Command("go", "build", "-o", dir+string(os.PathSeparator), "./cmd/nudge", "./cmd/nudge-fakes")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return dir
}

// environ is exactly vars (and PATH, HOME for the Go runtime): a process
// sees nothing of the test's own environment.
func environ(vars map[string]string) []string {
	out := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
	for k, v := range vars {
		out = append(out, k+"="+v)
	}
	return out
}

// start starts a long-running process, stopped with SIGTERM at cleanup.
func start(t *testing.T, l *logs, name, bin string, vars map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = environ(vars)
	w := l.writer(name)
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); close(done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})
	return cmd
}

// run runs a command to its end and returns its standard output.
func run(t *testing.T, l *logs, bin string, vars map[string]string, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = environ(vars)
	cmd.Stdin = strings.NewReader(stdin)
	var out bytes.Buffer
	cmd.Stdout = &out
	cmd.Stderr = l.writer("nudge " + strings.Join(args, " "))
	if err := cmd.Run(); err != nil {
		t.Fatalf("nudge %s: %v\n%s", strings.Join(args, " "), err, out.String())
	}
	return out.String()
}

// startFakes starts nudge-fakes and reads the variables it prints.
func startFakes(t *testing.T, l *logs, bin string, vars map[string]string, args ...string) (control string, env map[string]string) {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Env = environ(vars)
	cmd.Stderr = l.writer("nudge-fakes")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start nudge-fakes: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	})
	env = map[string]string{}
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# nudge-fakes: control API ") {
			control = strings.Fields(strings.TrimPrefix(line, "# nudge-fakes: control API "))[0]
		}
		if k, v, ok := strings.Cut(strings.TrimPrefix(line, "export "), "="); ok && strings.HasPrefix(line, "export ") {
			env[k] = strings.ReplaceAll(strings.Trim(v, "'"), `'\''`, "'")
		}
		if line == "# ready" {
			go func() { _, _ = io.Copy(io.Discard, out) }()
			if control == "" {
				t.Fatal("nudge-fakes printed no control URL")
			}
			return control, env
		}
	}
	t.Fatalf("nudge-fakes ended before it was ready: %v", fmt.Sprint(sc.Err()))
	return "", nil
}
