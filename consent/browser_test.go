package consent_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
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

	ctx := browsertest.New(t)
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
