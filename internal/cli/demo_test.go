package cli

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

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

// TestDemoPrintsWorkingLinks runs `nudge demo` in-process on a fresh database
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
		done <- Main(ctx, []string{"demo", "--addr", "127.0.0.1:0"}, strings.NewReader(""), &out, &errb)
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
	if res, body := get(find(`Consent ledger of the demo customer: (\S+)`)); res.StatusCode != 200 || !strings.Contains(body, `"external_id":"growfood-demo-1"`) {
		t.Errorf("ledger: %d %s", res.StatusCode, body)
	}
	cancel()
	if code := <-done; code != 0 {
		t.Errorf("demo exited %d after Ctrl-C: %s", code, errb.String())
	}
}
