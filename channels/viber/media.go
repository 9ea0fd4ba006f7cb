package viber

import (
	"context"

	"github.com/nudge-engine/nudge/channels"
)

// Fetch downloads a picture, video, file or sticker a user sent from its
// media URL (public, no token). A file over max, by the size in the
// callback or by the bytes that arrive, is a *channels.TooLargeError.
func (c *Client) Fetch(ctx context.Context, a channels.Attachment, max int64) (channels.File, error) {
	return channels.FetchURL(ctx, c.api.HC, a, max, "viber media download")
}
