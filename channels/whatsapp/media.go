package whatsapp

import (
	"cmp"
	"context"
	"net/url"

	"github.com/nudge-engine/nudge/channels"
)

// mediaNode is the Graph answer to GET /{media-id}.
type mediaNode struct {
	URL      string `json:"url"`
	MIMEType string `json:"mime_type"`
	FileSize int64  `json:"file_size"`
	ID       string `json:"id"`
}

// Fetch downloads an attachment a customer sent: GET /{media-id} for its
// short-lived URL and size, then GET that URL with the same bearer token.
// A file over max (by the size Graph reports, or by the bytes that arrive)
// is a *channels.TooLargeError.
func (c *Client) Fetch(ctx context.Context, a channels.Attachment, max int64) (channels.File, error) {
	if err := a.CheckFetch("whatsapp media", "media id", a.ProviderFileID, max); err != nil {
		return channels.File{}, err
	}
	var n mediaNode
	if err := c.graph.Get(ctx, "/"+url.PathEscape(a.ProviderFileID), &n); err != nil {
		return channels.File{}, classifySend(err)
	}
	if n.FileSize > max {
		return channels.File{}, &channels.TooLargeError{Size: n.FileSize, Max: max}
	}
	if n.URL == "" {
		return channels.File{}, &channels.Error{Kind: channels.Invalid, Code: "no_media_url", Message: "media node carries no url"}
	}
	f, err := channels.Download(ctx, c.graph.HC, n.URL, map[string]string{"Authorization": "Bearer " + c.cfg.Token}, max, "whatsapp media download")
	if err != nil {
		return f, err
	}
	f.MIME = cmp.Or(f.MIME, n.MIMEType)
	return f.Described(a), nil
}
