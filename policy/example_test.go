package policy_test

import (
	"fmt"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/policy"
)

// A marketing message at 23:30 in Moscow for a subscriber who blocked the
// Telegram bot: SMS is chosen, and the send waits for the end of quiet hours.
func ExampleDecide() {
	moscow, _ := time.LoadLocation("Europe/Moscow")
	in := policy.Input{
		Topic: campaigns.TopicMarketing,
		Settings: campaigns.Settings{
			QuietHours:   &campaigns.QuietHours{Start: "22:00", End: "09:00"},
			FrequencyCap: &campaigns.FrequencyCap{Max: 2, Per: campaigns.Duration(7 * 24 * time.Hour)},
		},
		Now:      time.Date(2026, 3, 6, 20, 30, 0, 0, time.UTC),
		Location: moscow,
		Consent:  map[channels.Kind]bool{channels.Telegram: true, channels.SMS: true},
		Identities: map[channels.Kind]policy.Identity{
			channels.Telegram: {Address: "100500", Blocked: true},
			channels.SMS:      {Address: "+79990001122"},
		},
		SentInCapWindow: 1,
	}
	d := policy.Decide(in, []channels.Kind{channels.Telegram, channels.SMS})
	fmt.Println(d)
	// Output: deferred on sms until 2026-03-07T06:00:00Z: quiet hours (passed over: telegram=blocked)
}
