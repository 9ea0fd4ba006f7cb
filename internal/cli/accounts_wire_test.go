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
		cs := loadChannels(e, "https://nudge.example.com", nil, slog.New(slog.DiscardHandler), http.DefaultClient)
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
