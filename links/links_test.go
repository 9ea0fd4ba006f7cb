package links_test

import (
	"context"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/links"
	"github.com/nudge-engine/nudge/templates"
)

const base = "https://nudge.example"

var payInvoice = &channels.Invoice{Payload: "nudge1.x", Title: "T", Description: "D", Currency: "RUB", Amount: 100}

func def(l *campaigns.Links) *campaigns.Definition {
	return &campaigns.Definition{ID: "renewal", Links: l}
}

// TestRewrite: what Rewrite turns into tracked links and what it leaves as
// written, through the Service the worker's outbox calls, on real Postgres.
func TestRewrite(t *testing.T) {
	d := testenv.DB(t)
	at := time.Date(2030, 3, 1, 9, 0, 0, 0, time.UTC)
	s := links.New(links.Config{DB: d, BaseURL: base + "/", Secret: []byte("0123456789abcdef"), Now: func() time.Time { return at }})
	ctx := context.Background()
	msg := links.Message{Key: "r1:ask:0:0", Version: "v1", StepID: "ask", Channel: channels.Telegram}
	code := func(raw string) string { return links.Code([]byte("0123456789abcdef"), msg.Key, raw) }
	l := func(raw string) string { return base + "/l/" + code(raw) }
	off := false
	for _, c := range []struct {
		name string
		def  *campaigns.Definition
		in   templates.Rendered
		want templates.Rendered
		rows int
	}{
		{name: "sentence punctuation stays outside the link", def: def(nil),
			in:   templates.Rendered{Text: "Меню: https://shop.example/menu. Ещё (https://shop.example/a_(b)) и https://shop.example/x?y=1!"},
			want: templates.Rendered{Text: "Меню: " + l("https://shop.example/menu") + ". Ещё (" + l("https://shop.example/a_(b)") + ") и " + l("https://shop.example/x?y=1") + "!"},
			rows: 3},
		{name: "the same link twice is one code; buttons too", def: def(nil),
			in: templates.Rendered{Text: "https://shop.example/menu https://shop.example/menu",
				Buttons: []channels.Button{{ID: "like", Text: "👍"}, {Text: "Order", URL: "https://shop.example/menu"}, {Text: "Pay", URL: "https://pay.example/p"}}},
			want: templates.Rendered{Text: l("https://shop.example/menu") + " " + l("https://shop.example/menu"),
				Buttons: []channels.Button{{ID: "like", Text: "👍"}, {Text: "Order", URL: l("https://shop.example/menu")}, {Text: "Pay", URL: l("https://pay.example/p")}}},
			rows: 2},
		{name: "an HTML href is unescaped before it is signed", def: def(nil),
			in:   templates.Rendered{Format: channels.HTML, Text: `<a href="https://shop.example/m?a=1&amp;b=2">меню</a>`},
			want: templates.Rendered{Format: channels.HTML, Text: `<a href="` + l("https://shop.example/m?a=1&b=2") + `">меню</a>`},
			rows: 1},
		{name: "links on the base URL, images, email HTML and other schemes stay", def: def(nil),
			in: templates.Rendered{Text: "Отписка " + base + "/u/x mailto:a@b.c ftp://f.example/x", ImageURL: "https://cdn.example/p.jpg",
				HTML: `<a href="https://shop.example/h">h</a>`},
			want: templates.Rendered{Text: "Отписка " + base + "/u/x mailto:a@b.c ftp://f.example/x", ImageURL: "https://cdn.example/p.jpg",
				HTML: `<a href="https://shop.example/h">h</a>`}},
		{name: "the shop link of an invoice's pay button stays (it is paid in the chat)", def: def(nil),
			in:   templates.Rendered{Text: "Продлите", Buttons: []channels.Button{{Text: "Pay", URL: "https://shop.example/renew", Pay: payInvoice}}},
			want: templates.Rendered{Text: "Продлите", Buttons: []channels.Button{{Text: "Pay", URL: "https://shop.example/renew", Pay: payInvoice}}}},
		{name: "track: false sends links as written", def: def(&campaigns.Links{Track: &off}),
			in:   templates.Rendered{Text: "https://shop.example/off", Buttons: []channels.Button{{Text: "b", URL: "https://shop.example/off2"}}},
			want: templates.Rendered{Text: "https://shop.example/off", Buttons: []channels.Button{{Text: "b", URL: "https://shop.example/off2"}}}},
		{name: "an SMS's segments are counted again", def: def(nil),
			in:   templates.Rendered{Text: "Оплатите https://shop.example/" + strings.Repeat("p", 120), Segments: 3},
			want: templates.Rendered{Text: "Оплатите " + l("https://shop.example/"+strings.Repeat("p", 120)), Segments: 1},
			rows: 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			if _, err := d.Exec(`DELETE FROM links`); err != nil {
				t.Fatal(err)
			}
			got, err := s.Rewrite(ctx, c.def, msg, c.in)
			if err != nil {
				t.Fatal(err)
			}
			if got.Text != c.want.Text || got.HTML != c.want.HTML || got.ImageURL != c.want.ImageURL || got.Segments != c.want.Segments ||
				len(got.Buttons) != len(c.want.Buttons) {
				t.Fatalf("got  %+v\nwant %+v", got, c.want)
			}
			for i := range got.Buttons {
				if got.Buttons[i] != c.want.Buttons[i] {
					t.Fatalf("button %d: %+v, want %+v", i, got.Buttons[i], c.want.Buttons[i])
				}
			}
			if c.in.Buttons != nil && &c.in.Buttons[0] == &got.Buttons[0] && c.rows > 0 {
				t.Fatal("Rewrite changed the caller's buttons in place")
			}
			var n int
			if err := d.Get(&n, `SELECT count(*) FROM links WHERE message_key = $1 AND step_id = 'ask' AND channel = 'telegram' AND created_at = $2`, msg.Key, at); err != nil {
				t.Fatal(err)
			}
			if n != c.rows {
				t.Fatalf("%d links recorded, want %d", n, c.rows)
			}
			// Composing the same message again makes the same codes and no new row.
			again, err := s.Rewrite(ctx, c.def, msg, c.in)
			if err != nil || again.Text != got.Text {
				t.Fatalf("again: %q %v", again.Text, err)
			}
			if err := d.Get(&n, `SELECT count(*) FROM links`); err != nil || n != c.rows {
				t.Fatalf("after composing again: %d rows %v", n, err)
			}
		})
	}
}

