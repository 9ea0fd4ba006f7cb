package consent_test

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/consent"
)

func TestDeepLinks(t *testing.T) {
	t.Parallel()
	cfg := consent.Config{
		TelegramBot: "GrowFoodBot", ViberURI: "growfood", WhatsAppNumber: "79001234567",
		MessengerPage: "growfood.ru", InstagramUser: "growfood.ru_", VKGroup: "club123",
	}.WithDefaults()
	code := "AbC_-09xyzAbC_-09xyzAb"
	max := strings.Repeat("a", 64)
	cases := []struct {
		ch   channels.Kind
		code string
		want string
		err  error
	}{
		{channels.Telegram, code, "https://t.me/GrowFoodBot?start=" + code, nil},
		{channels.Viber, code, "viber://pa?chatURI=growfood&context=" + code, nil},
		{channels.Messenger, code, "https://m.me/growfood.ru?ref=" + code, nil},
		{channels.VK, code, "https://vk.me/club123?ref=" + code, nil},
		{channels.Instagram, code, "https://ig.me/m/growfood.ru_?ref=" + code, nil},
		{channels.Instagram, "a+b", "", consent.ErrBadCode},
		{channels.Instagram, max + "a", "", consent.ErrBadCode},
		{channels.WhatsApp, code, "https://wa.me/79001234567?text=" + strings.ReplaceAll(url.QueryEscape("Хочу получать уведомления / Subscribe me: "+code), "+", "%20"), nil},
		{channels.Telegram, max, "https://t.me/GrowFoodBot?start=" + max, nil},
		{channels.Telegram, max + "a", "", consent.ErrBadCode},
		{channels.Viber, max + "a", "", consent.ErrBadCode},
		{channels.Messenger, max + "a", "", consent.ErrBadCode},
		{channels.VK, max + "a", "", consent.ErrBadCode},
		{channels.WhatsApp, max + "a", "", consent.ErrBadCode},
		{channels.Telegram, "", "", consent.ErrBadCode},
		{channels.Telegram, "abc+def", "", consent.ErrBadCode},
		{channels.Telegram, "abc=", "", consent.ErrBadCode},
		{channels.Telegram, "abc def", "", consent.ErrBadCode},
		{channels.Telegram, "код", "", consent.ErrBadCode},
		{channels.Messenger, "a/b", "", consent.ErrBadCode},
		{channels.Viber, "a&b=c", "", consent.ErrBadCode},
		{channels.SMS, code, "", consent.ErrChannelNotConfigured},
	}
	for _, c := range cases {
		got, err := cfg.DeepLink(c.ch, c.code)
		if !errors.Is(err, c.err) || got != c.want {
			t.Errorf("DeepLink(%s, %q) = %q, %v; want %q, %v", c.ch, c.code, got, err, c.want, c.err)
		}
	}
	if _, err := (consent.Config{}).DeepLink(channels.Telegram, code); !errors.Is(err, consent.ErrChannelNotConfigured) {
		t.Errorf("unconfigured telegram: %v", err)
	}
	// Every fresh code fits every channel.
	for i := 0; i < 200; i++ {
		c := consent.NewCodeValue()
		if len(c) != 22 || !consent.ValidCode(c) {
			t.Fatalf("NewCodeValue() = %q", c)
		}
		if _, err := cfg.Links(c); err != nil {
			t.Fatal(err)
		}
	}
	long := cfg
	long.WhatsAppText = strings.Repeat("я", consent.MaxWhatsAppText) + "{code}"
	if _, err := long.DeepLink(channels.WhatsApp, code); !errors.Is(err, consent.ErrBadCode) {
		t.Errorf("over-long WhatsApp text: %v", err)
	}
}

func TestCodeCandidates(t *testing.T) {
	t.Parallel()
	code := "AbC_-09xyzAbC_-09xyzAb"
	cases := []struct {
		text string
		want []string
	}{
		{"/start " + code, []string{code}},
		{"/start", nil},
		{"/start short", []string{"short"}},
		{"Хочу получать уведомления / Subscribe me: " + code, []string{code}},
		{code + ", пожалуйста", []string{code}},
		{"привет", nil},
		{strings.Repeat("a", 70), nil}, // longer than any code: not a code
		{"two " + code + " " + code + "x", []string{code, code + "x"}},
	}
	for _, c := range cases {
		got := consent.CodeCandidates(c.text)
		if strings.Join(got, "|") != strings.Join(c.want, "|") {
			t.Errorf("CodeCandidates(%q) = %q, want %q", c.text, got, c.want)
		}
	}
}

