package messenger

import (
	"log/slog"
	"net/http"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
)

// NewWebhook returns the handler mounted at /webhooks/messenger/<account> (see
// meta.Webhook: handshake, signature before parsing, 200 after storing).
func NewWebhook(cfg Config, sink channels.Sink, log *slog.Logger) http.Handler {
	return parser.Handler(cfg.Account, cfg.AppSecret, cfg.VerifyToken, cfg.Routes, sink, log)
}

var parser = meta.Messaging{Object: "page", Kind: channels.Messenger, OpenerIsStart: true}

// Parse turns a page webhook body into events (meta.Messaging.Parse): text
// and files, quick replies and postbacks, m.me ?ref= referrals as
// EventStart, delivery and read watermarks. A body of another object is a
// *meta.ErrObject.
func Parse(body []byte, account string) ([]channels.Event, error) { return parser.Parse(body, account) }
