package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	"github.com/redis/go-redis/v9"

	"github.com/nudge-engine/nudge/demo"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/internal/cli"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// syncBuffer is a bytes.Buffer safe for the demo goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// runDemo runs nudge-demo in-process as cmd/nudge-demo does: the engine is
// `nudge run --migrate` with the demo's configuration.
func runDemo(ctx context.Context, args []string, stdout, stderr *syncBuffer) int {
	engine := func(ctx context.Context, lookup func(string) (string, bool), logs io.Writer) error {
		if code := cli.MainEnv(ctx, []string{"run", "--migrate"}, lookup, nil, logs, logs); code != 0 {
			return fmt.Errorf("nudge run exited %d", code)
		}
		return nil
	}
	return demo.Main(ctx, args, &config.Env{}, stdout, stderr, engine)
}

// TestDemoPrintsWorkingLinks runs nudge-demo in-process on a fresh database
// and follows the links it prints.
func TestDemoPrintsWorkingLinks(t *testing.T) {
	t.Setenv("NUDGE_DATABASE_URL", testenv.DBURL(t))
	t.Setenv("NUDGE_REDIS_URL", testenv.Redis(t))
	for _, v := range []string{"NUDGE_JWT_KEYS", "NUDGE_BASE_URL", "NUDGE_TELEGRAM_BOT", "NUDGE_VIBER_URI", "NUDGE_WHATSAPP_NUMBER", "NUDGE_MESSENGER_PAGE", "NUDGE_VK_GROUP"} {
		t.Setenv(v, "")
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runDemo(ctx, []string{"--addr", "127.0.0.1:0", "--days", "0", "--log", filepath.Join(t.TempDir(), "demo.log")}, &out, &errb)
	}()
	deadline := time.Now().Add(2 * time.Minute)
	for !strings.Contains(out.String(), "Serving until Ctrl-C") {
		select {
		case code := <-done:
			t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo printed no links:\n%s\n%s", out.String(), errb.String())
		}
	}
	text := out.String()
	if !strings.Contains(text, "development HS256 key") {
		t.Errorf("demo does not say its key is a dev key:\n%s", text)
	}
	find := func(re string) string {
		m := regexp.MustCompile(re).FindStringSubmatch(text)
		if m == nil {
			t.Fatalf("no %s in:\n%s", re, text)
		}
		return m[1]
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	get := func(u string) (*http.Response, string) {
		res, err := client.Get(u)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res, string(b)
	}
	if res, body := get(find(`Site widget \(page\):\s+(\S+)`)); res.StatusCode != 200 || !strings.Contains(body, "https://t.me/GrowFoodDemoBot?start=") {
		t.Errorf("widget: %d\n%s", res.StatusCode, body)
	}
	if res, body := get(find(`Signed deep link[^\n]*\n\s+(\S+)`)); res.StatusCode != 200 || !strings.Contains(body, "viber://pa?chatURI=growfooddemo") {
		t.Errorf("deep link page: %d\n%s", res.StatusCode, body)
	}
	res, _ := get(find(`telegram\s+(\S+\?channel=telegram)`))
	if res.StatusCode != http.StatusFound || !strings.HasPrefix(res.Header.Get("Location"), "https://t.me/GrowFoodDemoBot?start=") {
		t.Errorf("telegram link: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	m := regexp.MustCompile(`curl -H 'Authorization: Bearer (\S+)' (\S+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no API call in:\n%s", text)
	}
	req, _ := http.NewRequest("GET", m[2], nil)
	req.Header.Set("Authorization", "Bearer "+m[1])
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(body), `"external_id":"growfood-demo-1"`) {
		t.Errorf("ledger: %d %s", res.StatusCode, body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("demo exited %d after Ctrl-C: %s", code, errb.String())
	}
}

// TestDemoWeek runs the GrowFood week on a very fast clock against the fake
// providers and checks the funnel it prints: replies, conversations for
// managers, fallbacks from blocked Telegram chats to SMS and on to email,
// transactional receipts. At this speed a second of CPU starvation is hours of
// flow time, so it checks what no scheduling delay can change. Then a
// manager reads the pages in Chromium as the demo left them; these are the
// README's screenshots (`make screenshots` runs this test with
// NUDGE_SCREENSHOTS_DIR=docs/screenshots, and the demo's 40 customers).
func TestDemoWeek(t *testing.T) {
	t.Setenv("NUDGE_DATABASE_URL", testenv.DBURL(t))
	t.Setenv("NUDGE_REDIS_URL", testenv.Redis(t))
	for _, v := range []string{"NUDGE_JWT_KEYS", "NUDGE_BASE_URL", "NUDGE_TELEGRAM_BOT", "NUDGE_VIBER_URI"} {
		t.Setenv(v, "")
	}
	t.Chdir("..") // the demo loads examples/growfood
	logPath := filepath.Join(t.TempDir(), "demo.log")
	t.Cleanup(func() {
		if t.Failed() {
			logs, _ := os.ReadFile(logPath)
			t.Logf("engine log:\n%s", logs)
		}
	})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// The README's pictures are the demo as `make demo` runs it (40
	// customers at its default 6000×); at 20000× on a loaded machine the
	// 40 customers' sign-ups alone took most of the simulated week.
	customers, scale := "12", "20000"
	if os.Getenv(browsertest.ScreenshotsDirEnv) != "" {
		customers, scale = "40", "6000"
	}
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runDemo(ctx, []string{"--addr", "127.0.0.1:0", "--days", "7", "--scale", scale,
			"--customers", customers, "--log", logPath}, &out, &errb)
	}()
	waitFor(t, "Serving until Ctrl-C", &out, &errb, done)
	text := out.String()
	for _, re := range []string{
		`(?s)weekly-feedback — .*?Replied\s+([1-9]\d*)`,
		`conversations with managers\s+([1-9]\d*)`,
		`(?s)weekly-feedback — .*?sms 0 first / ([1-9]\d*) fallback`,
		`(?s)weekly-feedback — .*?email 0 first / ([1-9]\d*) fallback`,
		`(?s)order-receipt — .*?Sent\s+([1-9]\d*)`,
		`(?s)weekly-renewal — .*?Sent\s+([1-9]\d*)`,
		`Login \(manager\): manager@growfood.example  password: (\S+)`,
		`Login \(marketer\): marketer@growfood.example  password: (\S+)`,
		`Login \(viewer\): viewer@growfood.example  password: (\S+)`,
		`Dashboard:\s+(http://127.0.0.1:\d+/dashboard)`,
		`Engine log: (` + regexp.QuoteMeta(logPath) + `)`,
		`The simulation is over: from (.+) the engine clock runs at real speed`,
	} {
		if regexp.MustCompile(re).FindStringSubmatch(text) == nil {
			t.Errorf("the demo output has no %s:\n%s", re, text)
		}
	}
	// The engine's log lines went to the file, not between the figures.
	logs, err := os.ReadFile(logPath)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(text, "level=INFO") || strings.Contains(errb.String(), "level=INFO") || !strings.Contains(string(logs), "level=INFO") {
		t.Errorf("log lines: stdout has %d, stderr %d, the log file %d", strings.Count(text, "level=INFO"),
			strings.Count(errb.String(), "level=INFO"), strings.Count(string(logs), "level=INFO"))
	}
	// After the week the engine clock runs at real speed, and the pages say so.
	base := regexp.MustCompile(`Dashboard:\s+(http://\S+)/dashboard`).FindStringSubmatch(text)[1]
	// The engine's clock may trail the demo's by a few milliseconds of wall
	// time (a minute of flow at this speed): give it a moment.
	banner := regexp.MustCompile(`Simulated engine clock: ` + scale + `× real time until [^,]+, real time since`)
	var page []byte
	for i := 0; i < 50 && !banner.Match(page); i++ {
		res, err := http.Get(base + "/login")
		if err != nil {
			t.Fatal(err)
		}
		page, _ = io.ReadAll(res.Body)
		res.Body.Close()
		time.Sleep(20 * time.Millisecond)
	}
	if !banner.Match(page) {
		t.Errorf("the sign-in page does not name the clock:\n%s", page)
	}
	browseDemo(t, base, text)
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("demo exited %d after Ctrl-C: %s", code, errb.String())
	}
}

