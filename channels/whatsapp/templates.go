package whatsapp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
)

// Template is one message template of the business account as the Graph
// API lists it (GET /{waba-id}/message_templates), with the parameter counts
// a send must fill in.
type Template struct {
	ID       string `json:"id"`
	Name     string `json:"name"`
	Language string `json:"language"`
	Status   string `json:"status"`   // APPROVED, PENDING, REJECTED, PAUSED, DISABLED
	Category string `json:"category"` // MARKETING, UTILITY, AUTHENTICATION
	// ParameterFormat is POSITIONAL ({{1}}) or NAMED ({{first_name}}).
	ParameterFormat string      `json:"parameter_format"`
	Components      []Component `json:"components"`
}

// Component is a HEADER, BODY, FOOTER, BUTTONS or CAROUSEL part of a
// template.
type Component struct {
	Type    string           `json:"type"`
	Format  string           `json:"format,omitempty"` // HEADER: TEXT, IMAGE, VIDEO, DOCUMENT, LOCATION
	Text    string           `json:"text,omitempty"`
	Buttons []TemplateButton `json:"buttons,omitempty"`
	// Cards are a CAROUSEL's cards (a media card carousel template): each
	// has its own media HEADER, an optional BODY and BUTTONS, the same
	// components on every card.
	Cards []Card `json:"cards,omitempty"`
}

// Card is one card of a CAROUSEL component.
type Card struct {
	Components []Component `json:"components"`
}

// TemplateButton is one button of a BUTTONS component.
type TemplateButton struct {
	Type string `json:"type"` // QUICK_REPLY, URL, PHONE_NUMBER, COPY_CODE, …
	Text string `json:"text"`
	URL  string `json:"url,omitempty"`
}

// Params counts the parameters a send of t must give, per component.
type Params struct {
	Body   int // {{n}} or {{name}} in the body text
	Header int // a text header's {{1}}, or 1 for a media header
	Button int // URL buttons with a {{1}} in their url
	// CardBody is, for a media card carousel template, each card's body
	// parameter count: its length is the number of cards, which every send
	// must fill exactly (an approved carousel sends as many cards as it was
	// approved with). nil when t has no carousel.
	CardBody []int
	// CardButton counts the cards' URL buttons with a {{1}} in their url.
	CardButton int
}

var placeholder = regexp.MustCompile(`\{\{\s*([A-Za-z0-9_]+)\s*\}\}`)

// countParams counts distinct placeholders ({{1}} twice is one parameter).
func countParams(text string) int {
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllStringSubmatch(text, -1) {
		seen[m[1]] = true
	}
	return len(seen)
}

// Params counts what a send of t must fill in.
func (t Template) Params() Params {
	var p Params
	for _, c := range t.Components {
		switch strings.ToUpper(c.Type) {
		case "BODY":
			p.Body = countParams(c.Text)
		case "HEADER":
			if strings.EqualFold(c.Format, "TEXT") || c.Format == "" {
				p.Header = countParams(c.Text)
			} else if !strings.EqualFold(c.Format, "LOCATION") {
				p.Header = 1 // the media link
			}
		case "BUTTONS":
			p.Button += urlParams(c.Buttons)
		case "CAROUSEL":
			p.CardBody = make([]int, len(c.Cards))
			for i, card := range c.Cards {
				for _, cc := range card.Components {
					switch strings.ToUpper(cc.Type) {
					case "BODY":
						p.CardBody[i] = countParams(cc.Text)
					case "BUTTONS":
						p.CardButton += urlParams(cc.Buttons)
					}
				}
			}
		}
	}
	return p
}

// urlParams counts the URL buttons of bs whose url takes a parameter.
func urlParams(bs []TemplateButton) int {
	n := 0
	for _, b := range bs {
		if strings.EqualFold(b.Type, "URL") && countParams(b.URL) > 0 {
			n++
		}
	}
	return n
}

// ButtonTexts lists the labels of t's buttons in order.
func (t Template) ButtonTexts() []string {
	var out []string
	for _, c := range t.Components {
		for _, b := range c.Buttons {
			out = append(out, b.Text)
		}
	}
	return out
}

type templatePage struct {
	Data   []Template `json:"data"`
	Paging struct {
		Cursors struct {
			After string `json:"after"`
		} `json:"cursors"`
		Next string `json:"next"`
	} `json:"paging"`
}

// maxTemplatePages bounds a listing: a business account holds at most a few
// thousand templates, so more pages than this means a paging loop.
const maxTemplatePages = 200

// ErrNoWABA means the account has no business account id to list templates of.
var ErrNoWABA = errors.New("whatsapp: no business account id (NUDGE_WHATSAPP_WABA_ID)")

// Templates lists every message template of the account's WhatsApp Business
// Account, following paging.cursors.after until a page has no paging.next.
func (c *Client) Templates(ctx context.Context) ([]Template, error) {
	if c.cfg.WABAID == "" {
		return nil, ErrNoWABA
	}
	var out []Template
	after := ""
	for range maxTemplatePages {
		q := url.Values{"fields": {"name,language,category,status,components,parameter_format"}, "limit": {"100"}}
		if after != "" {
			q.Set("after", after)
		}
		var page templatePage
		if err := c.graph.Get(ctx, "/"+url.PathEscape(c.cfg.WABAID)+"/message_templates?"+q.Encode(), &page); err != nil {
			return nil, fmt.Errorf("whatsapp: list templates: %w", err)
		}
		out = append(out, page.Data...)
		if page.Paging.Next == "" || page.Paging.Cursors.After == "" || page.Paging.Cursors.After == after {
			return out, nil
		}
		after = page.Paging.Cursors.After
	}
	return nil, fmt.Errorf("whatsapp: list templates: more than %d pages", maxTemplatePages)
}
