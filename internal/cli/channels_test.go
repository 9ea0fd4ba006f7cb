package cli

import (
	"bytes"
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/channels/viber"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
	"github.com/nudge-engine/nudge/internal/config"
)

func runWith(t *testing.T, vars map[string]string, args ...string) (string, error) {
	t.Helper()
	var out bytes.Buffer
	a := &App{Stdout: &out, Stderr: &out, Env: &config.Env{Lookup: func(k string) (string, bool) { v, ok := vars[k]; return v, ok }}}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&out)
	err := root.ExecuteContext(context.Background())
	return out.String(), err
}

func TestChannelsSetupTelegram(t *testing.T) {
	fake := telegramfake.New()
	defer fake.Close()
	vars := map[string]string{
		"NUDGE_BASE_URL":                "https://nudge.example.com",
		"NUDGE_TELEGRAM_TOKEN":          telegramfake.Token,
		"NUDGE_TELEGRAM_WEBHOOK_SECRET": "hook-Secret_1",
		"NUDGE_TELEGRAM_API_URL":        fake.URL,
	}
	out, err := runWith(t, vars, "channels", "setup", "telegram", "--drop-pending")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	u, secret, allowed := fake.Webhook()
	if u != "https://nudge.example.com/webhooks/telegram/main" || secret != "hook-Secret_1" || strings.Join(allowed, ",") != "message,callback_query,my_chat_member,pre_checkout_query" {
		t.Errorf("registered %q %q %v", u, secret, allowed)
	}
	if !strings.Contains(out, "telegram webhook set: https://nudge.example.com/webhooks/telegram/main") {
		t.Errorf("output %q", out)
	}
	var ex *ExitError
	vars["NUDGE_TELEGRAM_WEBHOOK_SECRET"] = ""
	if _, err = runWith(t, vars, "channels", "setup", "telegram"); !errors.As(err, &ex) || ex.Code != 2 || !strings.Contains(ex.Msg, "NUDGE_TELEGRAM_WEBHOOK_SECRET") {
		t.Errorf("missing secret: %v", err)
	}
	// Setup reads what serve reads: a named account's variables are not it.
	named := map[string]string{"NUDGE_TELEGRAM_SHOP_TOKEN": telegramfake.Token, "NUDGE_TELEGRAM_SHOP_WEBHOOK_SECRET": "s", "NUDGE_TELEGRAM_SHOP_API_URL": fake.URL}
	if _, err := runWith(t, named, "channels", "setup", "telegram"); !errors.As(err, &ex) || !strings.Contains(ex.Msg, "NUDGE_TELEGRAM_TOKEN is not set") {
		t.Errorf("no token: %v", err)
	}
	// --account names a bot of NUDGE_TELEGRAM_ACCOUNTS: unlisted, it is
	// refused; listed, its variables and its own webhook are registered.
	if _, err := runWith(t, named, "channels", "setup", "telegram", "--account", "shop"); !errors.As(err, &ex) || ex.Code != 2 ||
		!strings.Contains(ex.Msg, "NUDGE_TELEGRAM_ACCOUNTS") {
		t.Errorf("--account shop unlisted: %v", err)
	}
	named["NUDGE_TELEGRAM_ACCOUNTS"], named["NUDGE_BASE_URL"] = "shop", "https://nudge.example.com"
	if out, err := runWith(t, named, "channels", "setup", "telegram", "--account", "shop"); err != nil {
		t.Fatalf("--account shop: %v\n%s", err, out)
	}
	if u, secret, _ := fake.Webhook(); u != "https://nudge.example.com/webhooks/telegram/shop" || secret != "s" {
		t.Errorf("shop registered %q %q", u, secret)
	}
}

func TestChannelsSetupViber(t *testing.T) {
	fake := viberfake.New()
	defer fake.Close()
	sink := channels.SinkFunc(func(context.Context, []channels.Event) (channels.Ack, error) { return channels.Ack{}, nil })
	cfg := viber.Config{Bot: channels.Bot{Token: viberfake.Token}}
	hook := httptest.NewServer(viber.NewWebhook(cfg, sink, nil))
	defer hook.Close()
	vars := map[string]string{"NUDGE_VIBER_TOKEN": viberfake.Token, "NUDGE_VIBER_API_URL": fake.URL}
	out, err := runWith(t, vars, "channels", "setup", "viber", "--url", hook.URL)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if u, ev := fake.Webhook(); u != hook.URL || len(ev) != len(viber.EventTypes) {
		t.Errorf("registered %q %v", u, ev)
	}
	// A webhook that refuses the probe (wrong token) is not registered.
	bad := httptest.NewServer(viber.NewWebhook(viber.Config{Bot: channels.Bot{Token: "other"}}, sink, nil))
	defer bad.Close()
	if out, err := runWith(t, vars, "channels", "setup", "viber", "--url", bad.URL); err == nil || !strings.Contains(err.Error(), "set_webhook") {
		t.Errorf("refused probe: %v %s", err, out)
	}
	// Without a token nothing is called: exit 2 naming the variable.
	var ex *ExitError
	if _, err := runWith(t, map[string]string{"NUDGE_VIBER_API_URL": fake.URL}, "channels", "setup", "viber", "--url", hook.URL); !errors.As(err, &ex) || ex.Code != 2 ||
		!strings.Contains(ex.Msg, "NUDGE_VIBER_TOKEN is not set") {
		t.Errorf("no token: %v", err)
	}
}
