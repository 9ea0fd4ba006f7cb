// Package browsertest drives a real headless Chromium (Debian's `chromium`,
// installed by scripts/chromium, which `make test` runs) with chromedp. A
// missing browser fails the test instead of skipping it: browser tests must
// run in CI.
package browsertest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// ExecPath finds Chromium: $NUDGE_CHROMIUM, then chromium on PATH.
func ExecPath() (string, error) {
	if p := os.Getenv("NUDGE_CHROMIUM"); p != "" {
		return p, nil
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p, nil
		}
	}
	return "", exec.ErrNotFound
}

// New starts a fresh browser (own profile directory) for t and returns a tab
// context that ends at cleanup. Every action should use a timeout context.
func New(t testing.TB) context.Context {
	t.Helper()
	path, err := ExecPath()
	if err != nil {
		t.Fatalf("browsertest: no Chromium found (run scripts/chromium or set NUDGE_CHROMIUM): %v", err)
	}
	// Not t.TempDir: Chromium may still be writing its profile while it exits.
	profile, err := os.MkdirTemp("", "nudge-chromium-")
	if err != nil {
		t.Fatalf("browsertest: %v", err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(profile),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	// Start the browser now so a broken install fails here, clearly. The first
	// Run must not carry a timeout: the browser lives as long as its context.
	if err := chromedp.Run(ctx); err != nil {
		cancelB()
		cancelA()
		os.RemoveAll(profile)
		t.Fatalf("browsertest: start %s: %v", path, err)
	}
	t.Cleanup(func() {
		cancelB()
		cancelA()
		for i := 0; i < 20 && os.RemoveAll(profile) != nil; i++ {
			time.Sleep(50 * time.Millisecond)
		}
	})
	return ctx
}

// Run runs actions with a timeout.
func Run(t testing.TB, ctx context.Context, timeout time.Duration, actions ...chromedp.Action) {
	t.Helper()
	c, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if err := chromedp.Run(c, actions...); err != nil {
		t.Fatalf("browser: %v", err)
	}
}

// Login signs in at base's login page as a user would (the form, with its
// CSRF token) and waits for the signed-in layout; ctx keeps the session.
func Login(t testing.TB, ctx context.Context, base, email, password string) {
	t.Helper()
	Run(t, ctx, 30*time.Second,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`#email`, chromedp.ByID),
		chromedp.SendKeys(`#email`, email, chromedp.ByID),
		chromedp.SendKeys(`#password`, password, chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`header.top`, chromedp.ByQuery),
	)
}

// ReplyInInbox opens the first conversation of the inbox's live list and
// sends text as the manager's reply, until a manager's row stands in the
// conversation's history.
func ReplyInInbox(text string) chromedp.Tasks {
	return chromedp.Tasks{
		chromedp.Click(`#live a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#reply-text`, chromedp.ByID),
		chromedp.SendKeys(`#reply-text`, text, chromedp.ByID),
		chromedp.Submit(`#reply-text`, chromedp.ByID),
		chromedp.WaitVisible(`tr.h-manager`, chromedp.ByQuery),
	}
}

// ScreenshotsDirEnv names the directory screenshots are saved to. Unset,
// they go to the test's temporary directory, so a test run never rewrites
// the docs; `make screenshots` sets it to docs/screenshots.
const ScreenshotsDirEnv = "NUDGE_SCREENSHOTS_DIR"

// Screenshot saves a full-page PNG named name (e.g. "inbox.png") to
// $NUDGE_SCREENSHOTS_DIR, or to t's temporary directory when it is unset.
func Screenshot(t testing.TB, ctx context.Context, name string) {
	t.Helper()
	if name == "" || filepath.Base(name) != name {
		t.Fatalf("screenshot: %q must be a file name", name)
	}
	dir := os.Getenv(ScreenshotsDirEnv)
	if dir == "" {
		dir = t.TempDir()
	}
	var buf []byte
	Run(t, ctx, 30*time.Second, chromedp.FullScreenshot(&buf, 100) /* 100 = lossless PNG */)
	if err := os.WriteFile(filepath.Join(dir, name), buf, 0o644); err != nil {
		t.Fatalf("screenshot: %v", err)
	}
}
