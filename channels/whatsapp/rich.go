package whatsapp

import (
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels"
)

// Documents. A document goes in the same single message as the text: a
// document message with the text as caption, or, with reply buttons, an
// interactive message whose header is the document. WhatsApp allows one
// message per 6 s to a recipient (error 131056), so Nudge sends no
// multi-message albums there: channels.MediaLimitsOf gives WhatsApp no
// album and templates turn the other images into links. An image beside a
// document goes as a link too. Outside the 24h window only the template is
// sent (Payload).

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
