package campaigns

import (
	"fmt"
	"strings"

	"github.com/nudge-engine/nudge/channels"
)

// WhatsAppCatalogue is what the linter knows of the WhatsApp message
// templates approved for the configured numbers (channels/whatsapp/catalogue
// loads it from the copy `nudge channels sync whatsapp` keeps in Postgres).
type WhatsAppCatalogue struct {
	// Unavailable, when set, says why references could not be checked (no
	// database, never synced): lint warns with it at each reference instead
	// of staying silent.
	Unavailable string
	Templates   []CatalogueTemplate
}

// CatalogueTemplate is one template of a number's business account.
type CatalogueTemplate struct {
	Account, Name, Language string
	Category                string // MARKETING, UTILITY, AUTHENTICATION
	Status                  string // APPROVED, PENDING, REJECTED, PAUSED, DISABLED
	// Parameters a send must fill in: body {{n}}, a header's, URL buttons'.
	BodyParams, HeaderParams, ButtonParams int
	// CardParams is, for a media card carousel template, each card's body
	// parameter count (its length the number of cards); nil for others.
	// CardButtonParams counts the cards' URL buttons with a {{1}}.
	CardParams       []int
	CardButtonParams int
}

// TemplateUse is what a send gives a WhatsApp template: its body
// parameters and, for a media card carousel, one image and the body
// parameters per card.
type TemplateUse struct {
	Name, Language string
	Params         int
	Carousel       bool
	Images         int   // the cards' headers, one each
	CardParams     []int // per card; shorter than Images means none given
}

// UseOf is what variant template wt with images images gives a send.
func UseOf(wt *WhatsAppTemplate, images int) TemplateUse {
	u := TemplateUse{Name: wt.Name, Language: wt.Language, Params: len(wt.Params), Carousel: wt.Carousel, Images: images}
	for _, c := range wt.Cards {
		u.CardParams = append(u.CardParams, len(c.Params))
	}
	return u
}

// Check lists the problems of use's reference to a template, sent through
// WhatsApp account with topic: unknown name, wrong language, another
// parameter count, not approved, a marketing template for a service
// message, a carousel of another number of cards. Only account's templates
// count: each number's business account approves its own. Each problem is
// a message and a hint; none when c knows nothing.
func (c *WhatsAppCatalogue) Check(account string, use TemplateUse, topic Topic) []CatalogueProblem {
	if c == nil || c.Unavailable != "" {
		return nil
	}
	name, language, params := use.Name, use.Language, use.Params
	account = channels.Account(account)
	var langs, others []string
	var t *CatalogueTemplate
	for i, x := range c.Templates {
		if x.Name != name {
			continue
		}
		if channels.Account(x.Account) != account {
			others = append(others, x.Account)
			continue
		}
		langs = append(langs, x.Language)
		if x.Language == language && t == nil {
			t = &c.Templates[i]
		}
	}
	if len(langs) == 0 {
		names := make([]string, 0, len(c.Templates))
		for _, x := range c.Templates {
			if channels.Account(x.Account) == account {
				names = append(names, x.Name)
			}
		}
		hint := fmt.Sprintf("sync the catalogue (nudge channels sync whatsapp --account %s) after the template is approved", account)
		switch s := suggest(name, names); {
		case len(others) > 0:
			hint = fmt.Sprintf("it is approved for account %s only: name that account in settings.accounts.whatsapp, or submit the template for %s",
				strings.Join(others, ", "), account)
		case s != "":
			hint = fmt.Sprintf("did you mean %q?", s)
		}
		return []CatalogueProblem{{Field: "name", Msg: fmt.Sprintf("WhatsApp template %q does not exist in the synced catalogue of account %s", name, account), Hint: hint}}
	}
	if t == nil {
		return []CatalogueProblem{{Field: "language", Msg: fmt.Sprintf("WhatsApp template %q has no %q translation", name, language),
			Hint: "its languages: " + strings.Join(langs, ", ")}}
	}
	var out []CatalogueProblem
	if t.Status != "APPROVED" {
		out = append(out, CatalogueProblem{Field: "name", Msg: fmt.Sprintf("WhatsApp template %q (%s) is %s, not APPROVED: WhatsApp refuses to send it", name, language, t.Status),
			Hint: "use an approved template, or wait for approval and sync again"})
	}
	if params != t.BodyParams {
		out = append(out, CatalogueProblem{Field: "params", Msg: fmt.Sprintf("WhatsApp template %q (%s) takes %d body parameters, the variant gives %d", name, language, t.BodyParams, params),
			Hint: "give one params entry for each {{n}} of the template's body"})
	}
	if t.HeaderParams > 0 || t.ButtonParams > 0 {
		out = append(out, CatalogueProblem{Field: "name", Msg: fmt.Sprintf("WhatsApp template %q (%s) needs %d header and %d URL-button parameters; Nudge sends body parameters only", name, language, t.HeaderParams, t.ButtonParams),
			Hint: "use a template whose header and buttons have no {{n}} or media"})
	}
	out = append(out, t.checkCards(use)...)
	if topic == TopicService && t.Category == "MARKETING" {
		out = append(out, CatalogueProblem{Field: "name", Msg: fmt.Sprintf("WhatsApp template %q (%s) is a MARKETING template, but the campaign's topic is service", name, language),
			Hint: "use a UTILITY template for service messages (marketing ones need marketing consent and are billed as such)"})
	}
	return out
}

