package demo_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/demo"
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
	engine := func(ctx context.Context, lookup func(string) (string, bool)) error {
		if code := cli.MainEnv(ctx, []string{"run", "--migrate"}, lookup, nil, io.Discard, stderr); code != 0 {
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
		done <- runDemo(ctx, []string{"--addr", "127.0.0.1:0", "--days", "0"}, &out, &errb)
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
// flow time, so it checks what no scheduling delay can change.
func TestDemoWeek(t *testing.T) {
	t.Setenv("NUDGE_DATABASE_URL", testenv.DBURL(t))
	t.Setenv("NUDGE_REDIS_URL", testenv.Redis(t))
	for _, v := range []string{"NUDGE_JWT_KEYS", "NUDGE_BASE_URL", "NUDGE_TELEGRAM_BOT", "NUDGE_VIBER_URI"} {
		t.Setenv(v, "")
	}
	t.Chdir("..") // the demo loads examples/growfood
	var out, errb syncBuffer
	code := runDemo(context.Background(), []string{"--addr", "127.0.0.1:0", "--days", "7", "--scale", "20000",
		"--customers", "12", "--exit"}, &out, &errb)
	text := out.String()
	if code != 0 {
		t.Fatalf("demo exited %d\n%s\n%s", code, text, errb.String())
	}
	for _, re := range []string{
		`(?s)weekly-feedback — .*?Replied\s+([1-9]\d*)`,
		`conversations with managers\s+([1-9]\d*)`,
		`(?s)weekly-feedback — .*?sms 0 first / ([1-9]\d*) fallback`,
		`(?s)weekly-feedback — .*?email 0 first / ([1-9]\d*) fallback`,
		`(?s)order-receipt — .*?Sent\s+([1-9]\d*)`,
		`(?s)weekly-renewal — .*?Sent\s+([1-9]\d*)`,
		`Login \(manager\): manager@growfood.example  password: (\S+)`,
		`Dashboard:\s+(http://127.0.0.1:\d+/dashboard)`,
	} {
		if regexp.MustCompile(re).FindStringSubmatch(text) == nil {
			t.Errorf("the demo output has no %s:\n%s", re, text)
		}
	}
}
