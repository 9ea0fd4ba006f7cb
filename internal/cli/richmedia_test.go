package cli

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/demo"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/users"
)

const weeklyMenuYAML = `id: weekly-menu
name: Weekly menu with photos
topic: service
trigger:
  api: {}
settings:
  channels: [telegram, vk]
steps:
  - id: menu
    send: {template: menu}
templates:
  menu:
    default:
      ru:
        text: "{{.Subscriber.Name}}, меню на следующую неделю: индейка с булгуром, сырники, том-ям"
        images:
          - "%[1]s/menu/turkey.jpg"
          - "%[1]s/menu/syrniki.jpg"
          - "%[1]s/menu/tom-yam.jpg"
        document: {url: "%[1]s/menu/week-49.pdf", name: "Меню 49.pdf"}
`

// TestWeeklyMenuAlbumTelegramAndVK: a weekly menu with three photos and a
// PDF, triggered through the API for one Telegram and two VK customers,
// goes out on Telegram as one sendMediaGroup album and the PDF by
// sendDocument with the text as its caption, and on VK as photos uploaded
// through getMessagesUploadServer → upload → saveMessagesPhoto and the PDF
// through the docs flow: each file fetched and uploaded once, both VK
// messages carrying the same four attachments.
func TestWeeklyMenuAlbumTelegramAndVK(t *testing.T) {
	var mu sync.Mutex
	fetched := map[string]int{}
	photos := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		fetched[r.URL.Path]++
		mu.Unlock()
		if strings.HasSuffix(r.URL.Path, ".pdf") {
			w.Header().Set("Content-Type", "application/pdf")
			w.Write([]byte("%PDF-1.7 weekly menu"))
			return
		}
		w.Header().Set("Content-Type", "image/jpeg")
		w.Write(append([]byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10, 'J', 'F', 'I', 'F', 0}, bytes.Repeat([]byte(r.URL.Path), 100)...))
	}))
	t.Cleanup(photos.Close)

	e := newE2E(t)
	e.f.VK.SetCallback(channels.WebhookURL(e.base, channels.VK, channels.DefaultAccount))
	people := []demo.Person{
		{Ext: "menu-tg", Name: "Анна", Locale: "ru", TZ: "Europe/Moscow", Channel: channels.Telegram, Chat: 710001, Persona: "silent",
			Phone: "+79990001001", Email: "menu-tg@example.com"},
		{Ext: "menu-vk1", Name: "Иван", Locale: "ru", TZ: "Europe/Moscow", Channel: channels.VK, Chat: 720001, Persona: "silent",
			Phone: "+79990001002", Email: "menu-vk1@example.com"},
		{Ext: "menu-vk2", Name: "Мария", Locale: "ru", TZ: "Europe/Moscow", Channel: channels.VK, Chat: 720002, Persona: "silent",
			Phone: "+79990001003", Email: "menu-vk2@example.com"},
	}
	e.seed(people[:1])
	// The VK customers open the community's deep link (a code bound to
	// them) and write Start: message_new with the ref, as from VK.
	subs, codes := subscribers.NewStore(e.d, e.now), consent.NewCodes(e.now)
	for _, p := range people[1:] {
		sub, _, err := subs.Upsert(e.ctx, subscribers.Input{ExternalID: p.Ext, Name: &p.Name, Locale: &p.Locale, TimeZone: &p.TZ})
		if err != nil {
			t.Fatal(err)
		}
		code, err := codes.Create(e.ctx, e.d, consent.NewCode{SubscriberID: sub.ID, Source: consent.SourceJWTLink,
			Topics: []campaigns.Topic{campaigns.TopicService}, TTL: 24 * time.Hour})
		if err != nil {
			t.Fatal(err)
		}
		if st, _, err := e.f.VK.Post(e.ctx, e.f.VK.MessageNew(p.Chat, "Start", "", code.Code)); err != nil || st != http.StatusOK {
			t.Fatalf("vk start %s: %d %v", p.Ext, st, err)
		}
	}
	e.waitFor("vk identities", func() bool {
		return e.count(`SELECT count(*) FROM consent_state WHERE channel = 'vk' AND granted`) == 2
	})
	file, err := campaigns.Parse("weekly-menu.yaml", []byte(fmt.Sprintf(weeklyMenuYAML, photos.URL)))
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := campaigns.NewStore(e.d, campaigns.WithLinter(channelcheck.Linter())).Apply(e.ctx, file); err != nil {
		t.Fatal(err)
	}
	_, key, err := e.s.keys.Create(e.ctx, "shop", users.Admin)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range people {
		body, _ := json.Marshal(map[string]any{"subscriber": p.Ext, "payload": map[string]any{}})
		req, _ := http.NewRequestWithContext(e.ctx, http.MethodPost, e.base+"/v1/campaigns/weekly-menu/trigger", bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "menu-"+p.Ext)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode >= 300 {
			t.Fatalf("trigger %s: %d", p.Ext, resp.StatusCode)
		}
	}
	// Sent, or further on: VK reports the read of a silent customer too.
	e.waitFor("the menu on every channel", func() bool {
		return e.count(`SELECT count(*) FROM messages WHERE campaign_id = 'weekly-menu' AND status IN ('sent', 'delivered', 'read')`) == 3
	})

	urls := []string{photos.URL + "/menu/turkey.jpg", photos.URL + "/menu/syrniki.jpg", photos.URL + "/menu/tom-yam.jpg"}
	var album, docs []string
	for _, m := range e.f.Telegram.SentTo(710001) {
		switch m.Method {
		case "sendMediaGroup":
			album = append(album, m.Photo)
		case "sendDocument":
			docs = append(docs, m.Document)
			if !strings.HasPrefix(m.Text, "Анна, меню на следующую неделю") {
				t.Errorf("document caption %q", m.Text)
			}
		}
	}
	if strings.Join(album, " ") != strings.Join(urls, " ") || len(docs) != 1 || docs[0] != photos.URL+"/menu/week-49.pdf" {
		t.Errorf("telegram album %v documents %v, want %v and the PDF", album, docs, urls)
	}
	saved := e.f.VK.Photos()
	if len(saved) != 3 || e.f.VK.UploadServers() != 4 {
		t.Fatalf("vk: %d photos saved through %d upload servers, want 3 photos and 4 uploads", len(saved), e.f.VK.UploadServers())
	}
	vkDocs := e.f.VK.Docs()
	if len(vkDocs) != 1 || vkDocs[0].Title != "Меню 49.pdf" {
		t.Fatalf("vk documents %+v, want the PDF once", vkDocs)
	}
	want := saved[0].Attachment() + "," + saved[1].Attachment() + "," + saved[2].Attachment() + "," + vkDocs[0].Attachment()
	for _, peer := range []int64{720001, 720002} {
		var got []string
		for _, m := range e.f.VK.SentTo(peer) {
			if m.Attachment != "" {
				got = append(got, m.Attachment)
			}
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("vk %d got attachments %q, want one message with %q", peer, got, want)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	for _, u := range []string{"/menu/turkey.jpg", "/menu/syrniki.jpg", "/menu/tom-yam.jpg", "/menu/week-49.pdf"} {
		if fetched[u] != 1 {
			t.Errorf("%s fetched %d times, want once (Telegram fetches by URL itself; VK uploads once)", u, fetched[u])
		}
	}
	if n := e.count(`SELECT count(*) FROM media_uploads WHERE channel = 'vk'`); n != 4 {
		t.Errorf("%d cached uploads, want 4", n)
	}
}
