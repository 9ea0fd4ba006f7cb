package campaigns

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nudge-engine/nudge/channels"
)

// DefaultVariant is the template channel key used when a channel has no variant of its own.
const DefaultVariant = "default"

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// variantFor returns the channel key whose variants a channel uses.
func variantFor(t Template, ch string) (string, bool) {
	if _, ok := t[ch]; ok {
		return ch, true
	}
	if _, ok := t[DefaultVariant]; ok {
		return DefaultVariant, true
	}
	return "", false
}

func (l *linter) templates() {
	d := l.def
	all := d.AllChannels()
	names := append(channelNames(), DefaultVariant)

	// Which templates are sent, and from which steps.
	for i, s := range d.Steps {
		if s.Send == nil {
			continue
		}
		p := fmt.Sprintf("steps[%d].send.template", i)
		if !l.f.Has(p) {
			continue
		}
		if _, ok := d.Templates[s.Send.Template]; !ok {
			l.add(p, "missing-template", suggestHint(s.Send.Template, sortedKeys(d.Templates)), "no template named %q", s.Send.Template)
		}
	}

	// Every locale used anywhere in the campaign.
	locales := map[string]bool{}
	for _, t := range d.Templates {
		for _, byLocale := range t {
			for loc := range byLocale {
				locales[loc] = true
			}
		}
	}

	for _, name := range sortedKeys(d.Templates) {
		t := d.Templates[name]
		tp := "templates." + name
		for _, ch := range sortedKeys(t) {
			cp := tp + "." + ch
			if ch != DefaultVariant && !channels.Kind(ch).Valid() {
				l.addKey(cp, "invalid-value", suggestHint(ch, names), "unknown channel %q in template %q", ch, name)
				continue
			}
			byLocale := t[ch]
			if len(byLocale) == 0 {
				l.addKey(cp, "missing-locale", "add ru: and en: variants", "template %q has no locales for %s", name, ch)
				continue
			}
			var missing []string
			for _, loc := range sortedKeys(locales) {
				if _, ok := byLocale[loc]; !ok {
					missing = append(missing, loc)
				}
			}
			if len(missing) > 0 {
				l.addKey(cp, "missing-locale", "subscribers with that locale would get another language", "template %q (%s) has no %s variant", name, ch, strings.Join(missing, ", "))
			}
			_, ru := byLocale["ru"]
			_, en := byLocale["en"]
			if !ru && !en {
				l.addKey(cp, "missing-locale", "every template needs at least ru or en", "template %q (%s) has neither ru nor en", name, ch)
			}
			for _, loc := range sortedKeys(byLocale) {
				vp := cp + "." + loc
				v := byLocale[loc]
				var uses []string
				for _, use := range all {
					if k, ok := variantFor(t, use); ok && k == ch && channels.Kind(use).Valid() {
						uses = append(uses, use)
					}
				}
				l.payLint(vp, v, uses)
				if l.check == nil {
					continue
				}
				// Limits apply to each channel that would use this variant.
				for _, use := range all {
					if k, ok := variantFor(t, use); ok && k == ch && channels.Kind(use).Valid() {
						for _, pr := range l.check(channels.Kind(use), loc, v) {
							pp := vp
							if pr.Path != "" {
								pp += "." + pr.Path
							}
							l.add(pp, pr.Rule, pr.Hint, "%s", pr.Msg)
						}
					}
				}
			}
		}
		for _, ch := range all {
			if !channels.Kind(ch).Valid() {
				continue
			}
			if _, ok := variantFor(t, ch); !ok {
				l.addKey(tp, "missing-variant", fmt.Sprintf("add a %s: (or default:) variant to template %q", ch, name), "template %q has no variant for channel %s", name, ch)
			}
		}
	}
	l.windowTemplates()
	l.replyButtons()
	l.renderTemplates()
}