// signIn signs in a new browser with the demo's printed login for role.
func signIn(t *testing.T, base, text, role string) context.Context {
	t.Helper()
	m := regexp.MustCompile(`Login \(` + role + `\): (\S+)  password: (\S+)`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s login in:\n%s", role, text)
	}
	ctx := browsertest.New(t)
	browsertest.Run(t, ctx, 60*time.Second,
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(`#email`, chromedp.ByID),
		chromedp.SendKeys(`#email`, m[1], chromedp.ByID),
		chromedp.SendKeys(`#password`, m[2], chromedp.ByID),
		chromedp.Submit(`#password`, chromedp.ByID),
		chromedp.WaitVisible(`header.top`, chromedp.ByQuery),
	)
	return ctx
}

// browseDemo signs in as the demo's marketer and reads the dashboard and a
// campaign's funnel, then as its manager the inbox and a conversation,
// photographing each.
func browseDemo(t *testing.T, base, text string) {
	t.Helper()
	ctx := signIn(t, base, text, "marketer")
	var list, noReads, inbox string
	browsertest.Run(t, ctx, 60*time.Second,
		chromedp.Navigate(base+"/dashboard"),
		chromedp.WaitVisible(`#campaigns`, chromedp.ByID),
		chromedp.Text(`#campaigns`, &list, chromedp.ByID),
	)
	for _, name := range []string{"Weekly feedback after delivery", "Friday renewal reminder"} {
		if !strings.Contains(list, name) {
			t.Errorf("the campaign list has no %q:\n%s", name, list)
		}
	}
	browsertest.Screenshot(t, ctx, "dashboard.png")
	browsertest.Run(t, ctx, 60*time.Second,
		chromedp.Navigate(base+"/dashboard/weekly-feedback"),
		chromedp.WaitVisible(`#funnel`, chromedp.ByID),
		chromedp.Text(`#no-reads`, &noReads, chromedp.ByID),
	)
	if !strings.Contains(noReads, "telegram") {
		t.Errorf("the funnel does not say Telegram reports no reads: %q", noReads)
	}
	browsertest.Screenshot(t, ctx, "campaign.png")
	if err := chromedp.Cancel(ctx); err != nil {
		t.Errorf("close the browser: %v", err)
	}
	ctx = signIn(t, base, text, "manager")
	browsertest.Run(t, ctx, 60*time.Second,
		chromedp.Navigate(base+"/inbox"),
		chromedp.WaitVisible(`#live a`, chromedp.ByQuery),
		chromedp.Text(`#live`, &inbox, chromedp.ByID),
	)
	if !strings.Contains(inbox, "care") {
		t.Errorf("the inbox has no conversation of the care queue:\n%s", inbox)
	}
	browsertest.Screenshot(t, ctx, "inbox.png")
	browsertest.Run(t, ctx, 60*time.Second,
		chromedp.Click(`#live a`, chromedp.ByQuery),
		chromedp.WaitVisible(`#reply-text`, chromedp.ByID),
	)
	browsertest.Screenshot(t, ctx, "conversation.png")
	tryAsTheCustomer(t, ctx, base, text, inbox)
	// Close the browser before the demo stops: its open inbox holds an
	// event stream.
	if err := chromedp.Cancel(ctx); err != nil {
		t.Errorf("close the browser: %v", err)
	}
}

