package whatsappfake

import (
	"encoding/base64"
	"fmt"
	"net/http"
	"regexp"
	"strconv"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// Template is a message template of the fake's business account. Body and
// Header are the texts with {{n}} placeholders; URL, when set, adds a URL
// button (with {{1}} it takes a parameter); QuickReplies add quick-reply
// buttons. Cards make it a media card carousel template (a marketing
// one, with no header or buttons of its own).
type Template struct {
	Name, Language string
	Status         string // APPROVED when empty
	Category       string // UTILITY when empty
	Header, Body   string
	URL            string
	QuickReplies   []string
	Cards          []Card
}

// Card is one card of a carousel template: an image header, Body (may be
// empty) with {{n}} placeholders and QuickReplies, the same on every card.
type Card struct {
	Body         string
	QuickReplies []string
}

// AddTemplate adds t to the business account's templates (listed by
// GET /{waba-id}/message_templates). Once the account has templates, template
// sends are checked against them like Meta does: an unknown name or language
// fails with 132001, a paused one with 132015, a disabled one with 132016,
// another status than APPROVED with 132001, and a body parameter count that
// differs from the template's with 132000. A fake without templates accepts
// any template send.
func (s *Server) AddTemplate(t Template) {
	if t.Status == "" {
		t.Status = "APPROVED"
	}
	if t.Category == "" {
		t.Category = "UTILITY"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for i, x := range s.templates {
		if x.Name == t.Name && x.Language == t.Language {
			s.templates[i] = t
			return
		}
	}
	s.templates = append(s.templates, t)
}

// TemplateRequests counts message_templates listing requests.
func (s *Server) TemplateRequests() int { s.mu.Lock(); defer s.mu.Unlock(); return s.templateCalls }

func (t Template) wire() map[string]any {
	var comps []any
	if t.Header != "" {
		comps = append(comps, map[string]any{"type": "HEADER", "format": "TEXT", "text": t.Header})
	}
	comps = append(comps, map[string]any{"type": "BODY", "text": t.Body})
	var btns []any
	for _, q := range t.QuickReplies {
		btns = append(btns, map[string]any{"type": "QUICK_REPLY", "text": q})
	}
	if t.URL != "" {
		btns = append(btns, map[string]any{"type": "URL", "text": "Open", "url": t.URL})
	}
	if len(btns) > 0 {
		comps = append(comps, map[string]any{"type": "BUTTONS", "buttons": btns})
	}
	if len(t.Cards) > 0 {
		cards := make([]any, len(t.Cards))
		for i, c := range t.Cards {
			cc := []any{map[string]any{"type": "HEADER", "format": "IMAGE", "example": map[string]any{"header_handle": []string{"4::aW1hZ2UvanBlZw==:ARb"}}}}
			if c.Body != "" {
				cc = append(cc, map[string]any{"type": "BODY", "text": c.Body})
			}
			var qr []any
			for _, q := range c.QuickReplies {
				qr = append(qr, map[string]any{"type": "QUICK_REPLY", "text": q})
			}
			if len(qr) > 0 {
				cc = append(cc, map[string]any{"type": "BUTTONS", "buttons": qr})
			}
			cards[i] = map[string]any{"components": cc}
		}
		comps = append(comps, map[string]any{"type": "CAROUSEL", "cards": cards})
	}
	return map[string]any{"id": strconv.Itoa(len(t.Name)*1000 + len(t.Language)), "name": t.Name, "language": t.Language,
		"status": t.Status, "category": t.Category, "parameter_format": "POSITIONAL", "components": comps}
}

// listTemplates serves GET /{waba-id}/message_templates with Graph's cursor
// paging: limit (default 25), after, and paging.next on every page but the last.
func (s *Server) listTemplates(w http.ResponseWriter, r *http.Request) {
	if !s.node(w, r, "waba", s.opt.WABAID) {
		return
	}
	q := r.URL.Query()
	limit, err := strconv.Atoi(q.Get("limit"))
	if q.Get("limit") == "" {
		limit, err = 25, nil
	}
	if err != nil || limit < 1 {
		writeGraphErr(w, graphErr{http.StatusBadRequest, 100, "Param limit must be a positive integer"})
		return
	}
	start := 0
	if a := q.Get("after"); a != "" {
		b, err := base64.RawURLEncoding.DecodeString(a)
		if err == nil {
			start, err = strconv.Atoi(string(b))
		}
		if err != nil {
			writeGraphErr(w, graphErr{http.StatusBadRequest, 100, "Invalid cursor"})
			return
		}
	}
	s.mu.Lock()
	s.templateCalls++
	all := append([]Template(nil), s.templates...)
	s.mu.Unlock()
	start = min(start, len(all))
	end := min(start+limit, len(all))
	data := make([]any, 0, end-start)
	for _, t := range all[start:end] {
		data = append(data, t.wire())
	}
	cursor := func(i int) string { return base64.RawURLEncoding.EncodeToString([]byte(strconv.Itoa(i))) }
	paging := map[string]any{"cursors": map[string]string{"before": cursor(start), "after": cursor(end)}}
	if end < len(all) {
		next := *r.URL
		nq := next.Query()
		nq.Set("after", cursor(end))
		next.RawQuery = nq.Encode()
		paging["next"] = s.URL() + next.RequestURI()
	}
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"data": data, "paging": paging})
}

