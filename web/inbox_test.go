package web

import (
	"bytes"
	"context"
	"encoding/json"
	"image"
	"image/color"
	"image/jpeg"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/inbound"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/users"
)

// telegramFetcher is the wiring's inbox.Fetcher for one Telegram bot.
type telegramFetcher struct{ c *telegram.Client }

func (f telegramFetcher) Fetch(ctx context.Context, _ channels.Kind, _ string, a channels.Attachment, max int64) (channels.File, error) {
	return f.c.Fetch(ctx, a, max)
}

// photo is a real JPEG (as Telegram sends photos) a browser decodes, so the test can tell it rendered.
func photo(t *testing.T) []byte {
	img := image.NewRGBA(image.Rect(0, 0, 64, 48))
	for x := 0; x < 64; x++ {
		for y := 0; y < 48; y++ {
			img.Set(x, y, color.RGBA{uint8(x * 4), 90, uint8(y * 5), 255})
		}
	}
	var b bytes.Buffer
	if err := jpeg.Encode(&b, img, nil); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// A customer presses 👎 under the feedback question and sends a photo of the
// dish, through the Telegram fake's webhook, the adapter, the inbound sink
// and the router; the manager sees the button's label and the photo, which
// the inbox fetched with getFile from the fake.
func TestBrowserConversationShowsPhotoAndButtonLabel(t *testing.T) {
	s := newFullSite(t)
	ctx := context.Background()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))

	fake := telegramfake.New()
	t.Cleanup(fake.Close)
	cfg := telegram.Config{Bot: channels.Bot{Token: telegramfake.Token, APIURL: fake.URL}, WebhookSecret: "hook-secret"}
	client := telegram.New(cfg, nil)
	s.router.Media = telegramFetcher{client}
	sink := inbound.New(s.db, log, nil)
	sink.Connect(inbound.Routes{Replies: s.router})
	hook := httptest.NewServer(telegram.NewWebhookWithClient(cfg, sink, log, client))
	t.Cleanup(hook.Close)
	fake.SetWebhook(hook.URL, "hook-secret")

	// The campaign asks with buttons and waits for the answer.
	def := campaigns.Definition{ID: "weekly-feedback", Steps: []campaigns.Step{
		{ID: "ask", Send: &campaigns.SendStep{Template: "ask"}},
		{ID: "answer", WaitReply: &campaigns.WaitReplyStep{Timeout: campaigns.Duration(48 * time.Hour), Branches: []campaigns.ReplyBranch{
			{Button: "like", Goto: "done"}, {Button: "dislike", Goto: "done"}}}},
		{ID: "done", End: &campaigns.EndStep{}}},
		Templates: map[string]campaigns.Template{"ask": {"telegram": {"ru": {Text: "Понравилась еда?", Buttons: []campaigns.Button{
			{ID: "like", Text: "👍 Понравилось"}, {ID: "dislike", Text: "👎 Не очень"}}}}}}}
	raw, _ := json.Marshal(def)
	s.db.MustExec(`INSERT INTO campaigns (id, current_version) VALUES ('weekly-feedback', 'v1')`)
	s.db.MustExec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('weekly-feedback', 'v1', 1, $1, '')`, raw)
	var sub int64
	s.db.QueryRow(`INSERT INTO subscribers (external_id, name) VALUES ('c7', 'Елена') RETURNING id`).Scan(&sub)
	s.db.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, 'telegram', '7007')`, sub)
	s.db.MustExec(`INSERT INTO flow_runs (campaign_id, campaign_version, subscriber_id, trigger_key, state, step_id, step_seq)
		VALUES ('weekly-feedback', 'v1', $1, 'k', 'waiting', 'answer', 1)`, sub)
	// The question as the bot sent it (its keyboard is what Telegram echoes with the press).
	res, err := client.Send(ctx, channels.Message{To: "7007", Text: "Понравилась еда?",
		Buttons: []channels.Button{{ID: "like", Text: "👍 Понравилось"}, {ID: "dislike", Text: "👎 Не очень"}}})
	if err != nil {
		t.Fatal(err)
	}
	_ = res

	post := func(body []byte) {
		t.Helper()
		if st, err := fake.Post(ctx, body); err != nil || st != http.StatusOK {
			t.Fatalf("webhook: %d %v", st, err)
		}
	}
	post(fake.CallbackUpdate(7007, fake.SentTo(7007)[0].MessageID, "dislike"))
	pic := photo(t)
	post(fake.PhotoUpdate(7007, fake.AddFile("photos", "", "image/jpeg", pic), "Котлета сгорела"))
	if fake.Calls("getFile") != 1 {
		t.Fatalf("getFile calls: %d", fake.Calls("getFile"))
	}
	var conv, mediaID int64
	if err := s.db.QueryRow(`SELECT id FROM conversations WHERE subscriber_id = $1`, sub).Scan(&conv); err != nil {
		t.Fatalf("no conversation: %v", err)
	}
	s.db.QueryRow(`SELECT id FROM reply_media WHERE subscriber_id = $1`, sub).Scan(&mediaID)

	b := browsertest.New(t)
	browsertest.Login(t, b, s.srv.URL, "manager@shop.example", "manager-password-1")
	var list, history string
	var width int
	browsertest.Run(t, b, 30*time.Second,
		chromedp.Navigate(s.srv.URL+"/inbox"),
		chromedp.WaitVisible(`#live`, chromedp.ByID),
		chromedp.Text(`#live`, &list, chromedp.ByID),
		chromedp.Navigate(s.srv.URL+"/inbox/"+itoa(conv)),
		chromedp.WaitVisible(`.media img`, chromedp.ByQuery),
		chromedp.Poll(`document.querySelector('.media img').complete && document.querySelector('.media img').naturalWidth > 0`, nil),
		chromedp.Evaluate(`document.querySelector('.media img').naturalWidth`, &width),
		chromedp.Text(`#live`, &history, chromedp.ByID),
	)
	browsertest.Screenshot(t, b, "conversation-photo.png")
	if width != 64 {
		t.Errorf("the photo did not render: naturalWidth %d", width)
	}
	if !strings.Contains(history, "👎 Не очень") || strings.Contains(history, "[dislike]") {
		t.Errorf("the press is not shown by its label: %q", history)
	}
	if !strings.Contains(history, "Котлета сгорела") {
		t.Errorf("caption missing: %q", history)
	}
	if !strings.Contains(list, "Котлета сгорела") || !strings.Contains(list, "#"+itoa(sub)) {
		t.Errorf("list: last message or customer id missing: %q", list)
	}

	// The file is for signed-in managers only, with its type, not sniffed.
	anon := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := anon.Get(s.srv.URL + "/inbox/media/" + itoa(mediaID))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode == http.StatusOK || resp.Header.Get("Content-Type") == "image/jpeg" {
		t.Errorf("media served without a session: %d", resp.StatusCode)
	}
	c := httpLogin(t, s.srv.URL, "manager@shop.example", "manager-password-1")
	resp, err = c.Get(s.srv.URL + "/inbox/media/" + itoa(mediaID))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	h := resp.Header
	if resp.StatusCode != http.StatusOK || !bytes.Equal(got, pic) || h.Get("Content-Type") != "image/jpeg" ||
		h.Get("X-Content-Type-Options") != "nosniff" || !strings.HasPrefix(h.Get("Content-Disposition"), "inline") {
		t.Errorf("media: %d %d bytes %v", resp.StatusCode, len(got), h)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

var csrfRe = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// httpLogin signs in with a plain HTTP client (cookie jar), as a browser's
// form would.
func httpLogin(t *testing.T, base, email, pw string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar}
	tok := csrfOf(t, c, base+"/login")
	resp, err := c.PostForm(base+"/login", url.Values{"email": {email}, "password": {pw}, "csrf": {tok}, "next": {"/"}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login %s: %d", email, resp.StatusCode)
	}
	return c
}

func csrfOf(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	status, body := get(t, c, u)
	m := csrfRe.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no CSRF token on %s (%d)", u, status)
	}
	return m[1]
}

