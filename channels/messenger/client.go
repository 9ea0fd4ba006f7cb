package messenger

import (
	"context"
	"net/http"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
)

// MaxText is Messenger's text limit in characters (long-cited; Meta no
// longer states it).
const MaxText = 2000

// Tags allowed with messaging_type MESSAGE_TAG.
var Tags = map[string]bool{
	"ACCOUNT_UPDATE": true, "CONFIRMED_EVENT_UPDATE": true, "POST_PURCHASE_UPDATE": true, "HUMAN_AGENT": true,
}

// Rules are Messenger's Send API rules: UPDATE inside the window, link
// buttons as a button template, reusable images.
var Rules = meta.SendRules{Product: "Messenger", Tags: Tags, MessagingType: "UPDATE", MaxText: MaxText,
	ButtonTemplate: true, ReusableImage: true, Media: mediaMessages}

// Client sends as one page.
type Client struct{ msgs *meta.Messages }

// New returns a client; hc nil means the adapters' client (channels.HTTPClient).
func New(cfg Config, hc *http.Client) *Client {
	return &Client{msgs: meta.NewMessages(cfg.APIURL, cfg.PageToken, "/me/messages", Rules, hc)}
}

// Kind is channels.Messenger.
func (c *Client) Kind() channels.Kind { return channels.Messenger }

// Send posts the message (meta.Messages.Send: an image with text is two
// requests, the image first).
func (c *Client) Send(ctx context.Context, m channels.Message) (channels.Result, error) {
	return c.msgs.Send(ctx, m)
}

var _ channels.Sender = (*Client)(nil)