var placeholder = regexp.MustCompile(`\{\{\s*[A-Za-z0-9_]+\s*\}\}`)

func distinct(text string) int {
	seen := map[string]bool{}
	for _, m := range placeholder.FindAllString(text, -1) {
		seen[m] = true
	}
	return len(seen)
}

// checkTemplate is Meta's check of a template send against the account's
// templates; ok when the account has none (see AddTemplate).
func (s *Server) checkTemplate(body map[string]any) (graphErr, bool) {
	if len(s.templates) == 0 {
		return graphErr{}, true
	}
	tpl, _ := body["template"].(map[string]any)
	name, _ := tpl["name"].(string)
	lang, _ := tpl["language"].(map[string]any)
	code, _ := lang["code"].(string)
	var found *Template
	for i := range s.templates {
		if s.templates[i].Name == name && s.templates[i].Language == code {
			found = &s.templates[i]
		}
	}
	switch {
	case found == nil:
		return graphErr{http.StatusNotFound, 132001, fmt.Sprintf("Template name does not exist in the translation: template name (%s) does not exist in %s", name, code)}, false
	case found.Status == "PAUSED":
		return graphErr{http.StatusBadRequest, 132015, "Template is paused due to low quality so it cannot be sent in a template message."}, false
	case found.Status == "DISABLED":
		return graphErr{http.StatusBadRequest, 132016, "Template has been disabled due to low quality."}, false
	case found.Status != "APPROVED":
		return graphErr{http.StatusNotFound, 132001, fmt.Sprintf("Template name does not exist in the translation: template %s (%s) is %s", name, code, found.Status)}, false
	}
	carousel := false
	got, e, ok := components(tpl["components"], func(cm map[string]any) (graphErr, bool) {
		switch cm["type"] {
		case "button":
			if len(found.Cards) > 0 {
				return graphErr{http.StatusBadRequest, 132012, "Parameter format does not match format in the created template: a carousel template's buttons are its cards'"}, false
			}
		case "carousel":
			if msg := checkCarousel(cm); msg != "" {
				return graphErr{http.StatusBadRequest, 131008, "Required parameter is missing: " + msg}, false
			}
			carousel = true
			return found.checkCards(cm)
		}
		return graphErr{}, true
	})
	if !ok {
		return e, false
	}
	if e, ok := paramCount("body", got, distinct(found.Body)); !ok {
		return e, false
	}
	if len(found.Cards) > 0 && !carousel {
		return graphErr{http.StatusBadRequest, 131008, "Required parameter is missing: the template is a carousel and the send has no carousel component"}, false
	}
	return graphErr{}, true
}