func getBody(t *testing.T, c *http.Client, u string) string {
	t.Helper()
	_, body := get(t, c, u)
	return body
}

// get fetches u with c and returns the response's status and body.
func get(t *testing.T, c *http.Client, u string) (int, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp.StatusCode, string(b)
}

// An inbox path whose id is not a positive number names nothing: 404, for
// the conversation and for a file alike.
func TestInboxPathIDMustBePositive(t *testing.T) {
	s := newFullSite(t)
	c := httpLogin(t, s.srv.URL, "manager@shop.example", "manager-password-1")
	for _, p := range []string{"/inbox/abc", "/inbox/0", "/inbox/-4", "/inbox/media/x", "/inbox/media/0"} {
		if status, _ := get(t, c, s.srv.URL+p); status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", p, status)
		}
	}
}

// Canned replies come from the queue's list in the YAML file.
func TestCannedRepliesPerQueueOverHTTP(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "canned.yaml")
	os.WriteFile(f, []byte("care:\n  - title: Возврат\n    text: Вернём деньги за блюдо.\ndefault:\n  - Спасибо, что написали!\n"), 0o600)
	canned, err := inbox.LoadCanned(f)
	if err != nil {
		t.Fatal(err)
	}
	s := newFullSite(t, canned)
	ctx := context.Background()
	conv := map[string]int64{}
	for i, q := range []string{"care", "general"} {
		var sub int64
		s.db.QueryRow(`INSERT INTO subscribers (name) VALUES ('Ольга') RETURNING id`).Scan(&sub)
		id, err := inbox.Open(ctx, s.db, inbox.Handoff{SubscriberID: sub, Channel: channels.Telegram, Queue: q, Reason: "handoff", At: time.Now().Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		conv[q] = id
	}
	c := httpLogin(t, s.srv.URL, "manager@shop.example", "manager-password-1")
	care := getBody(t, c, s.srv.URL+"/inbox/"+itoa(conv["care"]))
	if !strings.Contains(care, `<option value="Вернём деньги за блюдо.">Возврат</option>`) || strings.Contains(care, "Спасибо, что написали") {
		t.Errorf("care queue's canned replies: %s", between(care, `id="canned"`, "</select>"))
	}
	general := getBody(t, c, s.srv.URL+"/inbox/"+itoa(conv["general"]))
	if !strings.Contains(general, `<option value="Спасибо, что написали!">Спасибо, что написали!</option>`) || strings.Contains(general, "Возврат") {
		t.Errorf("default canned replies: %s", between(general, `id="canned"`, "</select>"))
	}
}

func between(s, from, to string) string {
	if i := strings.Index(s, from); i >= 0 {
		s = s[i:]
		if j := strings.Index(s, to); j >= 0 {
			return s[:j]
		}
	}
	return s
}

// Managers go on shift from the inbox page; new conversations are then
// assigned to them in turn, and to nobody once they are off shift.
func TestRoundRobinOverHTTP(t *testing.T) {
	s := newFullSite(t)
	ctx := context.Background()
	st := users.NewStore(s.db, nil)
	if _, err := st.Add(ctx, "second@shop.example", users.Manager, "second-password-1", nil); err != nil {
		t.Fatal(err)
	}
	shift := func(c *http.Client, form url.Values) {
		t.Helper()
		form.Set("csrf", csrfOf(t, c, s.srv.URL+"/inbox"))
		resp, err := c.PostForm(s.srv.URL+"/inbox/shift", form)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("shift: %d", resp.StatusCode)
		}
	}
	first := httpLogin(t, s.srv.URL, "manager@shop.example", "manager-password-1")
	second := httpLogin(t, s.srv.URL, "second@shop.example", "second-password-1")
	shift(first, url.Values{"queues": {""}})
	shift(second, url.Values{"queues": {"care"}})
	if page := getBody(t, second, s.srv.URL+"/inbox"); !strings.Contains(page, "on shift</strong> for care") {
		t.Errorf("second's shift not shown: %s", between(page, `id="shift"`, "</div>"))
	}

	at := time.Date(2030, 3, 4, 10, 0, 0, 0, time.UTC)
	open := func(queue string) string {
		t.Helper()
		var sub int64
		s.db.QueryRow(`INSERT INTO subscribers (name) VALUES ('Елена') RETURNING id`).Scan(&sub)
		at = at.Add(time.Minute)
		id, err := inbox.Open(ctx, s.db, inbox.Handoff{SubscriberID: sub, Channel: channels.Telegram, Queue: queue, Reason: "handoff", At: at})
		if err != nil {
			t.Fatal(err)
		}
		var who string
		s.db.QueryRow(`SELECT coalesce(u.email, '') FROM conversations c LEFT JOIN users u ON u.id = c.assignee_id WHERE c.id = $1`, id).Scan(&who)
		return who
	}
	var got []string
	for _, q := range []string{"care", "care", "care", "general", "general"} {
		got = append(got, open(q))
	}
	want := []string{"manager@shop.example", "second@shop.example", "manager@shop.example", "manager@shop.example", "manager@shop.example"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("assignments %v, want %v", got, want)
	}
	// The list shows whom each went to.
	if page := getBody(t, first, s.srv.URL+"/inbox?view=mine"); strings.Count(page, `href="/inbox/`) != 4 {
		t.Errorf("first manager's own conversations: %d", strings.Count(page, `href="/inbox/`))
	}
	shift(first, url.Values{"off": {"1"}})
	shift(second, url.Values{"off": {"1"}})
	if who := open("care"); who != "" {
		t.Errorf("assigned to %s with nobody on shift", who)
	}
}

