package cli

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/audit"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/users"
)

// A marketer's key applies a campaign: the version records who applied it
// and the audit log who did what, from where. Admins filter the log over
// the API and on the /audit page, which also shows their own sign-in.
func TestAuditLogOverAPIAndPage(t *testing.T) {
	f := newFakes(t, fakes.Options{})
	ss := serveStack(t, f.Env())
	ctx := t.Context()
	_, marketer, err := ss.s.keys.Create(ctx, "campaign-tool", users.Marketer)
	if err != nil {
		t.Fatal(err)
	}
	_, admin, err := ss.s.keys.Create(ctx, "ops", users.Admin)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := users.NewStore(ss.s.db, nil).Add(ctx, "boss@shop.example", users.Admin, "boss-password-1", nil); err != nil {
		t.Fatal(err)
	}
	call := func(key, method, path, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, ss.base+path, strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var v map[string]any
		json.NewDecoder(res.Body).Decode(&v)
		return res.StatusCode, v
	}
	src, err := os.ReadFile("../../examples/growfood/order-receipt.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if code, v := call(marketer, "POST", "/v1/campaigns?file=order-receipt.yaml", string(src)); code != 201 || v["applied_by"] != "key:campaign-tool" {
		t.Fatalf("apply: %d %v", code, v)
	}
	if code, _ := call(marketer, "POST", "/v1/campaigns/order-receipt/archive", ""); code != 204 && code != 200 {
		t.Fatalf("archive: %d", code)
	}
	if code, _ := call(marketer, "GET", "/v1/audit", ""); code != 403 {
		t.Fatalf("a marketer reads the audit log: %d", code)
	}
	code, v := call(admin, "GET", "/v1/audit?action=campaign&actor=key:campaign-tool", "")
	entries, _ := v["entries"].([]any)
	if code != 200 || len(entries) != 2 {
		t.Fatalf("audit: %d %v", code, v)
	}
	newest := entries[0].(map[string]any)
	if newest["action"] != "campaign.archive" || newest["subject"] != "order-receipt" || newest["role"] != "marketer" || newest["remote_addr"] != "127.0.0.1" {
		t.Errorf("newest entry: %v", newest)
	}
	if e := entries[1].(map[string]any); e["action"] != "campaign.apply" || e["detail"].(map[string]any)["number"] != 1.0 {
		t.Errorf("apply entry: %v", e)
	}
	for q, want := range map[string]int{"actor=key:ops": 0, "action=campaign.apply": 1, "subject=order-receipt&limit=1": 1,
		"since=" + url.QueryEscape(time.Now().Add(time.Hour).UTC().Format(time.RFC3339)): 0} {
		if _, v := call(admin, "GET", "/v1/audit?"+q, ""); len(v["entries"].([]any)) != want {
			t.Errorf("?%s: %v, want %d entries", q, v, want)
		}
	}
	for _, q := range []string{"since=yesterday", "before=0", "subscriber_id=-1", "limit=1001"} {
		if code, _ := call(admin, "GET", "/v1/audit?"+q, ""); code != 400 {
			t.Errorf("?%s: %d, want 400", q, code)
		}
	}

	// The page, in Chromium: the admin's sign-in is the newest row; the
	// filter form narrows to the campaign's rows.
	bctx := browsertest.New(t)
	browsertest.Login(t, bctx, ss.base, "boss@shop.example", "boss-password-1")
	var first, nav, actions string
	browsertest.Run(t, bctx, 30*time.Second,
		chromedp.Navigate(ss.base+"/audit"),
		chromedp.Text(`header.top nav`, &nav, chromedp.ByQuery),
		chromedp.Text(`#audit tbody tr:first-child`, &first, chromedp.ByQuery),
		chromedp.SendKeys(`#f-action`, "campaign", chromedp.ByID),
		chromedp.Submit(`#f-action`, chromedp.ByID),
		// WaitVisible alone can match the page before the submit
		// navigates: wait until the filtered page is the one shown
		// (reads fail while the navigation swaps documents).
		chromedp.ActionFunc(func(ctx context.Context) error {
			for {
				var ok bool
				err := chromedp.Evaluate(`location.search.includes('action=campaign') && document.readyState === 'complete'`, &ok).Do(ctx)
				if err == nil && ok {
					return nil
				}
				select {
				case <-ctx.Done():
					return ctx.Err()
				case <-time.After(50 * time.Millisecond):
				}
			}
		}),
		chromedp.WaitVisible(`#audit`, chromedp.ByID),
		chromedp.Evaluate(`[...document.querySelectorAll('#audit td.action')].map(td => td.textContent).join(' ')`, &actions),
	)
	if !strings.Contains(nav, "Audit") || !strings.Contains(first, "user:boss@shop.example") || !strings.Contains(first, "user.sign_in") {
		t.Errorf("audit page: nav %q, newest row %q", nav, first)
	}
	if actions != "campaign.archive campaign.apply" {
		t.Errorf("filtered rows: %q", actions)
	}
	// The sign-in came through the form, as the admin's own.
	if es, _ := audit.List(ctx, ss.s.db, audit.Filter{Action: "user.sign_in"}); len(es) != 1 || es[0].Actor != "user:boss@shop.example" {
		t.Errorf("sign-ins recorded: %+v", es)
	}
}
