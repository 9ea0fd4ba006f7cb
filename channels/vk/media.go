package vk

import (
	"context"

	"github.com/nudge-engine/nudge/channels"
)

// Fetch downloads a photo, document or voice message a user sent from the
// URL in the callback (signed by VK, so no token is sent). A file over max,
// by the document's stated size or by the bytes that arrive, is a
// *channels.TooLargeError.
func (c *Client) Fetch(ctx context.Context, a channels.Attachment, max int64) (channels.File, error) {
	return channels.FetchURL(ctx, c.api.HC, a, max, "vk attachment download")
}