// tryAsTheCustomer opens the chat page the demo prints, picks a customer
// who never answered the feedback question, presses 👎 under it as they
// would in Telegram, and finds them handed to a manager in the inbox.
func tryAsTheCustomer(t *testing.T, ctx context.Context, base, text, inboxBefore string) {
	t.Helper()
	m := regexp.MustCompile(`Customers:\s+(http://127\.0\.0\.1:\d+/chat)\s`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("the demo printed no customer chat page:\n%s", text)
	}
	var who *demo.Person
	for _, p := range demo.People(customersOf(text)) {
		if p.Persona == "silent" && p.Channel == "telegram" && !p.Blocks {
			who = &p
			break
		}
	}
	if who == nil {
		t.Fatal("no silent Telegram customer in the demo")
	}
	if strings.Contains(inboxBefore, who.Name) {
		t.Fatalf("%s is in the inbox before pressing anything:\n%s", who.Name, inboxBefore)
	}
	label := who.Name + " (" + who.Ext + ")"
	var list, status string
	browsertest.Run(t, ctx, 60*time.Second,
		chromedp.Navigate(m[1]),
		chromedp.WaitVisible(`#customers`, chromedp.ByID),
		chromedp.Text(`#customers`, &list, chromedp.ByID),
	)
	if !strings.Contains(list, label) {
		t.Fatalf("the chat list has no %s:\n%s", label, list)
	}
	browsertest.Run(t, ctx, 60*time.Second,
		chromedp.Click(fmt.Sprintf(`//tr[contains(., "Telegram")]//a[normalize-space()=%q]`, label), chromedp.BySearch),
		chromedp.WaitVisible(`body.ch-telegram button[data-press="dislike"]`, chromedp.ByQuery),
		// The newest question: the reminder, or the question itself.
		chromedp.Evaluate(`[...document.querySelectorAll('button[data-press="dislike"]')].pop().click()`, nil),
		chromedp.Poll(`document.getElementById('status').textContent.startsWith('Nudge answered')`, nil),
		chromedp.Text(`#status`, &status, chromedp.ByID),
		chromedp.WaitVisible(`.msg.customer.press`, chromedp.ByQuery),
	)
	if status != "Nudge answered 200" {
		t.Fatalf("after the press the chat page says %q", status)
	}
	browsertest.Screenshot(t, ctx, "chat.png")
	var live string
	browsertest.Run(t, ctx, 60*time.Second,
		chromedp.Navigate(base+"/inbox"),
		chromedp.WaitVisible(`#live`, chromedp.ByID),
		chromedp.Poll(fmt.Sprintf(`document.getElementById('live').textContent.includes(%q)`, who.Name), nil),
		chromedp.Text(`#live`, &live, chromedp.ByID),
	)
	if !strings.Contains(live, "👎") {
		t.Errorf("the inbox does not show %s's press by its label:\n%s", who.Name, live)
	}
}