// checkCards lists the problems of use's cards against t's: WhatsApp
// sends a media card carousel template with exactly the cards it was
// approved with, each card's body with its own parameters.
func (t *CatalogueTemplate) checkCards(use TemplateUse) []CatalogueProblem {
	name, language := t.Name, t.Language
	switch {
	case t.CardParams == nil && use.Carousel:
		return []CatalogueProblem{{Field: "carousel", Msg: fmt.Sprintf("WhatsApp template %q (%s) is not a media card carousel", name, language),
			Hint: "remove carousel: true, or name a carousel template"}}
	case t.CardParams == nil:
		return nil
	case !use.Carousel:
		return []CatalogueProblem{{Field: "name", Msg: fmt.Sprintf("WhatsApp template %q (%s) is a media card carousel of %d cards", name, language, len(t.CardParams)),
			Hint: fmt.Sprintf("set carousel: true and give the variant %d images, one per card", len(t.CardParams))}}
	}
	var out []CatalogueProblem
	if use.Images != len(t.CardParams) {
		out = append(out, CatalogueProblem{Field: "carousel", Msg: fmt.Sprintf("WhatsApp template %q (%s) has %d cards, the variant gives %d images", name, language, len(t.CardParams), use.Images),
			Hint: "WhatsApp sends a carousel with exactly the cards it approved: give one image per card"})
	}
	for i, want := range t.CardParams {
		got := 0
		if i < len(use.CardParams) {
			got = use.CardParams[i]
		}
		if got != want {
			out = append(out, CatalogueProblem{Field: "cards", Msg: fmt.Sprintf("card %d of WhatsApp template %q (%s) takes %d body parameters, the variant gives %d", i+1, name, language, want, got),
				Hint: "give cards[i].params one entry for each {{n}} of that card's body"})
		}
	}
	if len(use.CardParams) > len(t.CardParams) {
		out = append(out, CatalogueProblem{Field: "cards", Msg: fmt.Sprintf("WhatsApp template %q (%s) has %d cards, the variant gives parameters for %d", name, language, len(t.CardParams), len(use.CardParams)),
			Hint: "give one cards entry per card of the template"})
	}
	if t.CardButtonParams > 0 {
		out = append(out, CatalogueProblem{Field: "name", Msg: fmt.Sprintf("WhatsApp template %q (%s) needs %d URL-button parameters in its cards; Nudge sends card body parameters only", name, language, t.CardButtonParams),
			Hint: "use a carousel whose URL buttons have no {{n}}"})
	}
	return out
}

// CatalogueProblem is one problem of a template reference; Field is the key
// of whatsapp_template it is about (name, language, params).
type CatalogueProblem struct{ Field, Msg, Hint string }

// whatsappCatalogue checks every whatsapp_template of the campaign's
// variants against the catalogue of the WhatsApp account the campaign names
// (settings.accounts.whatsapp, default main; rule whatsapp-template), or warns once,
// at the first reference, that it could not when the catalogue is
// unavailable.
func (l *linter) whatsappCatalogue() {
	c := l.catalogue
	if c == nil {
		return
	}
	first, n := "", 0
	for _, name := range sortedKeys(l.def.Templates) {
		t := l.def.Templates[name]
		for _, ch := range sortedKeys(t) {
			for _, loc := range sortedKeys(t[ch]) {
				wt := t[ch][loc].WhatsAppTemplate
				if wt == nil || wt.Name == "" {
					continue
				}
				p := "templates." + name + "." + ch + "." + loc + ".whatsapp_template"
				if n++; n == 1 {
					first = p + ".name"
				}
				use := UseOf(wt, len(t[ch][loc].Images))
				for _, pr := range c.Check(l.def.Settings.Account("whatsapp"), use, l.def.Topic) {
					at := p + "." + pr.Field
					if pr.Field == "params" && wt.Params == nil {
						at = p
					}
					l.add(at, "whatsapp-template", pr.Hint, "%s", pr.Msg)
				}
			}
		}
	}
	if c.Unavailable != "" && n > 0 {
		l.warn(first, "whatsapp-template", "run nudge channels sync whatsapp, and lint with NUDGE_DATABASE_URL set",
			fmt.Sprintf("%d WhatsApp template %s not checked: %s", n, plural(n, "reference", "references"), c.Unavailable))
	}
}

func plural(n int, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}
