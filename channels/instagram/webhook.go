package instagram

import (
	"log/slog"
	"net/http"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
)

// NewWebhook returns the handler mounted at /webhooks/instagram/<account>
// (see meta.Webhook: handshake, signature before parsing, 200 after storing).
func NewWebhook(cfg Config, sink channels.Sink, log *slog.Logger) http.Handler {
	return parser.Handler(cfg.Account, cfg.AppSecret, cfg.VerifyToken, cfg.Routes, sink, log)
}

var parser = meta.Messaging{Object: "instagram", Kind: channels.Instagram, OpenerIsStart: true}

// Parse turns an Instagram webhook body into events (meta.Messaging.Parse):
// text and files, story replies (the text with a Story attachment) and
// story mentions (a Story attachment), quick replies and postbacks, ig.me
// ?ref= referrals as EventStart (in the referral of the icebreaker postback
// that opens a new thread — that postback yields the start alone — or a
// messaging_referral event on an existing one), seen events as EventRead
// of the seen mid. A body of another object is a *meta.ErrObject.
func Parse(body []byte, account string) ([]channels.Event, error) { return parser.Parse(body, account) }
