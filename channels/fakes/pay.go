package fakes

import (
	"context"
	"fmt"
	"strconv"

	"github.com/nudge-engine/nudge/channels"
)

// pay plays a customer paying a Telegram invoice (a.MessageID, default
// the last one sent to a.User): the pre-checkout, then the payment. The
// status is the webhook's for the payment; a refusal is an error naming
// the bot's reason.
func (s *Set) pay(ctx context.Context, ch channels.Kind, a Action) (int, error) {
	if ch != channels.Telegram {
		return 0, bad("%s: only Telegram takes payments in the chat", ch)
	}
	chat, err := strconv.ParseInt(a.User, 10, 64)
	if err != nil {
		return 0, bad("telegram user %q: not a numeric chat id", a.User)
	}
	id, _ := strconv.ParseInt(a.MessageID, 10, 64)
	for _, inv := range s.Telegram.Invoices() {
		if inv.ChatID == chat && a.MessageID == "" {
			id = inv.MessageID
		}
	}
	if id == 0 {
		return 0, bad("telegram: no invoice was sent to %s", a.User)
	}
	rec, err := s.Telegram.Pay(ctx, chat, id)
	if err != nil {
		return 0, err
	}
	if !rec.Paid {
		return 0, fmt.Errorf("payment refused: %s", rec.Reason)
	}
	return rec.Status, nil
}
