package channels_test

import (
	"context"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/channels/vk"
	"github.com/nudge-engine/nudge/channels/vk/vkfake"
)

func TestLoadAccounts(t *testing.T) {
	e := channeltest.Env(map[string]string{"NUDGE_TELEGRAM_ACCOUNTS": " shop2, brand-b ,"})
	if got := strings.Join(channels.LoadAccounts(e, "TELEGRAM"), " "); got != "main shop2 brand-b" || e.Err() != nil {
		t.Errorf("accounts %q, %v", got, e.Err())
	}
	if got := channels.LoadAccounts(e, "VIBER"); len(got) != 1 || got[0] != channels.DefaultAccount {
		t.Errorf("unlisted channel: %q", got)
	}
	for list, want := range map[string]string{
		"shop2,shop2":  `"shop2" is listed twice`,
		"main":         `"main" is listed twice`,
		"default":      `"default" is listed twice`,
		"Brand_B":      `account "Brand_B"`,
		"-x":           `account "-x"`,
		"a/b":          `account "a/b"`,
		"shop2,Ünicod": `account "Ünicod"`,
	} {
		e := channeltest.Env(map[string]string{"NUDGE_VK_ACCOUNTS": list})
		channels.LoadAccounts(e, "VK")
		if e.Err() == nil || !strings.Contains(e.Err().Error(), "NUDGE_VK_ACCOUNTS") || !strings.Contains(e.Err().Error(), want) {
			t.Errorf("%q: %v, want NUDGE_VK_ACCOUNTS and %s", list, e.Err(), want)
		}
	}
	// The account's variables: main is unprefixed, '-' becomes '_'.
	if got := channels.EnvVar("TELEGRAM", channels.DefaultAccount, "TOKEN"); got != "NUDGE_TELEGRAM_TOKEN" {
		t.Errorf("main: %s", got)
	}
	if got := channels.EnvVar("TELEGRAM", "brand-b", "TOKEN"); got != "NUDGE_TELEGRAM_BRAND_B_TOKEN" {
		t.Errorf("brand-b: %s", got)
	}
	if got := channels.WebhookPath(channels.Telegram, "brand-b"); got != "/webhooks/telegram/brand-b" {
		t.Errorf("path %s", got)
	}
	if got := channels.WebhookPath(channels.Telegram, ""); got != "/webhooks/telegram/main" {
		t.Errorf("path %s", got)
	}
}

// Each account's messages go through its own bot: two real Telegram
// clients against two fakes with different tokens.
func TestRegistryDispatchesByAccount(t *testing.T) {
	a, b := telegramfake.New(), telegramfake.New()
	defer a.Close()
	defer b.Close()
	b.Token = "7098765432:BBFh3kQ9xYvZ2mN8pL4rT6sW1uE5oI7cB0d"
	reg := channels.NewRegistry()
	reg.AddAccount("brand-b", telegram.New(telegram.Config{Bot: channels.Bot{Account: "brand-b", Token: b.Token, APIURL: b.URL}}, nil))
	reg.Add(telegram.New(telegram.Config{Bot: channels.Bot{Token: a.Token, APIURL: a.URL}}, nil))
	if got := strings.Join(reg.Accounts(channels.Telegram), " "); got != "main brand-b" {
		t.Errorf("accounts %q", got)
	}
	d, ok := reg.Dispatcher(channels.Telegram)
	if !ok || d.Kind() != channels.Telegram {
		t.Fatalf("no dispatcher")
	}
	if _, ok := reg.Dispatcher(channels.Viber); ok {
		t.Errorf("viber has no account")
	}
	ctx := context.Background()
	channeltest.Send(t, d, channels.Message{Account: "brand-b", To: "42", Text: "to b"})
	channeltest.Send(t, d, channels.Message{To: "42", Text: "to main"})
	if got := b.SentTo(42); len(got) != 1 || got[0].Text != "to b" {
		t.Errorf("bot b got %+v", got)
	}
	if got := a.SentTo(42); len(got) != 1 || got[0].Text != "to main" {
		t.Errorf("bot main got %+v", got)
	}
	_, err := d.Send(ctx, channels.Message{Account: "shop9", To: "42", Text: "x"})
	if channels.KindOf(err) != channels.Invalid || !strings.Contains(err.Error(), `"shop9"`) {
		t.Errorf("unknown account: %v", err)
	}
	if len(a.Sent())+len(b.Sent()) != 2 {
		t.Errorf("unknown account sent something")
	}
	// The worker gets one sender per channel: the dispatcher where a
	// channel has several accounts, the account's own sender (with what
	// else it implements) where it has only main.
	reg.Add(telegram.New(telegram.Config{Bot: channels.Bot{Token: a.Token, APIURL: a.URL}}, nil))
	viberless := channels.NewRegistry(telegram.New(telegram.Config{Bot: channels.Bot{Token: a.Token, APIURL: a.URL}}, nil))
	if ss := viberless.Senders(); len(ss) != 1 {
		t.Errorf("senders %v", ss)
	} else if _, isClient := ss[0].(*telegram.Client); !isClient {
		t.Errorf("a lone main account is wrapped: %T", ss[0])
	}
	if ss := reg.Senders(); len(ss) != 1 {
		t.Errorf("senders %v", ss)
	} else if _, isDispatcher := ss[0].(*channels.Dispatcher); !isDispatcher {
		t.Errorf("two accounts without a dispatcher: %T", ss[0])
	}
}

