package fakes_test

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/channels/internal/channeltest"
	"github.com/nudge-engine/nudge/channels/telegram"
)

// Every channel takes the plans its provider can report and refuses the
// others; Telegram and VK users must be numeric ids.
func TestPlansPerChannel(t *testing.T) {
	f, err := fakes.Start(fakes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	all := []string{fakes.PlanDelivered, fakes.PlanNeverDelivered, fakes.PlanUndelivered, fakes.PlanBlocked}
	takes := map[channels.Kind][]string{
		channels.Telegram:  {fakes.PlanDelivered, fakes.PlanNeverDelivered, fakes.PlanBlocked},
		channels.Viber:     all,
		channels.SMS:       all,
		channels.WhatsApp:  all,
		channels.Messenger: {fakes.PlanDelivered, fakes.PlanNeverDelivered, fakes.PlanBlocked},
		channels.Instagram: {fakes.PlanDelivered, fakes.PlanNeverDelivered, fakes.PlanBlocked},
		channels.VK:        {fakes.PlanDelivered, fakes.PlanNeverDelivered, fakes.PlanBlocked},
		channels.Email:     {fakes.PlanUndelivered, fakes.PlanBlocked},
	}
	user := map[channels.Kind]string{channels.Telegram: "42", channels.VK: "42", channels.SMS: "+15005550001",
		channels.WhatsApp: "15005550001", channels.Email: "a@example.com"}
	ctx := context.Background()
	for ch, ok := range takes {
		for _, p := range append(all, "sometimes") {
			u := user[ch]
			if u == "" {
				u = "u1"
			}
			_, err := f.Do(ctx, ch, "plan", fakes.Action{User: u, Plan: p})
			var bad *fakes.BadAction
			switch want := slices.Contains(ok, p); {
			case want && err != nil:
				t.Errorf("%s %s: %v", ch, p, err)
			case !want && !errors.As(err, &bad):
				t.Errorf("%s %s: %v, want a BadAction", ch, p, err)
			}
		}
	}
	for _, ch := range []channels.Kind{channels.Telegram, channels.VK, "carrier-pigeon"} {
		var bad *fakes.BadAction
		if _, err := f.Do(ctx, ch, "plan", fakes.Action{User: "not-a-number", Plan: fakes.PlanDelivered}); !errors.As(err, &bad) {
			t.Errorf("%s, user not a number: %v, want a BadAction", ch, err)
		}
	}
}

// A Telegram plan reaches the fake the real adapter sends to: blocked
// refuses the chat's sends, delivered lets them through again.
func TestTelegramPlanReachesTheAdapter(t *testing.T) {
	f, err := fakes.Start(fakes.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	env := f.Env()
	c := telegram.New(telegram.LoadConfig(channeltest.Env(env), ""), nil)
	ctx := context.Background()
	for i, tc := range []struct {
		plan string
		want channels.ErrorKind
	}{
		{fakes.PlanBlocked, channels.Blocked},
		{fakes.PlanDelivered, ""},
		{fakes.PlanNeverDelivered, channels.Blocked},
	} {
		if _, err := f.Do(ctx, channels.Telegram, "plan", fakes.Action{User: "42", Plan: tc.plan}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Send(ctx, channels.Message{IdempotencyKey: string(rune('a' + i)), To: "42", Text: "Меню недели"})
		if got := channels.KindOf(err); (err == nil) != (tc.want == "") || (err != nil && got != tc.want) {
			t.Errorf("after %s: %v (%v), want %q", tc.plan, err, got, tc.want)
		}
	}
}
