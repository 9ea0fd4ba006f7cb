package consent_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/internal/config"
)

// Each account listed in NUDGE_<CHANNEL>_ACCOUNTS has its own deep link
// (NUDGE_TELEGRAM_<ACCOUNT>_BOT, …): a widget offers a button per bot.
func TestAccountDeepLinks(t *testing.T) {
	t.Parallel()
	vars := map[string]string{
		"NUDGE_TELEGRAM_BOT": "@GrowFoodBot", "NUDGE_TELEGRAM_ACCOUNTS": "brand-b,brand-c",
		"NUDGE_TELEGRAM_BRAND_B_BOT": "BrandBBot",
		"NUDGE_WHATSAPP_ACCOUNTS":    "shop2", "NUDGE_WHATSAPP_SHOP2_NUMBER": "+79001112233",
	}
	e := &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	cfg := consent.LoadConfig(e)
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	code := "AbC_-09xyzAbC_-09xyzAb"
	for _, c := range []struct {
		ch        channels.Kind
		acc, want string
	}{
		{channels.Telegram, "", "https://t.me/GrowFoodBot?start=" + code},
		{channels.Telegram, "main", "https://t.me/GrowFoodBot?start=" + code},
		{channels.Telegram, "brand-b", "https://t.me/BrandBBot?start=" + code},
		{channels.WhatsApp, "shop2", "https://wa.me/79001112233?text="},
	} {
		got, err := cfg.DeepLinkOf(c.ch, c.acc, code)
		if err != nil || !strings.HasPrefix(got, c.want) {
			t.Errorf("%s %q: %q %v, want %q", c.ch, c.acc, got, err, c.want)
		}
	}
	// brand-c has a bot but no deep-link username: no link.
	if _, err := cfg.DeepLinkOf(channels.Telegram, "brand-c", code); !errors.Is(err, consent.ErrChannelNotConfigured) {
		t.Errorf("brand-c: %v", err)
	}
	links, err := cfg.Links(code)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, l := range links {
		got = append(got, string(l.Channel)+"/"+l.Account+"="+l.Label)
	}
	if want := "telegram/main=Telegram telegram/brand-b=Telegram (brand-b) whatsapp/shop2=WhatsApp (shop2)"; strings.Join(got, " ") != want {
		t.Errorf("links %q, want %q", strings.Join(got, " "), want)
	}

	vars["NUDGE_TELEGRAM_BRAND_B_BOT"] = "not a bot"
	e = &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}
	consent.LoadConfig(e)
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "NUDGE_TELEGRAM_BRAND_B_BOT") {
		t.Errorf("bad username: %v", err)
	}
}
