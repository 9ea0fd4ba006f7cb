package telegram_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/telegram"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
)

// A bot wired to the fake: register the webhook, receive /start CODE, send a
// question with buttons, receive the press.
func Example() {
	fake := telegramfake.New()
	defer fake.Close()
	cfg := telegram.Config{Bot: channels.Bot{Token: telegramfake.Token, APIURL: fake.URL}, WebhookSecret: "demo-secret"}
	client := telegram.New(cfg, nil)
	sink := channels.SinkFunc(func(_ context.Context, evs []channels.Event) (channels.Ack, error) {
		for _, e := range evs {
			fmt.Printf("%s from=%s code=%q payload=%q\n", e.Type, e.From, e.Code, e.Payload)
		}
		return channels.Ack{}, nil
	})
	hook := httptest.NewServer(telegram.NewWebhook(cfg, sink, nil))
	defer hook.Close()
	ctx := context.Background()
	_ = client.SetWebhook(ctx, telegram.WebhookOptions{URL: hook.URL, SecretToken: cfg.WebhookSecret, AllowedUpdates: telegram.AllowedUpdates})

	_, _ = fake.Post(ctx, fake.TextUpdate(4242, "/start c_7Hq2xLmP"))
	res, _ := client.Send(ctx, channels.Message{To: "4242", Text: "Понравилась еда?", Buttons: []channels.Button{{ID: "like_yes", Text: "Да"}, {ID: "like_no", Text: "Нет"}}})
	fmt.Println("sent", res.ProviderID)
	_, _ = fake.Post(ctx, fake.CallbackUpdate(4242, 1, "like_yes"))
	fmt.Println("answered callbacks:", len(fake.Answers()))
	// Output:
	// start from=4242 code="c_7Hq2xLmP" payload=""
	// sent 4242:1
	// button from=4242 code="" payload="like_yes"
	// answered callbacks: 1
}
