package templates

import (
	"fmt"
	"html"
	"regexp"
	"strings"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

// inChatPayments are the channels whose adapter sends a pay button as an
// invoice paid in the chat; every other channel gets the button's URL.
func inChatPayments(ch channels.Kind) bool { return ch == channels.Telegram || ch == channels.Sandbox }

var tagRe = regexp.MustCompile(`<[^>]*>`)

// payButton makes button i of out a payment: an Invoice on channels with
// in-chat payments (its Payload is set later by package payments; the URL
// stays for a bot without a payment provider), the shop's payment link
// (the button's URL) elsewhere.
func payButton(out *Rendered, i int, p *campaigns.Pay, ch channels.Kind) error {
	b := &out.Buttons[i]
	if !inChatPayments(ch) {
		if b.URL == "" {
			return fmt.Errorf("%w: pay button %q has no url for %s, which has no in-chat payments", ErrExec, b.Text, ch)
		}
		return nil
	}
	amount, err := p.MinorUnits()
	if err != nil {
		return fmt.Errorf("%w: pay button %q: %w", ErrExec, b.Text, err)
	}
	desc := p.Description
	if desc == "" { // the message text, as plain text
		desc = out.Text
		if out.Format == channels.HTML {
			desc = html.UnescapeString(tagRe.ReplaceAllString(desc, ""))
		}
		if r := []rune(strings.TrimSpace(desc)); len(r) > campaigns.MaxPayDescription {
			desc = string(r[:campaigns.MaxPayDescription-1]) + "…"
		}
	}
	b.Pay = &channels.Invoice{Title: p.Title, Description: strings.TrimSpace(desc), Currency: p.Currency, Amount: amount, Product: p.Product,
		ValidFor: p.Validity().D()}
	return nil
}
