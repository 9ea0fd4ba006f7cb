package channels_test

import (
	"net/http"
	"net/http/httptest"
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
