package cli

import (
	"fmt"
	"strings"
	"testing"
	"time"

	cdpruntime "github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/demo"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/users"
)

// TestBrowserAdminErasesCustomer: a customer complains and is handed off; a
// manager sees no erase link on the conversation, gets the forbidden page at
// the erase URL and a 403 when posting the erasure with their own CSRF token;
// an admin follows the link from the conversation, confirms, and the
// customer is erased by the same erasure the CLI and the API run (a pg_dump
// holds neither their name nor their words).
func TestBrowserAdminErasesCustomer(t *testing.T) {
	e := newE2E(t)
	const (
		name  = "Erasmina Buttonova"
		chat  = 98765013001
		words = "MARKERUIWORDSk4 the soup was cold"
	)
	us := users.NewStore(e.d, nil)
	if _, err := us.Add(e.ctx, "care@growfood.example", users.Manager, "care-manager-pass", nil); err != nil {
		t.Fatal(err)
	}
	if _, err := us.Add(e.ctx, "boss@growfood.example", users.Admin, "boss-admin-password", nil); err != nil {
		t.Fatal(err)
	}
	e.seed([]demo.Person{{Ext: "erase-ui", Name: name, Locale: "ru", TZ: "Europe/Moscow", Channel: "telegram", Chat: chat,
		Persona: "silent", Phone: "+79995551301", Email: "erase-ui@example.com"}})
	e.waitFor("the feedback question", func() bool { return len(e.f.Telegram.SentTo(chat)) > 0 })
	if code, err := e.f.Telegram.Post(e.ctx, e.f.Telegram.TextUpdate(chat, words)); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	var conv, sub int64
	e.waitFor("the complaint in the inbox", func() bool {
		return e.d.QueryRowContext(e.ctx, `SELECT c.id, c.subscriber_id FROM conversations c JOIN subscribers s ON s.id = c.subscriber_id
			WHERE s.external_id = 'erase-ui'`).Scan(&conv, &sub) == nil
	})
	convURL, eraseURL := fmt.Sprintf("%s/inbox/%d", e.base, conv), fmt.Sprintf("%s/subscribers/%d/erase", e.base, sub)

	// The manager: no link, the forbidden page, and a 403 for a forged post.
	mctx := browsertest.New(t)
	browsertest.Login(t, mctx, e.base, "care@growfood.example", "care-manager-pass")
	var noLink bool
	var forbidden string
	var status int
	post := fmt.Sprintf(`fetch('/subscribers/%d/erase', {method: 'POST', headers: {'Content-Type': 'application/x-www-form-urlencoded'},
		body: 'confirm=erase&csrf=' + encodeURIComponent(document.querySelector('input[name=csrf]').value)}).then(r => r.status)`, sub)
	browsertest.Run(t, mctx, 30*time.Second,
		chromedp.Navigate(convURL), chromedp.WaitVisible(`#live`, chromedp.ByID),
		chromedp.Evaluate(`document.getElementById('erase-customer') === null`, &noLink),
		chromedp.Evaluate(post, &status, func(p *cdpruntime.EvaluateParams) *cdpruntime.EvaluateParams { return p.WithAwaitPromise(true) }),
		chromedp.Navigate(eraseURL), chromedp.WaitVisible(`main`, chromedp.ByQuery),
		chromedp.Text(`main`, &forbidden, chromedp.ByQuery),
	)
	if !noLink {
		t.Error("the manager's conversation page offers the erase link")
	}
	if status != 403 {
		t.Errorf("the manager's erase post: status %d, want 403", status)
	}
	if !strings.Contains(forbidden, "Not for your role") {
		t.Errorf("the manager's erase page: %q", forbidden)
	}
	if n := e.count(`SELECT count(*) FROM subscribers WHERE id = $1 AND erased_at IS NULL AND name = $2`, sub, name); n != 1 {
		t.Fatal("the manager's attempts changed the customer")
	}

	// The admin: from the conversation to the confirmation, then erased.
	actx := browsertest.New(t)
	browsertest.Login(t, actx, e.base, "boss@growfood.example", "boss-admin-password")
	var confirm, done string
	browsertest.Run(t, actx, 30*time.Second,
		chromedp.Navigate(convURL), chromedp.WaitVisible(`#erase-customer`, chromedp.ByID),
		chromedp.Click(`#erase-customer`, chromedp.ByID),
		chromedp.WaitVisible(`#erase-confirm`, chromedp.ByID),
		chromedp.Text(`#erase`, &confirm, chromedp.ByID),
		chromedp.Click(`#erase-confirm`, chromedp.ByID),
		chromedp.Click(`#erase-submit`, chromedp.ByID),
		chromedp.WaitVisible(`#erased`, chromedp.ByID),
		chromedp.Text(`#erase`, &done, chromedp.ByID),
	)
	if !strings.Contains(confirm, name) {
		t.Errorf("the confirmation does not name the customer: %q", confirm)
	}
	if !strings.Contains(done, "erased:") {
		t.Errorf("the erased page: %q", done)
	}
	e.stop()
	if n := e.count(`SELECT count(*) FROM subscribers WHERE id = $1 AND erased_at IS NOT NULL AND external_id LIKE 'erased:%'`, sub); n != 1 {
		t.Fatal("the customer is not erased")
	}
	url, _ := e.a.Env.Lookup("NUDGE_DATABASE_URL")
	dump := pgDump(t, url)
	for _, m := range []string{name, "MARKERUIWORDSk4", "erase-ui@example.com", "98765013001"} {
		if strings.Contains(dump, m) {
			t.Errorf("after the erasure the dump still holds %q", m)
		}
	}
}
