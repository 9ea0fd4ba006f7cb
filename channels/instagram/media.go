package instagram

import (
	"context"
	"fmt"

	"github.com/nudge-engine/nudge/channels"
)

// Fetch downloads an attachment a person sent from its CDN URL (signed by
// Meta, so no token is sent). A file over max is a *channels.TooLargeError.
// Stories are refused: only their link is kept.
func (c *Client) Fetch(ctx context.Context, a channels.Attachment, max int64) (channels.File, error) {
	if a.Kind == channels.Story {
		return channels.File{}, fmt.Errorf("story media is not kept (only its link: %s)", a.URL)
	}
	return channels.FetchURL(ctx, c.msgs.Graph.HC, a, max, "instagram attachment download")
}
