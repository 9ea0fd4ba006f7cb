package messenger

import (
	"context"

	"github.com/nudge-engine/nudge/channels"
)

// Fetch downloads an attachment a person sent from its CDN URL (signed by
// Meta, so no token is sent). A file over max is a *channels.TooLargeError.
func (c *Client) Fetch(ctx context.Context, a channels.Attachment, max int64) (channels.File, error) {
	return channels.FetchURL(ctx, c.msgs.Graph.HC, a, max, "messenger attachment download")
}
