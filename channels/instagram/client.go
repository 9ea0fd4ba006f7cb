package instagram

import (
	"context"
	"net/http"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/meta"
)

// MaxText is Instagram's text limit: the docs say both "1000 bytes or less"
// and "less than 1000 characters"; the byte limit is the stricter.
const MaxText = 1000

// Tags allowed with messaging_type MESSAGE_TAG: Instagram knows only
// HUMAN_AGENT (a person's reply up to 7 days after the customer wrote).
var Tags = map[string]bool{"HUMAN_AGENT": true}

// Rules are Instagram's Send API rules: RESPONSE inside the window, link
// buttons as text lines (no button template), a byte limit on text.
var Rules = meta.SendRules{Product: "Instagram", Tags: Tags, MessagingType: "RESPONSE", MaxText: MaxText, TextBytes: true}

// Client sends as one Instagram account.
type Client struct{ msgs *meta.Messages }

// New returns a client; hc nil means the adapters' client (channels.HTTPClient).
func New(cfg Config, hc *http.Client) *Client {
	path := "/me/messages"
	if cfg.AccountID != "" {
		path = "/" + cfg.AccountID + "/messages"
	}
	return &Client{msgs: meta.NewMessages(cfg.APIURL, cfg.Token, path, Rules, hc)}
}

// Kind is channels.Instagram.
func (c *Client) Kind() channels.Kind { return channels.Instagram }

// Send posts the message (meta.Messages.Send: an image with text is two
// requests, the image first). Refusals: 10/2534022 outside the window is
// WindowClosed, 551 Blocked, 613 and kin RateLimited (see meta.Classify).
func (c *Client) Send(ctx context.Context, m channels.Message) (channels.Result, error) {
	return c.msgs.Send(ctx, m)
}

var _ channels.Sender = (*Client)(nil)
