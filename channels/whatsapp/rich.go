package whatsapp

import (
	"context"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
)

// Documents. A document goes in the same single message as the text: a
// document message with the text as caption, or, with reply buttons, an
// interactive message whose header is the document. WhatsApp allows one
// message per 6 s to a recipient on average (error 131056), so a document
// goes in one message; albums are sent image by image (below). An image
// beside a document goes as a link. Outside the 24h window only the
// template is sent (Payload).

// withDocument builds the message object of m, which carries a document.
func withDocument(m channels.Message) (map[string]any, error) {
	d := m.Document
	doc := map[string]any{"link": d.URL, "filename": d.FileName()}
	rest := m
	rest.Document = nil
	if rest.ImageURL != "" {
		if rest.Text != "" {
			rest.Text += "\n"
		}
		rest.Text, rest.ImageURL = rest.Text+rest.ImageURL, ""
	}
	if rest.Text == "" && len(rest.Buttons) == 0 {
		rest.ImageURL = d.URL // the envelope of an image message, turned into a document below
	}
	p, err := Payload(rest)
	if err != nil {
		return nil, err
	}
	switch p["type"] {
	case "interactive":
		p["interactive"].(map[string]any)["header"] = map[string]any{"type": "document", "document": doc}
	case "text":
		body, _ := p["text"].(map[string]any)["body"].(string)
		if utf8.RuneCountInString(body) > MaxBodyText {
			return nil, invalid("document caption longer than %d characters", MaxBodyText)
		}
		doc["caption"] = body
		delete(p, "text")
		p["type"], p["document"] = "document", doc
	case "image":
		delete(p, "image")
		p["type"], p["document"] = "document", doc
	}
	return p, nil
}

// Albums. The Cloud API has no album message: inside the 24h window each
// image goes as its own image message, in order (the WhatsApp client shows
// consecutive images grouped), the text as the first one's caption when it
// has no reply buttons, no document and fits a caption; otherwise the text
// (with its buttons or document) follows as the last message. Each message
// is a part (channels.SendParts): a retry after a refused later one (the
// pair rate limit, 131056) resumes there. Outside the window only the
// template goes; a media card carousel template (TemplateRef.Carousel) gets
// the images as its cards' headers.

// MaxCards is the most cards of a media card carousel template.
const MaxCards = 10

// sendAlbum sends a free-form message with Images, part by part.
func (c *Client) sendAlbum(ctx context.Context, m channels.Message) (channels.Result, error) {
	lim := channels.MediaLimitsOf(channels.WhatsApp)
	if n := len(m.Images); n < lim.AlbumMin || n > lim.AlbumMax {
		return channels.Result{}, invalid("album of %d images, Nudge sends %d-%d on WhatsApp", n, lim.AlbumMin, lim.AlbumMax)
	}
	replies := false
	for _, b := range m.Buttons {
		replies = replies || b.URL == ""
	}
	bodies := make([]map[string]any, 0, len(m.Images)+1)
	image := func(u string, caption channels.Message) (map[string]any, error) {
		caption.Images, caption.ImageURL, caption.Document, caption.Correlation = nil, u, nil, ""
		return Payload(caption)
	}
	rest := m
	rest.Images = nil
	first, err := image(m.Images[0], rest)
	switch {
	case !replies && m.Document == nil && m.ImageURL == "" && err == nil:
		rest = channels.Message{} // the text rides on the first image
	default:
		if first, err = image(m.Images[0], channels.Message{To: m.To}); err != nil {
			return channels.Result{}, err
		}
		if rest.Text == "" && len(rest.Buttons) == 0 && rest.Document == nil && rest.ImageURL == "" {
			rest = channels.Message{}
		}
	}
	bodies = append(bodies, first)
	for _, u := range m.Images[1:] {
		b, err := image(u, channels.Message{To: m.To})
		if err != nil {
			return channels.Result{}, err
		}
		bodies = append(bodies, b)
	}
	if rest.To != "" {
		build := Payload
		if rest.Document != nil {
			build = withDocument
		}
		b, err := build(rest)
		if err != nil {
			return channels.Result{}, err
		}
		bodies = append(bodies, b)
	} else if m.Correlation != "" {
		bodies[len(bodies)-1]["biz_opaque_callback_data"] = m.Correlation
	}
	parts := make([]channels.Part, len(bodies))
	for i, b := range bodies {
		parts[i] = func(ctx context.Context) (channels.Result, error) { return c.post(ctx, b) }
	}
	return channels.SendParts(ctx, m, parts)
}

// carouselComponent is the carousel component of a media card carousel
// template send: one card per image, its header the image, its body the
// card's params (cards[i], when given) and its quick replies the reply
// buttons' ids, as every card of a carousel has the same components.
func carouselComponent(images []string, cards [][]string, buttons []channels.Button) map[string]any {
	out := make([]map[string]any, len(images))
	for i, u := range images {
		comps := []map[string]any{{
			"type": "header", "parameters": []map[string]any{{"type": "image", "image": map[string]string{"link": u}}},
		}}
		if i < len(cards) {
			if c := textComponent("body", cards[i]); c != nil {
				comps = append(comps, c)
			}
		}
		out[i] = map[string]any{"card_index": i, "components": append(comps, quickReplies(buttons)...)}
	}
	return map[string]any{"type": "carousel", "cards": out}
}