// customersOf is the number of customers the demo's week ran with.
func customersOf(text string) int {
	m := regexp.MustCompile(`The GrowFood week: (\d+) customers`).FindStringSubmatch(text)
	if m == nil {
		return 0
	}
	var n int
	fmt.Sscan(m[1], &n)
	return n
}

// waitFor waits until the demo prints want, failing if it exits first.
func waitFor(t *testing.T, want string, out, errb *syncBuffer, done chan int) {
	t.Helper()
	deadline := time.Now().Add(6 * time.Minute) // the screenshots' week at 6000× on a loaded machine
	for !strings.Contains(out.String(), want) {
		select {
		case code := <-done:
			t.Fatalf("demo exited %d\nstdout:\n%s\nstderr:\n%s", code, out.String(), errb.String())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("demo printed no %q:\n%s\n%s", want, out.String(), errb.String())
		}
	}
}

// TestDemoPicksAFreePortAndItsOwnStore: with NUDGE_HTTP_ADDR taken by
// another program, the demo serves on a free port; with --fresh it runs on
// a database named after that port and a Redis DB no test run holds (this
// test's own is held), and removes both at the end.
func TestDemoPicksAFreePortAndItsOwnStore(t *testing.T) {
	t.Setenv("NUDGE_DATABASE_URL", testenv.DBURL(t))
	redisURL := testenv.Redis(t)
	t.Setenv("NUDGE_REDIS_URL", redisURL)
	ro, err := redis.ParseURL(redisURL)
	if err != nil {
		t.Fatal(err)
	}
	ctl := redis.NewClient(&redis.Options{Addr: ro.Addr, Password: ro.Password})
	defer ctl.Close()
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	t.Setenv("NUDGE_HTTP_ADDR", busy.Addr().String())
	t.Setenv("NUDGE_BASE_URL", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- runDemo(ctx, []string{"--days", "0", "--fresh", "--log", filepath.Join(t.TempDir(), "demo.log")}, &out, &errb)
	}()
	waitFor(t, "Serving until Ctrl-C", &out, &errb, done)
	text := out.String()
	m := regexp.MustCompile(`is taken: serving on 127\.0\.0\.1:(\d+) instead`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no note on the taken port:\n%s", text)
	}
	dbName := "nudge_demo_" + m[1]
	t.Cleanup(func() {
		admin := sqlx.MustConnect("postgres", os.Getenv("NUDGE_DATABASE_URL"))
		defer admin.Close()
		admin.MustExec(`DROP DATABASE IF EXISTS ` + dbName + ` WITH (FORCE)`)
	})
	rm := regexp.MustCompile(`Fresh database ` + dbName + ` and Redis DB (\d+)`).FindStringSubmatch(text)
	if rm == nil {
		t.Fatalf("no fresh store named:\n%s", text)
	}
	if rm[1] == fmt.Sprint(ro.DB) {
		t.Errorf("the demo took Redis DB %s, which this test holds", rm[1])
	}
	lease := "nudge:testenv:redis-db:" + rm[1]
	if v, _ := ctl.Get(ctx, lease).Result(); !strings.HasPrefix(v, "nudge-demo:") {
		t.Errorf("lease %s: %q", lease, v)
	}
	// The engine migrated and serves from that database.
	u, _ := url.Parse(os.Getenv("NUDGE_DATABASE_URL"))
	u.Path = "/" + dbName
	d := sqlx.MustConnect("postgres", u.String())
	defer d.Close()
	var n int
	if err := d.Get(&n, `SELECT count(*) FROM users WHERE email = 'manager@growfood.example'`); err != nil || n != 1 {
		t.Errorf("demo database %s: %d managers, %v", dbName, n, err)
	}
	d.Close()
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("demo exited %d after Ctrl-C: %s", code, errb.String())
	}
	// It removes its database when it ends.
	admin := sqlx.MustConnect("postgres", os.Getenv("NUDGE_DATABASE_URL"))
	defer admin.Close()
	if err := admin.Get(&n, `SELECT count(*) FROM pg_database WHERE datname = $1`, dbName); err != nil || n != 0 {
		t.Errorf("after the demo: %d databases %s, %v", n, dbName, err)
	}
	if v, err := ctl.Get(context.Background(), lease).Result(); err != redis.Nil {
		t.Errorf("after the demo the lease %s is %q, %v", lease, v, err)
	}
}

