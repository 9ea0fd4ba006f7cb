package cli

import (
	"log/slog"
	"net/http"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/ratelimit"
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
	load := func() map[string]channels.Rate {
		t.Helper()
		e := &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
		cs := loadChannels(e, "https://nudge.example.com", nil, nil, slog.New(slog.DiscardHandler), http.DefaultClient)
		if err := e.Err(); err != nil {
			t.Fatal(err)
		}
		return cs.Rates
	}
	defaults := load()
	if len(defaults) != 7 || defaults[string(channels.Telegram)] != (channels.Rate{PerSecond: 30, PerChatPerSecond: 1}) {
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
		g, d := got[string(k)], defaults[string(k)]
		if g.PerSecond != w {
			t.Errorf("%s rate %v, want %v", k, g.PerSecond, w)
		}
		if g.PerChatPerSecond != d.PerChatPerSecond || g.ChatBurst != d.ChatBurst {
			t.Errorf("%s per-chat limit changed: %+v, default %+v", k, g, d)
		}
	}
}

// Every account listed in NUDGE_<CHANNEL>_ACCOUNTS is wired with its own
// sender, webhook and rate; a listed account without its enabling variable
// or with half its variables fails naming the variable.
func TestChannelAccountsFromEnvironment(t *testing.T) {
	vars := map[string]string{
		"NUDGE_TELEGRAM_TOKEN": telegramfake.Token, "NUDGE_TELEGRAM_WEBHOOK_SECRET": "s",
		"NUDGE_TELEGRAM_ACCOUNTS":      "brand-b",
		"NUDGE_TELEGRAM_BRAND_B_TOKEN": "7098765432:BBFh3kQ9xYvZ2mN8pL4rT6sW1uE5oI7cB0d", "NUDGE_TELEGRAM_BRAND_B_WEBHOOK_SECRET": "b",
		"NUDGE_TELEGRAM_BRAND_B_RATE": "5",
		"NUDGE_VIBER_ACCOUNTS":        "shop2", "NUDGE_VIBER_SHOP2_TOKEN": "v2",
	}
	load := func() (*channelSet, error) {
		e := &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
		cs := loadChannels(e, "https://nudge.example.com", nil, nil, slog.New(slog.DiscardHandler), http.DefaultClient)
		return cs, e.Err()
	}
	cs, err := load()
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(cs.Registry.Accounts(channels.Telegram), " "); got != "main brand-b" {
		t.Errorf("telegram accounts %q", got)
	}
	if got := strings.Join(cs.Registry.Accounts(channels.Viber), " "); got != "shop2" {
		t.Errorf("viber accounts %q (no unprefixed token: no main)", got)
	}
	if r := cs.Rates[ratelimit.AccountRate("telegram", "brand-b")]; r.PerSecond != 5 || r.PerChatPerSecond != 1 {
		t.Errorf("brand-b rate %+v", r)
	}
	if r := cs.Rates["telegram"]; r.PerSecond != 30 {
		t.Errorf("main rate %+v", r)
	}
	for _, k := range []accountKey{{channels.Telegram, "main"}, {channels.Telegram, "brand-b"}, {channels.Viber, "shop2"}} {
		if cs.hooks[k] == nil || cs.fetchers[k] == nil {
			t.Errorf("%v: no webhook or fetcher", k)
		}
	}
	if len(cs.hooks) != 3 {
		t.Errorf("%d webhooks, want 3", len(cs.hooks))
	}

	vars["NUDGE_TELEGRAM_ACCOUNTS"] = "brand-b,brand-c"
	delete(vars, "NUDGE_TELEGRAM_BRAND_B_WEBHOOK_SECRET")
	_, err = load()
	for _, want := range []string{"NUDGE_TELEGRAM_BRAND_C_TOKEN: is required: account \"brand-c\" is listed in NUDGE_TELEGRAM_ACCOUNTS",
		"NUDGE_TELEGRAM_BRAND_B_WEBHOOK_SECRET: is required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v, want %q", err, want)
		}
	}
}
