package cli

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/internal/config"
)

// NUDGE_<PROVIDER>_RATE sets the account rate every role's limiter gets,
// for each of the seven channels; unset, the provider's default holds.
func TestChannelRatesFromEnvironment(t *testing.T) {
	vars := map[string]string{
		"NUDGE_TELEGRAM_TOKEN": telegramfake.Token, "NUDGE_TELEGRAM_WEBHOOK_SECRET": "s",
		"NUDGE_VIBER_TOKEN": "v",
		"NUDGE_VK_TOKEN":    "vk", "NUDGE_VK_GROUP_ID": "1", "NUDGE_VK_SECRET": "s", "NUDGE_VK_CONFIRMATION": "c",
		"NUDGE_WHATSAPP_TOKEN": "w", "NUDGE_WHATSAPP_PHONE_NUMBER_ID": "1", "NUDGE_META_APP_SECRET": "m",
		"NUDGE_MESSENGER_PAGE_TOKEN": "p",
		"NUDGE_TWILIO_ACCOUNT_SID":   "AC1", "NUDGE_TWILIO_AUTH_TOKEN": "t", "NUDGE_TWILIO_FROM": "+15005550006",
		"NUDGE_SMTP_HOST": "smtp.example.com", "NUDGE_SMTP_FROM": "shop@example.com",
	}
	load := func() map[channels.Kind]channels.Rate {
		t.Helper()
		e := &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
		cs := loadChannels(e, "https://nudge.example.com", nil, nil, slog.New(slog.DiscardHandler), http.DefaultClient)
		if err := e.Err(); err != nil {
			t.Fatal(err)
		}
		return cs.Rates
	}
	defaults := load()
	if len(defaults) != 7 || defaults[channels.Telegram] != (channels.Rate{PerSecond: 30, PerChatPerSecond: 1}) {
		t.Fatalf("defaults %v", defaults)
	}
	want := map[channels.Kind]float64{}
	for _, p := range []struct {
		kind  channels.Kind
		name  string
		value string
		want  float64
	}{
		{channels.Telegram, "TELEGRAM", "1000", 1000},
		{channels.Viber, "VIBER", "20/m", 20.0 / 60},
		{channels.VK, "VK", "0", 0},
		{channels.WhatsApp, "WHATSAPP", "250", 250},
		{channels.Messenger, "MESSENGER", "0.5", 0.5},
		{channels.SMS, "TWILIO", "100/h", 100.0 / 3600},
		{channels.Email, "SMTP", "7", 7},
	} {
		vars["NUDGE_"+p.name+"_RATE"] = p.value
		want[p.kind] = p.want
	}
	got := load()
	for k, w := range want {
		if got[k].PerSecond != w {
			t.Errorf("%s rate %v, want %v", k, got[k].PerSecond, w)
		}
		if got[k].PerChatPerSecond != defaults[k].PerChatPerSecond || got[k].ChatBurst != defaults[k].ChatBurst {
			t.Errorf("%s per-chat limit changed: %+v, default %+v", k, got[k], defaults[k])
		}
	}
}