// TestDemoFlagErrors: contradictory or impossible flags stop the demo with a
// message naming them, before it touches anything.
func TestDemoFlagErrors(t *testing.T) {
	for args, want := range map[string]string{
		"--addr 127.0.0.1:0 --port 9999": "give --addr or --port, not both",
		"--port 70000":                   "--port 70000 is not a TCP port",
		"--database nudge_x":             "add --fresh",
		"--redis-db 3":                   "add --fresh",
		"--fresh --redis-db 0":           "--redis-db 0: the demo uses Redis databases 1–15",
	} {
		var out, errb syncBuffer
		if code := runDemo(context.Background(), strings.Fields(args), &out, &errb); code == 0 || !strings.Contains(errb.String(), want) {
			t.Errorf("%s: exit %d, stderr %q, want %q", args, code, errb.String(), want)
		}
	}
}

// TestDemoHoldsItsPortUntilTheEngineServes: the demo names its address in
// links and its store before the engine starts (migrations, the fakes), so
// it keeps the port bound from the moment it picks it. A port closed and
// bound again later is free in between for any other program (a parallel
// test package took one once, and the engine failed with "address already
// in use").
func TestDemoHoldsItsPortUntilTheEngineServes(t *testing.T) {
	t.Setenv("NUDGE_DATABASE_URL", testenv.DBURL(t))
	t.Setenv("NUDGE_REDIS_URL", testenv.Redis(t))
	t.Setenv("NUDGE_BASE_URL", "")
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var held error
	engine := func(ctx context.Context, lookup func(string) (string, bool), logs io.Writer) error {
		// Another program asks for the demo's port just before the engine
		// starts: the port must be taken.
		addr, _ := lookup("NUDGE_HTTP_ADDR")
		if ln, err := net.Listen("tcp", addr); err == nil {
			ln.Close()
			held = fmt.Errorf("%s was free before the engine started", addr)
		}
		if code := cli.MainEnv(ctx, []string{"run", "--migrate"}, lookup, nil, logs, logs); code != 0 {
			return fmt.Errorf("nudge run exited %d", code)
		}
		return nil
	}
	var out, errb syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- demo.Main(ctx, []string{"--addr", "127.0.0.1:0", "--days", "0", "--log", filepath.Join(t.TempDir(), "demo.log")},
			&config.Env{}, &out, &errb, engine)
	}()
	waitFor(t, "Serving until Ctrl-C", &out, &errb, done)
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("demo exited %d after Ctrl-C: %s", code, errb.String())
	}
	if held != nil {
		t.Error(held)
	}
}