// TestInstallSecret: without NUDGE_LINK_SECRET two processes (two
// Services on one database) sign alike with the secret generated once.
func TestInstallSecret(t *testing.T) {
	d := testenv.DB(t)
	ctx := context.Background()
	msg := links.Message{Key: "k", StepID: "s", Channel: channels.SMS}
	in := templates.Rendered{Text: "https://shop.example/x"}
	a, err := links.New(links.Config{DB: d, BaseURL: base}).Rewrite(ctx, def(nil), msg, in)
	if err != nil {
		t.Fatal(err)
	}
	b, err := links.New(links.Config{DB: d, BaseURL: base}).Rewrite(ctx, def(nil), msg, in)
	if err != nil {
		t.Fatal(err)
	}
	if a.Text != b.Text || !strings.HasPrefix(a.Text, base+"/l/") {
		t.Fatalf("two processes sign differently: %q, %q", a.Text, b.Text)
	}
	var secret []byte
	if err := d.Get(&secret, `SELECT secret FROM link_secrets`); err != nil || len(secret) != 32 {
		t.Fatalf("generated secret: %d bytes, %v", len(secret), err)
	}
	if strings.TrimPrefix(a.Text, base+"/l/") != links.Code(secret, "k", "https://shop.example/x") {
		t.Fatal("the code is not the HMAC of the stored secret")
	}
}

func TestTarget(t *testing.T) {
	m := links.Message{StepID: "remind", Channel: channels.WhatsApp}
	no := false
	for _, c := range []struct {
		raw  string
		def  *campaigns.Definition
		want url.Values
	}{
		{"https://shop.example/p?plan=4", def(nil), url.Values{"plan": {"4"}, "utm_source": {"nudge"}, "utm_medium": {"whatsapp"},
			"utm_campaign": {"renewal"}, "utm_content": {"remind"}, "nudge_click": {"CODE"}}},
		// The link's own UTM parameters win; overrides replace defaults; attribution off drops nudge_click.
		{"https://shop.example/p?utm_source=mail", def(&campaigns.Links{UTM: campaigns.UTM{Medium: "chat", Content: "v2"}, Attribution: &no}),
			url.Values{"utm_source": {"mail"}, "utm_medium": {"chat"}, "utm_campaign": {"renewal"}, "utm_content": {"v2"}}},
	} {
		u, err := url.Parse(links.Target(c.raw, c.def, m, "CODE"))
		if err != nil {
			t.Fatal(err)
		}
		if u.Query().Encode() != c.want.Encode() || u.Host != "shop.example" || u.Path != "/p" {
			t.Errorf("Target(%s) = %s, want query %s", c.raw, u, c.want.Encode())
		}
	}
}

func TestIsBot(t *testing.T) {
	for ua, want := range map[string]bool{
		"TelegramBot (like TwitterBot)": true,
		"WhatsApp/2.23.20.0 A":          true,
		"facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)":                        true,
		"Mozilla/5.0 (compatible; vkShare; +http://vk.com/dev/Share)":                                      true,
		"Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 Mobile/15E148":        false,
		"Mozilla/5.0 (Linux; Android 14; Pixel 8) Chrome/120.0 Mobile Safari/537.36 Telegram-Android/10.0": false,
		"": false,
	} {
		if got := links.IsBot(ua); got != want {
			t.Errorf("IsBot(%q) = %v, want %v", ua, got, want)
		}
	}
}