// A configured but unlisted account fails naming its variable; listed
// accounts, main and other settings pass.
func TestCheckUnlisted(t *testing.T) {
	vars := map[string]string{"NUDGE_TELEGRAM_TOKEN": "t", "NUDGE_TELEGRAM_WEBHOOK_SECRET": "s", "NUDGE_TELEGRAM_ACCOUNTS": "shop2",
		"NUDGE_TELEGRAM_SHOP2_TOKEN": "t2", "NUDGE_TELEGRAM_BRAND_C_TOKEN": "t3", "NUDGE_TELEGRAM_BRAND_C_TOKEN_FILE": "/x"}
	e := channeltest.Env(vars)
	channels.CheckUnlisted(e, "TELEGRAM", "TOKEN", channels.LoadAccounts(e, "TELEGRAM"))
	err := e.Err()
	if err == nil || strings.Count(err.Error(), "\n") != 0 ||
		!strings.Contains(err.Error(), `NUDGE_TELEGRAM_BRAND_C_TOKEN: account "brand-c" is not listed in NUDGE_TELEGRAM_ACCOUNTS`) {
		t.Errorf("got %v", err)
	}
}

// TestCheckUnlistedSkipsSettingsEndingInTheKey: the payment provider token
// of the main bot and of a listed bot is a setting, not an account.
func TestCheckUnlistedSkipsSettingsEndingInTheKey(t *testing.T) {
	vars := map[string]string{
		"NUDGE_TELEGRAM_TOKEN": "1:a", "NUDGE_TELEGRAM_PAYMENT_PROVIDER_TOKEN": "p",
		"NUDGE_TELEGRAM_ACCOUNTS": "shop2", "NUDGE_TELEGRAM_SHOP2_TOKEN": "2:b", "NUDGE_TELEGRAM_SHOP2_PAYMENT_PROVIDER_TOKEN": "q",
	}
	e := channeltest.Env(vars)
	channels.CheckUnlisted(e, "TELEGRAM", "TOKEN", channels.LoadAccounts(e, "TELEGRAM"), "PAYMENT_PROVIDER_TOKEN")
	if err := e.Err(); err != nil {
		t.Fatal(err)
	}
	e = channeltest.Env(vars)
	channels.CheckUnlisted(e, "TELEGRAM", "TOKEN", channels.LoadAccounts(e, "TELEGRAM"))
	if err := e.Err(); err == nil || !strings.Contains(err.Error(), "payment-provider") {
		t.Fatalf("without the setting named, the token reads as an account: %v", err)
	}
}

// Several VK communities are batched and paced by request as one is: the
// worker gets a RequestBatchDispatcher, and a batch of mixed accounts goes to
// each community's execute.
func TestVKAccountsBatchByRequest(t *testing.T) {
	a, b := vkfake.New(), vkfake.New()
	defer a.Close()
	defer b.Close()
	cfg := func(f *vkfake.Server, account string) vk.Config {
		return vk.Config{Bot: channels.Bot{Account: account, Token: vkfake.Token, APIURL: f.APIURL()}, GroupID: vkfake.GroupID}
	}
	reg := channels.NewRegistry(vk.New(cfg(a, ""), nil))
	reg.AddAccount("brand-b", vk.New(cfg(b, "brand-b"), nil))
	ss := reg.Senders()
	d, ok := ss[0].(*channels.RequestBatchDispatcher)
	if len(ss) != 1 || !ok || d.CallsPerRequest() != vk.MaxExecuteCalls {
		t.Fatalf("senders %T", ss[0])
	}
	res, errs := d.SendBatch(context.Background(), []channels.Message{
		{IdempotencyKey: "1", To: "1", Text: "main 1"}, {IdempotencyKey: "2", Account: "brand-b", To: "2", Text: "b 2"},
		{IdempotencyKey: "3", Account: "main", To: "3", Text: "main 3"}, {IdempotencyKey: "4", Account: "shop9", To: "4", Text: "x"},
	})
	for i, err := range errs[:3] {
		if err != nil || res[i].ProviderID == "" {
			t.Errorf("message %d: %v %+v", i, err, res[i])
		}
	}
	if channels.KindOf(errs[3]) != channels.Invalid || !strings.Contains(errs[3].Error(), `"shop9"`) {
		t.Errorf("unknown account: %v", errs[3])
	}
	if len(a.SentTo(1)) != 1 || len(a.SentTo(3)) != 1 || len(b.SentTo(2)) != 1 || a.Accepted()+b.Accepted() != 3 {
		t.Errorf("main got %+v, brand-b %+v", a.Sent(), b.Sent())
	}
}