// TestBrowserInboxTellsNamesakesApart: two customers named Елена, one in
// Telegram and one in Viber, both waiting for a manager. The list tells them
// apart by customer id, the last four digits of their phone and the channel,
// shows what each last wrote, and the views bar has a separator only between
// views.
func TestBrowserInboxTellsNamesakesApart(t *testing.T) {
	s := newFullSite(t)
	ctx := context.Background()
	type customer struct {
		ext, channel, address, phone, words string
		id                                  int64
	}
	cs := []*customer{
		{ext: "e1", channel: "telegram", address: "8001", phone: "+79990001234", words: "Где мой заказ?"},
		{ext: "e2", channel: "viber", address: "vb-8002", phone: "+79990005678", words: "Курьер опоздал"},
	}
	for _, c := range cs {
		s.db.QueryRow(`INSERT INTO subscribers (external_id, name) VALUES ($1, 'Елена') RETURNING id`, c.ext).Scan(&c.id)
		s.db.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, $2, $3), ($1, 'sms', $4)`,
			c.id, c.channel, c.address, c.phone)
		if err := s.router.Reply(ctx, channels.Event{Type: channels.EventText, Channel: channels.Kind(c.channel), From: c.address,
			ProviderEventID: c.ext, Text: c.words, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	b := browsertest.New(t)
	browsertest.Login(t, b, s.srv.URL, "manager@shop.example", "manager-password-1")
	var rows []string
	var views string
	browsertest.Run(t, b, 30*time.Second,
		chromedp.Navigate(s.srv.URL+"/inbox"),
		chromedp.WaitVisible(`#live table`, chromedp.ByQuery),
		chromedp.Evaluate(`[...document.querySelectorAll('#live tbody tr')].map(r => r.innerText.replace(/\s+/g, ' ').trim())`, &rows),
		chromedp.Text(`nav[aria-label="Views"]`, &views, chromedp.ByQuery),
	)
	if len(rows) != 2 {
		t.Fatalf("%d rows, want 2:\n%s", len(rows), strings.Join(rows, "\n"))
	}
	for _, c := range cs {
		want := "Елена #" + itoa(c.id) + " · …" + c.phone[len(c.phone)-4:] + " " + c.channel
		found := false
		for _, r := range rows {
			if strings.HasPrefix(r, want) && strings.Contains(r, c.words) {
				found = true
			}
		}
		if !found {
			t.Errorf("no row %q with %q:\n%s", want, c.words, strings.Join(rows, "\n"))
		}
	}
	views = strings.TrimSpace(views)
	if strings.HasPrefix(views, "·") || strings.HasSuffix(views, "·") || strings.Count(views, "·") != 4 {
		t.Errorf("views bar %q: want a separator only between its five views", views)
	}
}
