package viber

import (
	"context"
	"encoding/json"
	"net/http"

	"github.com/nudge-engine/nudge/channels"
)

// Albums go as a rich_media message: a carousel of one card per image
// (ButtonsGroupColumns 6 × ButtonsGroupRows 6, the card one image button
// opening the photo), with the text as alt_text for clients too old to show
// it. A document goes as a file message (media, size, file_name; Viber takes
// files up to 50 MB, and the size in bytes is required, so the adapter asks
// the document's server with a HEAD request, or counts the bytes of a GET
// when the answer has no Content-Length). The text and its keyboard follow
// as their own message, whose token is the result. Each is a part
// (channels.SendParts): a retry resumes at the one that failed. Rich media
// needs min_api_version 2.

// RichMedia is the rich_media object of a carousel.
type RichMedia struct {
	Type                string       `json:"Type"`
	ButtonsGroupColumns int          `json:"ButtonsGroupColumns"`
	ButtonsGroupRows    int          `json:"ButtonsGroupRows"`
	BgColor             string       `json:"BgColor,omitempty"`
	Buttons             []RichButton `json:"Buttons"`
}

// RichButton is one button of a rich_media card.
type RichButton struct {
	Columns    int    `json:"Columns"`
	Rows       int    `json:"Rows"`
	ActionType string `json:"ActionType"`
	ActionBody string `json:"ActionBody"`
	Image      string `json:"Image,omitempty"`
	Text       string `json:"Text,omitempty"`
}

// A card's grid (Viber allows up to 6 × 7); the number of cards is
// channels.MediaLimitsOf(channels.Viber).AlbumMax.
const (
	cardColumns  = 6
	cardRows     = 6
	richMediaAPI = 2
)

// BuildCarousel turns m's images into a rich_media send_message body.
func (c *Client) BuildCarousel(m channels.Message) (OutMessage, error) {
	lim := channels.MediaLimitsOf(channels.Viber)
	if n := len(m.Images); n < lim.AlbumMin || n > lim.AlbumMax {
		return OutMessage{}, invalid("album of %d images, a Viber carousel takes %d-%d", n, lim.AlbumMin, lim.AlbumMax)
	}
	if m.To == "" {
		return OutMessage{}, invalid("no receiver")
	}
	rm := &RichMedia{Type: "rich_media", ButtonsGroupColumns: cardColumns, ButtonsGroupRows: cardRows, BgColor: "#FFFFFF"}
	for _, u := range m.Images {
		rm.Buttons = append(rm.Buttons, RichButton{Columns: cardColumns, Rows: cardRows, ActionType: "open-url", ActionBody: u, Image: u})
	}
	alt := m.Text
	if alt == "" {
		alt = m.Images[0]
	}
	td, _ := json.Marshal(Tracking{Nudge: 1})
	return OutMessage{Receiver: m.To, MinAPIVersion: richMediaAPI, Sender: Sender{Name: c.cfg.SenderName, Avatar: c.cfg.SenderAvatar},
		TrackingData: string(td), Type: "rich_media", AltText: alt, RichMedia: rm}, nil
}

// sendRich sends a message with an album or a document, part by part:
// the carousel, the file, then the text with its keyboard.
func (c *Client) sendRich(ctx context.Context, m channels.Message) (channels.Result, error) {
	if m.Text == "" && len(m.Buttons) > 0 {
		return channels.Result{}, invalid("buttons need a text to go with an album or a document")
	}
	var parts []channels.Part
	if len(m.Images) > 0 {
		out, err := c.BuildCarousel(m)
		if err != nil {
			return channels.Result{}, err
		}
		parts = append(parts, c.part(out))
	}
	rest := m
	rest.Images, rest.Document, rest.SkipParts = nil, nil, 0
	if d := m.Document; d != nil {
		if m.To == "" {
			return channels.Result{}, invalid("no receiver")
		}
		last := rest.Text == "" && rest.ImageURL == ""
		parts = append(parts, func(ctx context.Context) (channels.Result, error) {
			size, err := c.documentSize(ctx, d.URL)
			if err != nil {
				return channels.Result{}, err
			}
			tr := Tracking{Nudge: 1}
			if last {
				tr.Correlation = m.Correlation
			}
			td, _ := json.Marshal(tr)
			out := OutMessage{Receiver: m.To, MinAPIVersion: 1, Sender: Sender{Name: c.cfg.SenderName, Avatar: c.cfg.SenderAvatar},
				TrackingData: string(td), Type: "file", Media: d.URL, Size: size, FileName: d.FileName()}
			return c.part(out)(ctx)
		})
	}
	if rest.Text != "" || rest.ImageURL != "" {
		out, err := c.Build(rest)
		if err != nil {
			return channels.Result{}, err
		}
		parts = append(parts, c.part(out))
	}
	return channels.SendParts(ctx, m, parts)
}

// part is the send_message call of out.
func (c *Client) part(out OutMessage) channels.Part {
	return func(ctx context.Context) (channels.Result, error) {
		var resp struct {
			MessageToken json.Number `json:"message_token"`
		}
		if err := c.Call(ctx, "send_message", out, &resp); err != nil {
			return channels.Result{}, err
		}
		return channels.Result{ProviderID: resp.MessageToken.String(), SentAt: c.api.Now()}, nil
	}
}

// documentSize is the size in bytes of the document at url, which a file
// message must state: the Content-Length of a HEAD answer, or the bytes of
// a GET (up to the 50 MB Viber takes) when the server gives none.
func (c *Client) documentSize(ctx context.Context, url string) (int64, error) {
	most := channels.MediaLimitsOf(channels.Viber).MaxDocument
	req, err := http.NewRequestWithContext(ctx, http.MethodHead, url, nil)
	if err != nil {
		return 0, invalid("document url %q: %v", url, err)
	}
	size := int64(-1)
	if resp, err := channels.HTTPClient(c.api.HC).Do(req); err == nil {
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			size = resp.ContentLength
		}
	}
	if size < 0 {
		f, err := channels.Download(ctx, c.api.HC, url, nil, most, "viber document size")
		if err != nil {
			if tl, ok := channels.IsTooLarge(err); ok {
				return 0, invalid("document is over the %s Viber takes (%s)", channels.SizeString(most), channels.SizeString(tl.Size))
			}
			return 0, err
		}
		size = int64(len(f.Data))
	}
	switch {
	case size == 0:
		return 0, invalid("document %q is empty", url)
	case size > most:
		return 0, invalid("document is %s, Viber takes files up to %s", channels.SizeString(size), channels.SizeString(most))
	}
	return size, nil
}
