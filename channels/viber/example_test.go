package viber_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/viber"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
)

// A bot wired to the fake: the deep-link open gets a welcome in the webhook
// answer, a sent message gets delivered and seen receipts.
func Example() {
	fake := viberfake.New()
	defer fake.Close()
	cfg := viber.Config{Bot: channels.Bot{Token: viberfake.Token, APIURL: fake.URL}, SenderName: "GrowFood"}
	client := viber.New(cfg, nil)
	sink := channels.SinkFunc(func(_ context.Context, evs []channels.Event) (channels.Ack, error) {
		e := evs[0]
		fmt.Printf("%s code=%q message=%s\n", e.Type, e.Code, e.ProviderMessageID)
		if e.Type == channels.EventStart {
			return channels.Ack{Welcome: "Привет! Нажмите «Подписаться»."}, nil
		}
		return channels.Ack{}, nil
	})
	hook := httptest.NewServer(viber.NewWebhook(cfg, sink, nil))
	defer hook.Close()
	ctx := context.Background()
	_ = client.SetWebhook(ctx, hook.URL)

	_, welcome, _ := fake.Post(ctx, fake.ConversationStarted(viberfake.UserID(1), "c_7Hq2xLmP"))
	fmt.Printf("welcome: %s", welcome)

	var receipts []func()
	fake.After = func(_ time.Duration, f func()) { receipts = append(receipts, f) }
	fake.SetPlan(viberfake.Plan{DeliveredAfter: time.Second, SeenAfter: 10 * time.Minute})
	res, _ := client.Send(ctx, channels.Message{To: viberfake.UserID(1), Text: "Меню недели"})
	fmt.Println("sent", res.ProviderID)
	for _, r := range receipts {
		r()
	}
	// Output:
	// start code="c_7Hq2xLmP" message=
	// welcome: {"min_api_version":1,"sender":{"name":"GrowFood"},"type":"text","text":"Привет! Нажмите «Подписаться»."}
	// sent 5741311803571721088
	// delivered code="" message=5741311803571721088
	// read code="" message=5741311803571721088
}
