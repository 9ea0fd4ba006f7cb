package channels_test

import (
	"bytes"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
)

func TestPostOnlyRefusesOtherMethods(t *testing.T) {
	w := httptest.NewRecorder()
	if channels.PostOnly(w, httptest.NewRequest(http.MethodGet, "/webhooks/sms/main", nil)) || w.Code != http.StatusMethodNotAllowed || w.Header().Get("Allow") != "POST" {
		t.Errorf("GET: %d, Allow %q", w.Code, w.Header().Get("Allow"))
	}
	w = httptest.NewRecorder()
	if !channels.PostOnly(w, httptest.NewRequest(http.MethodPost, "/webhooks/sms/main", nil)) || w.Code != http.StatusOK {
		t.Errorf("POST refused: %d", w.Code)
	}
}

func TestUnreadableAnswers400AndLogs(t *testing.T) {
	var logs bytes.Buffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	w := httptest.NewRecorder()
	channels.Unreadable(w, httptest.NewRequest(http.MethodPost, "/webhooks/vk/main", nil), log, "vk callback unreadable", "bad callback", errors.New("no object"), "type", "message_new")
	if w.Code != http.StatusBadRequest || strings.TrimSpace(w.Body.String()) != "bad callback" {
		t.Errorf("answer %d %q", w.Code, w.Body.String())
	}
	if got := logs.String(); !strings.Contains(got, `level=WARN msg="vk callback unreadable" err="no object" type=message_new`) {
		t.Errorf("log %q", got)
	}
}

func TestWebhookPath(t *testing.T) {
	for _, c := range []struct {
		k       channels.Kind
		account string
		want    string
	}{
		{channels.Telegram, "", "/webhooks/telegram/main"},
		{channels.Telegram, channels.DefaultAccount, "/webhooks/telegram/main"},
		{channels.SMS, "shop 2", "/webhooks/sms/shop%202"},
	} {
		if got := channels.WebhookPath(c.k, c.account); got != c.want {
			t.Errorf("WebhookPath(%q, %q) = %q, want %q", c.k, c.account, got, c.want)
		}
	}
	if got := channels.WebhookURL("https://nudge.example/", channels.Viber, ""); got != "https://nudge.example/webhooks/viber/main" {
		t.Errorf("WebhookURL = %q", got)
	}
}
