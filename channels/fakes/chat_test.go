package fakes_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/fakes"
)

// TestChatPagesPlayTheCustomer: a message the Telegram fake accepted shows on
// the customer's chat page, escaped, with its buttons; a press posted as the
// page posts it reaches the webhook as Telegram's callback query (with the
// secret header) and shows on the customer's side by its label. A cross-site
// form post (a simple content type) plays nothing.
func TestChatPagesPlayTheCustomer(t *testing.T) {
	var mu sync.Mutex
	var hooks []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		defer mu.Unlock()
		if r.Header.Get("X-Telegram-Bot-Api-Secret-Token") != "s3cret" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		hooks = append(hooks, string(b))
	}))
	defer hook.Close()
	f, err := fakes.Start(fakes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.Telegram.SetWebhook(hook.URL, "s3cret")
	f.Name(channels.Telegram, "4242", `Мария <script>alert(1)</script>`)
	send, _ := json.Marshal(map[string]any{"chat_id": 4242, "text": "Как вам еда? <img src=x onerror=alert(2)>",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "👍", "callback_data": "like"}, {"text": "👎", "callback_data": "dislike"}}}}})
	res, err := http.Post(f.Telegram.URL+"/bot"+f.Telegram.Token+"/sendMessage", "application/json", bytes.NewReader(send))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("sendMessage: %v %v", res, err)
	}
	res.Body.Close()
	ctl := httptest.NewServer(f.Handler())
	defer ctl.Close()
	get := func(path string) string {
		t.Helper()
		res, err := http.Get(ctl.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		if res.StatusCode != 200 || !strings.Contains(res.Header.Get("Content-Security-Policy"), "default-src 'self'") {
			t.Fatalf("GET %s: %d %v", path, res.StatusCode, res.Header)
		}
		return string(b)
	}
	list := get("/chat")
	for _, want := range []string{`href="/chat/telegram/4242"`, `Мария &lt;script&gt;alert(1)&lt;/script&gt;`, "Как вам еда?"} {
		if !strings.Contains(list, want) {
			t.Errorf("the chat list has no %s:\n%s", want, list)
		}
	}
	conv := get("/chat/telegram/4242")
	for _, want := range []string{`&lt;img src=x onerror=alert(2)&gt;`, `data-press="dislike"`, `>👎</button>`, `class="conversation ch-telegram"`} {
		if !strings.Contains(conv, want) {
			t.Errorf("the conversation has no %s:\n%s", want, conv)
		}
	}
	if strings.Contains(list+conv, "<script>alert") || strings.Contains(conv, "<img src=x") {
		t.Errorf("subscriber data unescaped:\n%s\n%s", list, conv)
	}

	// A name that is not this machine's (DNS rebinding) is refused.
	req, _ := http.NewRequest("GET", ctl.URL+"/chat", nil)
	req.Host = "attacker.example:80"
	if res, err := http.DefaultClient.Do(req); err != nil || res.StatusCode != http.StatusMisdirectedRequest {
		t.Errorf("GET /chat for Host attacker.example: %v %v", res, err)
	} else {
		res.Body.Close()
	}

	press := `{"user":"4242","data":"dislike"}`
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", ""} {
		req, _ := http.NewRequest("POST", ctl.URL+"/telegram/press", strings.NewReader(press))
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusUnsupportedMediaType {
			t.Errorf("press with Content-Type %q: %d, want 415", ct, res.StatusCode)
		}
	}
	mu.Lock()
	if len(hooks) != 0 {
		t.Fatalf("a simple-content-type post reached the webhook: %v", hooks)
	}
	mu.Unlock()
	var id string
	for _, m := range f.Sent() {
		id = m.ID
	}
	res, err = http.Post(ctl.URL+"/telegram/press", "application/json; charset=utf-8",
		strings.NewReader(`{"user":"4242","data":"dislike","message_id":"`+id+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var out fakes.ActionResult
	_ = json.NewDecoder(res.Body).Decode(&out)
	res.Body.Close()
	if res.StatusCode != 200 || out.Status != 200 {
		t.Fatalf("press: %d, webhook %d", res.StatusCode, out.Status)
	}
	mu.Lock()
	if len(hooks) != 1 || !strings.Contains(hooks[0], `"callback_query"`) || !strings.Contains(hooks[0], `"data":"dislike"`) {
		t.Errorf("webhook got %v", hooks)
	}
	mu.Unlock()
	if said := f.Saids(); len(said) != 1 || said[0].Text != "👎" || said[0].Status != 200 {
		t.Errorf("recorded %+v", said)
	}
	if conv := get("/chat/telegram/4242"); !strings.Contains(conv, `<span class="pressed">pressed</span> 👎`) {
		t.Errorf("the press is not on the customer's side:\n%s", conv)
	}
}

// TestSentKeysKeepTheirRows: a Telegram keyboard lists every key with its
// row, and only the keys that carry data among the buttons.
func TestSentKeysKeepTheirRows(t *testing.T) {
	f, err := fakes.Start(fakes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	send, _ := json.Marshal(map[string]any{"chat_id": 7, "text": "Меню",
		"reply_markup": map[string]any{"inline_keyboard": [][]map[string]string{{{"text": "Да", "callback_data": "yes"}}, {{"text": "Меню", "url": "https://growfood.example/menu"}}}}})
	res, err := http.Post(f.Telegram.URL+"/bot"+f.Telegram.Token+"/sendMessage", "application/json", bytes.NewReader(send))
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("sendMessage: %v %v", res, err)
	}
	res.Body.Close()
	sent := f.Sent()
	want := []fakes.Key{{Label: "Да", Data: "yes"}, {Label: "Меню", URL: "https://growfood.example/menu", Row: 1}}
	if len(sent) != 1 || len(sent[0].Keys) != 2 || sent[0].Keys[0] != want[0] || sent[0].Keys[1] != want[1] || strings.Join(sent[0].Buttons, ",") != "yes" {
		t.Fatalf("sent %+v", sent)
	}
}