// components walks a send's components (a template's or a card's): it
// counts the body's parameters and hands every other component to other,
// stopping at its first refusal.
func components(list any, other func(cm map[string]any) (graphErr, bool)) (body int, e graphErr, ok bool) {
	comps, _ := list.([]any)
	for _, c := range comps {
		cm, _ := c.(map[string]any)
		if cm["type"] == "body" {
			ps, _ := cm["parameters"].([]any)
			body = len(ps)
			continue
		}
		if e, ok := other(cm); !ok {
			return 0, e, false
		}
	}
	return body, graphErr{}, true
}

// paramCount is Meta's refusal of a body (where) with another number of
// parameters than its template's.
func paramCount(where string, got, want int) (graphErr, bool) {
	if got == want {
		return graphErr{}, true
	}
	return graphErr{http.StatusBadRequest, 132000, fmt.Sprintf("Number of parameters does not match the expected number of params: %s: number of localizable_params (%d) does not match the expected number of params (%d)", where, got, want)}, false
}

// checkCards is Meta's check of a carousel send's cards against t's: a card
// for every card of the template (no more, no fewer), each body with its
// card's parameter count and quick replies within the card's buttons. (The
// code for another card count is 132012 in reports from Meta's API
// through third parties, not in Meta's reference: docs/channels-media.md.)
func (t *Template) checkCards(c map[string]any) (graphErr, bool) {
	if len(t.Cards) == 0 {
		return graphErr{http.StatusBadRequest, 132012, "Parameter format does not match format in the created template: the template has no carousel"}, false
	}
	cards, _ := c["cards"].([]any)
	if len(cards) != len(t.Cards) {
		return graphErr{http.StatusBadRequest, 132012, fmt.Sprintf("Parameter format does not match format in the created template: carousel: %d cards sent, the template has %d", len(cards), len(t.Cards))}, false
	}
	for i, x := range cards {
		card, _ := x.(map[string]any)
		got, e, ok := components(card["components"], func(cm map[string]any) (graphErr, bool) {
			if cm["type"] != "button" {
				return graphErr{}, true
			}
			idx, err := strconv.Atoi(fmt.Sprint(cm["index"]))
			if cm["sub_type"] != "quick_reply" || err != nil || idx < 0 || idx >= len(t.Cards[i].QuickReplies) {
				return graphErr{http.StatusBadRequest, 131009, fmt.Sprintf("Parameter value is not valid: cards[%d] button index %v is not a quick reply of the card", i, cm["index"])}, false
			}
			return graphErr{}, true
		})
		if !ok {
			return e, false
		}
		if e, ok := paramCount(fmt.Sprintf("cards[%d] body", i), got, distinct(t.Cards[i].Body)); !ok {
			return e, false
		}
	}
	return graphErr{}, true
}

// checkCarousel checks the carousel component of a media card carousel
// template send: 2-10 cards with card_index 0, 1, … in order, each with a
// header whose one parameter is an image (a link or an id).
func checkCarousel(c map[string]any) string {
	cards, _ := c["cards"].([]any)
	if len(cards) < 2 || len(cards) > 10 {
		return fmt.Sprintf("carousel has %d cards, 2-10 are allowed", len(cards))
	}
	for i, x := range cards {
		card, _ := x.(map[string]any)
		if idx, ok := card["card_index"].(float64); !ok || int(idx) != i {
			return fmt.Sprintf("cards[%d].card_index must be %d", i, i)
		}
		header := false
		comps, _ := card["components"].([]any)
		for _, y := range comps {
			cm, _ := y.(map[string]any)
			if cm["type"] != "header" {
				continue
			}
			ps, _ := cm["parameters"].([]any)
			if len(ps) != 1 {
				return fmt.Sprintf("cards[%d] header needs one parameter", i)
			}
			p, _ := ps[0].(map[string]any)
			if p["type"] != "image" && p["type"] != "video" {
				return fmt.Sprintf("cards[%d] header must be an image or a video", i)
			}
			if msg, ok := validateMedia(p); !ok {
				return fmt.Sprintf("cards[%d] header: %s", i, msg)
			}
			header = true
		}
		if !header {
			return fmt.Sprintf("cards[%d] has no header", i)
		}
	}
	return ""
}
