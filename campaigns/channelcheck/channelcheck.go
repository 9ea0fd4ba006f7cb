// Package channelcheck connects the campaign linter to the templates
// package's per-channel rules (template syntax, Telegram markup, text and
// caption lengths, SMS segments, button limits) and to the reply
// classifier's reading of keyword branches. It exists because templates and
// classify import campaigns, so campaigns cannot call them itself.
package channelcheck

import (
	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/classify"
	"github.com/nudge-engine/nudge/templates"
)

// Linter returns a campaigns.Linter with the template rules enabled.
func Linter() *campaigns.Linter {
	return &campaigns.Linter{CheckVariant: Variant, CheckRender: Render, CheckReplies: classify.New(nil).Overlaps}
}

// Lint lints files with every rule.
func Lint(files []*campaigns.File) []campaigns.LintError { return Linter().Lint(files) }

// ruleOf maps templates problem rules to lint rule ids.
var ruleOf = map[string]string{
	templates.RuleTooManyButtons: "button-limits",
	templates.RuleButtonText:     "button-limits",
	templates.RuleButtonID:       "button-limits",
	templates.RuleButtonKind:     "button-limits",
	templates.RuleTextTooLong:    "channel-limits",
	templates.RuleCaptionTooLong: "channel-limits",
	templates.RuleSMSSegments:    "channel-limits",
	templates.RuleAlbumSize:      "media-limits",
	templates.RuleDocumentType:   "media-limits",
	templates.RuleMediaURL:       "media-limits",
	templates.RuleSyntax:         "template-syntax",
	templates.RuleMarkup:         "template-syntax",
	templates.RuleSubjectMissing: "required-field",
	templates.RuleEmptyText:      "required-field",
	templates.RuleWhatsAppTmpl:   "invalid-value",
	templates.RuleExec:           "template-render",
	templates.RuleButtonURL:      "template-render",
	templates.RuleHTML:           "template-syntax",
}

var hints = map[string]string{
	templates.RuleTooManyButtons: "keep fewer buttons or give this channel its own variant",
	templates.RuleButtonText:     "shorten the label or give this channel its own variant",
	templates.RuleButtonID:       "use a short literal id such as like or dislike",
	templates.RuleButtonKind:     "a reply button has an id (matched by wait_reply), a link button has a url",
	templates.RuleSMSSegments:    "shorten the SMS text; Cyrillic takes 70 characters per segment (67 when split)",
	templates.RuleSyntax:         "functions: date, time, datetime, plural, money, upper, lower, title, default, get",
	templates.RuleMarkup:         "Telegram HTML allows b, i, u, s, a, code, pre, tg-spoiler, blockquote; escape a literal < as &lt;",
	templates.RuleHTML:           "close every tag you open (<b>…</b>); escape a literal < as &lt;",
	templates.RuleAlbumSize:      "split the album, or give this channel its own variant with fewer images",
	templates.RuleDocumentType:   "Telegram fetches only PDF, ZIP and GIF documents by URL: send a PDF, or a link in the text",
	templates.RuleMediaURL:       "write an absolute https:// URL, or declare the payload field as url",
	templates.RuleButtonURL:      "declare the field as url (receipt_url: url), or write an absolute https:// link",
}

// Variant checks one variant with templates.CheckVariant.
func Variant(ch channels.Kind, locale string, v campaigns.Variant) []campaigns.VariantProblem {
	ps := templates.CheckVariant(ch, locale, v)
	out := make([]campaigns.VariantProblem, 0, len(ps))
	for _, p := range ps {
		rule, ok := ruleOf[p.Rule]
		if !ok {
			rule = "channel-limits"
		}
		out = append(out, campaigns.VariantProblem{Path: p.Path, Rule: rule, Msg: p.Msg, Hint: hints[p.Rule]})
	}
	return out
}

// Render renders template name for ch and locale against the campaign's
// sample with templates.CheckRender, the production renderer.
func Render(def *campaigns.Definition, name string, ch channels.Kind, locale string, s campaigns.Sample) (key, loc string, out []campaigns.VariantProblem) {
	d := templates.Data{
		Subscriber: templates.Subscriber{ID: 1, ExternalID: "sample", Name: "Sample", Locale: locale, TimeZone: "Europe/Moscow", Attributes: s.Attributes},
		Payload:    s.Payload, Now: s.Now, CampaignID: def.ID,
	}
	key, loc, ps := templates.CheckRender(def, name, ch, d)
	for _, p := range ps {
		rule, ok := ruleOf[p.Rule]
		if !ok {
			rule = "template-render"
		}
		out = append(out, campaigns.VariantProblem{Path: p.Path, Rule: rule, Msg: p.Msg, Hint: hints[p.Rule], Line: p.Line, Col: p.Col})
	}
	return key, loc, out
}