func TestLoadConfig(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		vars map[string]string
		bad  string // variable named in the error; "" = valid
	}{
		{"empty is valid", map[string]string{}, ""},
		{"full", map[string]string{"NUDGE_TELEGRAM_BOT": "@GrowFoodBot", "NUDGE_WHATSAPP_NUMBER": "+79001234567"}, ""},
		{"telegram not a bot", map[string]string{"NUDGE_TELEGRAM_BOT": "growfood"}, "NUDGE_TELEGRAM_BOT"},
		{"telegram bad chars", map[string]string{"NUDGE_TELEGRAM_BOT": "grow-food_bot"}, "NUDGE_TELEGRAM_BOT"},
		{"telegram too short", map[string]string{"NUDGE_TELEGRAM_BOT": "bot"}, "NUDGE_TELEGRAM_BOT"},
		{"viber", map[string]string{"NUDGE_VIBER_URI": "a b"}, "NUDGE_VIBER_URI"},
		{"whatsapp letters", map[string]string{"NUDGE_WHATSAPP_NUMBER": "7900abc"}, "NUDGE_WHATSAPP_NUMBER"},
		{"whatsapp leading zero", map[string]string{"NUDGE_WHATSAPP_NUMBER": "0791234567"}, "NUDGE_WHATSAPP_NUMBER"},
		{"whatsapp text without code", map[string]string{"NUDGE_WHATSAPP_NUMBER": "79001234567", "NUDGE_WHATSAPP_TEXT": "hi"}, "NUDGE_WHATSAPP_TEXT"},
		{"messenger", map[string]string{"NUDGE_MESSENGER_PAGE": "grow food"}, "NUDGE_MESSENGER_PAGE"},
		{"vk", map[string]string{"NUDGE_VK_GROUP": "vk.com/growfood"}, "NUDGE_VK_GROUP"},
		{"instagram with @", map[string]string{"NUDGE_INSTAGRAM_USERNAME": "@growfood.ru"}, ""},
		{"instagram bad chars", map[string]string{"NUDGE_INSTAGRAM_USERNAME": "grow-food"}, "NUDGE_INSTAGRAM_USERNAME"},
		{"instagram too long", map[string]string{"NUDGE_INSTAGRAM_USERNAME": strings.Repeat("g", 31)}, "NUDGE_INSTAGRAM_USERNAME"},
		{"keys without issuer", map[string]string{"NUDGE_JWT_KEYS": "k1:HS256:" + strings.Repeat("s", 32)}, "NUDGE_JWT_ISSUER"},
		{"short HS secret", map[string]string{"NUDGE_JWT_KEYS": "k1:HS256:short", "NUDGE_JWT_ISSUER": "shop"}, "NUDGE_JWT_KEYS"},
		{"unknown alg", map[string]string{"NUDGE_JWT_KEYS": "k1:none:x", "NUDGE_JWT_ISSUER": "shop"}, "NUDGE_JWT_KEYS"},
		{"missing PEM", map[string]string{"NUDGE_JWT_KEYS": "k1:RS256:file:/nonexistent.pem", "NUDGE_JWT_ISSUER": "shop"}, "NUDGE_JWT_KEYS"},
		{"duplicate kid", map[string]string{"NUDGE_JWT_KEYS": "k1:HS256:" + strings.Repeat("s", 32) + ",k1:HS256:base64:" + strings.Repeat("QUJD", 12), "NUDGE_JWT_ISSUER": "shop"}, "NUDGE_JWT_KEYS"},
		{"widget topics", map[string]string{"NUDGE_WIDGET_TOPICS": "news"}, "NUDGE_WIDGET_TOPICS"},
		{"rate", map[string]string{"NUDGE_WIDGET_RATE": "0"}, "NUDGE_WIDGET_RATE"},
	}
	for _, c := range cases {
		e := testEnv(c.vars)
		cfg := consent.LoadConfig(e)
		err := e.Err()
		switch {
		case c.bad == "" && err != nil:
			t.Errorf("%s: %v", c.name, err)
		case c.bad != "" && (err == nil || !strings.Contains(err.Error(), c.bad+":")):
			t.Errorf("%s: error %v does not name %s", c.name, err, c.bad)
		}
		if c.bad == "" && c.name == "full" && (cfg.TelegramBot != "GrowFoodBot" || cfg.WhatsAppNumber != "79001234567") {
			t.Errorf("prefixes not stripped: %+v", cfg)
		}
		if err != nil && strings.Contains(err.Error(), strings.Repeat("s", 32)) {
			t.Errorf("%s: error leaks the secret: %v", c.name, err)
		}
	}
}

func TestIsOptOut(t *testing.T) {
	t.Parallel()
	cases := []struct {
		text string
		want bool
	}{
		{"STOP", true},
		{"stop", true},
		{"Stop", true},
		{"  stop \n", true},
		{"/stop", true},
		{"STOP.", true},
		{"стоп", true},
		{"СТОП", true},
		{"Стоп!", true},
		{"«Стоп»", true},
		{"стоп 🙏", true},
		{"отписаться", true},
		{"Отписаться!!!", true},
		{"unsubscribe", true},
		{"UNSUBSCRIBE", true},
		{"не стоп", false},
		{"stop it", false},
		{"stopped", false},
		{"отписаться от рассылки", false},
		{"stop\u200b", true},
		{"", false},
		{"   ", false},
		{"да", false},
		{"st op", false},
		{strings.Repeat(" ", 100) + "stop", false},
	}
	for _, c := range cases {
		if got := consent.IsOptOut(c.text); got != c.want {
			t.Errorf("IsOptOut(%q) = %v, want %v", c.text, got, c.want)
		}
	}
	if !consent.IsOptOutEvent(channels.Event{Type: channels.EventButton, Payload: consent.UnsubscribePayload}) {
		t.Error("unsubscribe button")
	}
	if consent.IsOptOutEvent(channels.Event{Type: channels.EventButton, Payload: "yes"}) {
		t.Error("yes button")
	}
	if !consent.IsOptOutEvent(channels.Event{Type: channels.EventOptOut}) {
		t.Error("provider opt-out")
	}
	if consent.IsOptOutEvent(channels.Event{Type: channels.EventDelivered, Text: "stop"}) {
		t.Error("a status is not an opt-out")
	}
}
