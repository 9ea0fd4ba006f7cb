package consent_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/browsertest"
)

// TestWidgetJSInChromium embeds widget.js in a shop page served from another
// origin and checks, in a real browser, that it fetches a code (CORS), sends
// the page's utm_* and renders the buttons as links.
func TestWidgetJSInChromium(t *testing.T) {
	h := newHarness(t)
	shop := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = w.Write([]byte(`<!doctype html><html lang="en"><body><h1>Thank you for your order</h1>
<div id="box"></div>
<script src="` + h.srv.URL + `/widget.js" data-target="box" data-topics="service,marketing" data-ref="checkout"></script>
</body></html>`))
	}))
	defer shop.Close()

	ctx := newBrowser(t)
	var texts []string
	var hrefs []string
	browsertest.Run(t, ctx, 60*time.Second,
		chromedp.Navigate(shop.URL+"/order/done?utm_source=chrome&utm_campaign=%3Cb%3Ewinter%3C%2Fb%3E"),
		chromedp.WaitVisible(`#box a.nudge-telegram`, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#box a')).map(a => a.textContent)`, &texts),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('#box a')).map(a => a.getAttribute('href'))`, &hrefs),
	)
	if len(texts) != 5 || texts[0] != "Get updates in Telegram" || texts[4] != "Get updates in VK" {
		t.Errorf("buttons %q", texts)
	}
	code, ok := strings.CutPrefix(hrefs[0], "https://t.me/GrowFoodBot?start=")
	if !ok || !consent.ValidCode(code) || !strings.HasPrefix(hrefs[1], "viber://pa?chatURI=growfood&context="+code) {
		t.Fatalf("links %q", hrefs)
	}
	var attr []byte
	if err := h.db.Get(&attr, `SELECT attribution FROM consent_codes WHERE code = $1`, code); err != nil {
		t.Fatal(err)
	}
	var a consent.Attribution
	if err := json.Unmarshal(attr, &a); err != nil {
		t.Fatal(err)
	}
	if a.UTMSource != "chrome" || a.UTMCampaign != "<b>winter</b>" || a.Ref != "checkout" || a.Landing != shop.URL+"/order/done" {
		t.Errorf("attribution %+v", a)
	}
}

// newBrowser is browsertest.New with a profile directory removed best-effort:
// Chromium's helper processes may still write into it for a moment after the
// browser is stopped, which makes t.TempDir's strict cleanup fail the test.
func newBrowser(t *testing.T) context.Context {
	t.Helper()
	path, err := browsertest.ExecPath()
	if err != nil {
		t.Fatalf("no Chromium found (run scripts/chromium or set NUDGE_CHROMIUM): %v", err)
	}
	dir, err := os.MkdirTemp("", "nudge-consent-chromium-")
	if err != nil {
		t.Fatal(err)
	}
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(path), chromedp.NoSandbox,
		chromedp.UserDataDir(dir), chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelB := chromedp.NewContext(actx)
	t.Cleanup(func() {
		cancelB()
		cancelA()
		for i := 0; i < 20 && os.RemoveAll(dir) != nil; i++ {
			time.Sleep(100 * time.Millisecond)
		}
	})
	if err := chromedp.Run(ctx); err != nil {
		t.Fatalf("start %s: %v", path, err)
	}
	return ctx
}
