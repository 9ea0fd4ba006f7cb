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
}

// Check lists the problems of a reference to template name in language with
// params body parameters, sent through WhatsApp account with topic: unknown
// name, wrong language, another parameter count, not approved, a marketing
// template for a service message. Only account's templates count: each
// number's business account approves its own. Each problem is a message and
// a hint; none when c knows nothing.
func (c *WhatsAppCatalogue) Check(account, name, language string, params int, topic Topic) []CatalogueProblem {
	if c == nil || c.Unavailable != "" {
		return nil
	}
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
	if topic == TopicService && t.Category == "MARKETING" {
		out = append(out, CatalogueProblem{Field: "name", Msg: fmt.Sprintf("WhatsApp template %q (%s) is a MARKETING template, but the campaign's topic is service", name, language),
			Hint: "use a UTILITY template for service messages (marketing ones need marketing consent and are billed as such)"})
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
				for _, pr := range c.Check(l.def.Settings.Account("whatsapp"), wt.Name, wt.Language, len(wt.Params), l.def.Topic) {
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
