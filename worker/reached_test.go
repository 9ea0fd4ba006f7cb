package worker

import (
	"testing"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

func TestReachedWithoutDeliveryReceipts(t *testing.T) {
	delivered := campaigns.FallbackRung{Channel: "sms", IfNot: "delivered"}
	read := campaigns.FallbackRung{Channel: "email", IfNot: "read"}
	for _, tc := range []struct {
		status string
		ch     channels.Kind
		rung   campaigns.FallbackRung
		want   bool
	}{
		{"sent", channels.Telegram, delivered, true}, // no receipts: accepted = delivered
		{"sent", channels.VK, delivered, true},
		{"sent", channels.Instagram, delivered, true}, // Instagram sends "seen" only
		{"sent", channels.Instagram, read, false},
		{"sent", channels.Viber, delivered, false}, // Viber reports delivery: wait for it
		{"sent", channels.SMS, delivered, false},
		{"sent", channels.Telegram, read, false}, // nothing is ever "read" on Telegram
		{"delivered", channels.SMS, delivered, true},
		{"delivered", channels.SMS, read, false},
		{"read", channels.Viber, read, true},
		{"failed", channels.Telegram, delivered, false},
	} {
		if got := reached(tc.status, tc.ch, tc.rung); got != tc.want {
			t.Errorf("reached(%s, %s, if_not %s) = %v, want %v", tc.status, tc.ch, tc.rung.IfNot, got, tc.want)
		}
	}
}
