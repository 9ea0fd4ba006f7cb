package viber

import (
	"context"
	"encoding/json"

	"github.com/nudge-engine/nudge/channels"
)

// Albums go as a rich_media message: a carousel of one card per image
// (ButtonsGroupColumns 6 × ButtonsGroupRows 6, the card one image button
// opening the photo), with the text as alt_text for clients too old to show
// it. The text and its keyboard follow as their own message, whose token is
// the result. Rich media needs min_api_version 2. Documents are not sent as
// files (a file message needs its size in bytes, which Nudge does not
// know): templates put them in the text as links.

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

// sendCarousel sends the album, then the rest of m through Send.
func (c *Client) sendCarousel(ctx context.Context, m channels.Message) (channels.Result, error) {
	out, err := c.BuildCarousel(m)
	if err != nil {
		return channels.Result{}, err
	}
	rest := m
	rest.Images = nil
	if rest.Text == "" && len(rest.Buttons) > 0 {
		return channels.Result{}, invalid("buttons need a text to go with an album")
	}
	var resp struct {
		MessageToken json.Number `json:"message_token"`
	}
	if err := c.Call(ctx, "send_message", out, &resp); err != nil {
		return channels.Result{}, err
	}
	if rest.Text == "" {
		return channels.Result{ProviderID: resp.MessageToken.String(), SentAt: c.api.Now()}, nil
	}
	return c.Send(ctx, rest)
}