// replyButtons: a wait_reply branch on a button id that no send leading to
// it offers can never match (usually a typo).
func (l *linter) replyButtons() {
	d := l.def
	if l.steps == nil {
		return
	}
	preds := map[int][]int{}
	for i := range l.edges {
		for _, e := range l.edges[i] {
			if j, ok := l.steps[e.To]; ok {
				preds[j] = append(preds[j], i)
			}
		}
	}
	for i, s := range d.Steps {
		if s.WaitReply == nil {
			continue
		}
		offered := map[string]bool{}
		sends := 0
		for _, p := range preds[i] {
			ps := d.Steps[p]
			if ps.Send == nil {
				continue
			}
			t, ok := d.Templates[ps.Send.Template]
			if !ok {
				continue
			}
			sends++
			for _, byLocale := range t {
				for _, v := range byLocale {
					for _, b := range v.Buttons {
						if b.ID != "" {
							offered[b.ID] = true
						}
					}
				}
			}
		}
		if sends == 0 {
			continue
		}
		for j, b := range s.WaitReply.Branches {
			if b.Button == "" || offered[b.Button] {
				continue
			}
			hint := "the button ids of the send before this step: " + strings.Join(sortedKeys(offered), ", ")
			if x := suggest(b.Button, sortedKeys(offered)); x != "" {
				hint = fmt.Sprintf("did you mean %q?", x)
			} else if len(offered) == 0 {
				hint = "the send before this step has no reply buttons"
			}
			l.add(fmt.Sprintf("steps[%d].wait_reply.branches[%d].button", i, j), "unknown-button", hint,
				"no send before step %q offers a button with id %q", s.ID, b.Button)
		}
	}
}

// windowTemplates: a send that may reach WhatsApp or Messenger outside the
// 24h customer-service window must have a whatsapp_template (WhatsApp) or a
// message tag (Messenger) in the variants those channels use. Instagram has
// no tag a campaign may use (HUMAN_AGENT is for a person's replies), so
// such a send only gets a warning: it goes to the next channel then.
func (l *linter) windowTemplates() {
	d := l.def
	if l.windowOpen == nil {
		return
	}
	reported := map[string]bool{}
	for i, s := range d.Steps {
		if s.Send == nil || l.windowOpen[i] {
			continue
		}
		t, ok := d.Templates[s.Send.Template]
		if !ok {
			continue
		}
		for _, ch := range d.AllChannels() {
			if ch != string(channels.WhatsApp) && ch != string(channels.Messenger) && ch != string(channels.Instagram) {
				continue
			}
			k, ok := variantFor(t, ch)
			if !ok {
				continue
			}
			for _, loc := range sortedKeys(t[k]) {
				v := t[k][loc]
				vp := "templates." + s.Send.Template + "." + k + "." + loc
				if reported[vp+ch] {
					continue
				}
				if ch == string(channels.WhatsApp) && v.WhatsAppTemplate == nil {
					reported[vp+ch] = true
					l.addKey(vp, "window-needs-template",
						"add whatsapp_template: {name: ..., language: ...} with an approved template; free text is only allowed within 24h of the subscriber's last message",
						"step %q sends %q to WhatsApp outside the 24h window, but the %s variant has no whatsapp_template", s.ID, s.Send.Template, k+"."+loc)
				}
				if ch == string(channels.Instagram) {
					reported[vp+ch] = true
					l.reportAs(l.f.KeyAt(vp), "window-needs-template",
						"keep a channel after instagram in settings.channels or a fallback; nothing lets a campaign write on Instagram after 24h",
						fmt.Sprintf("step %q may send %q to Instagram outside the 24h window, where it cannot go; it goes to the next channel", s.ID, s.Send.Template),
						SeverityWarning)
				}
				if ch == string(channels.Messenger) && v.Tag == "" {
					reported[vp+ch] = true
					l.addKey(vp, "window-needs-template",
						"add tag: (e.g. ACCOUNT_UPDATE, POST_PURCHASE_UPDATE, CONFIRMED_EVENT_UPDATE); free text is only allowed within 24h of the subscriber's last message",
						"step %q sends %q to Messenger outside the 24h window, but the %s variant has no tag", s.ID, s.Send.Template, k+"."+loc)
				}
			}
		}
	}
}

// VariantProblem is one problem of a template variant, as a VariantCheck
// reports it. Path is relative to the variant ("buttons[0].id", "" for the
// variant itself); Rule is a lint rule id.
type VariantProblem struct {
	Path, Rule, Msg, Hint string
	// Line and Col locate the problem in the part's source (from 1, Col in
	// bytes); 0 for the part as a whole.
	Line, Col int
}

// VariantCheck checks one template variant for the channel that would send
// it: template syntax and the channel's limits. The templates package owns
// those rules (templates.CheckVariant); campaigns/channelcheck adapts it.
// campaigns cannot import templates (templates imports campaigns), so the
// check is injected.
type VariantCheck func(ch channels.Kind, locale string, v Variant) []VariantProblem
