package vk_test

import (
	"context"
	"fmt"
	"net/http/httptest"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/vk"
	"github.com/nudge-engine/nudge/channels/vk/vkfake"
)

// A community wired to the fake: confirmation handshake, a vk.me ?ref= start,
// and a send retried with the same idempotency key.
func Example() {
	fake := vkfake.New()
	defer fake.Close()
	cfg := vk.Config{Bot: channels.Bot{Token: vkfake.Token, APIURL: fake.APIURL()}, GroupID: vkfake.GroupID, Secret: fake.Secret, Confirmation: fake.Confirmation}
	client := vk.New(cfg, nil)
	sink := channels.SinkFunc(func(_ context.Context, evs []channels.Event) (channels.Ack, error) {
		fmt.Printf("%s from=%s code=%q\n", evs[0].Type, evs[0].From, evs[0].Code)
		return channels.Ack{}, nil
	})
	hook := httptest.NewServer(vk.NewWebhook(cfg, sink, nil))
	defer hook.Close()
	fake.SetCallback(hook.URL)
	ctx := context.Background()

	_, answer, _ := fake.Post(ctx, fake.ConfirmationRequest())
	fmt.Println("confirmation answered:", answer == fake.Confirmation)
	_, answer, _ = fake.Post(ctx, fake.MessageNew(493756402, "Начать", `{"command":"start"}`, "c_7Hq2xLmP"))
	fmt.Println("answer:", answer)

	m := channels.Message{IdempotencyKey: "run1:welcome:0", To: "493756402", Text: "Спасибо за подписку!"}
	r1, _ := client.Send(ctx, m)
	r2, _ := client.Send(ctx, m) // a retry: VK dedupes random_id
	fmt.Println(r1.ProviderID == r2.ProviderID, len(fake.SentTo(493756402)))
	// Output:
	// confirmation answered: true
	// start from=493756402 code="c_7Hq2xLmP"
	// answer: ok
	// true 1
}
