package templates

import (
	"fmt"
	"net/url"
	"sort"
	"strings"
	"text/template/parse"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

// Problem is one thing wrong with a variant. Path is relative to the
// variant ("text", "buttons[0].id"); callers that know the template name
// prefix it: "templates.ask.telegram.ru." + Path.
type Problem struct {
	Path string
	Rule string
	Msg  string
	// Line and Col locate the problem in the part's source (from 1; Col in
	// bytes); 0 when it concerns the part as a whole.
	Line, Col int
}

// Problem rules (stable strings, also used as Error.Rule at Render).
const (
	RuleSyntax          = "template_syntax"
	RuleEmptyText       = "empty_text"
	RuleTextTooLong     = "text_too_long"
	RuleCaptionTooLong  = "caption_too_long"
	RuleMarkup          = "telegram_markup"
	RuleTooManyButtons  = "too_many_buttons"
	RuleButtonText      = "button_text"
	RuleButtonID        = "button_id"
	RuleButtonKind      = "button_kind"
	RuleButtonURL       = "button_url"
	RuleSubjectMissing  = "subject_missing"
	RuleSMSSegments     = "sms_segments"
	RuleWhatsAppTmpl    = "whatsapp_template"
	DefaultMaxSegments  = 6
	maxButtonsAnyWay    = 100
	telegramTextMax     = 4096
	telegramCaptionMax  = 1024
	whatsappTextMax     = 4096
	whatsappBodyButtons = 1024
)

// limits of one channel; 0 means no limit.
type limits struct {
	text        int // characters (bytes with textBytes)
	textBytes   bool
	caption     int // characters when an image is attached
	withButtons int // characters of the body when buttons are attached
	buttons     int // max buttons
	buttonText  int // characters
	idBytes     int // max button id bytes
	idRunes     int // max button id characters
	idRequired  bool
	noURL       bool // reply buttons only
	subject     bool
	html        bool // Telegram HTML parse mode
}

func channelLimits(ch channels.Kind) limits {
	switch ch {
	case channels.Telegram:
		return limits{text: telegramTextMax, caption: telegramCaptionMax, idBytes: 64, html: true}
	case channels.WhatsApp:
		return limits{text: whatsappTextMax, caption: 1024, withButtons: whatsappBodyButtons, buttons: 3, buttonText: 20, idRunes: 256, idRequired: true, noURL: true}
	case channels.Messenger:
		return limits{text: 2000, buttons: 13, buttonText: 20, idBytes: 1000}
	case channels.Instagram:
		// Instagram states its text limit in UTF-8 bytes; link buttons
		// become text lines, reply buttons quick replies.
		return limits{text: 1000, textBytes: true, buttons: 13, buttonText: 20, idBytes: 1000}
	case channels.Viber:
		return limits{text: 7000}
	case channels.VK:
		return limits{text: 4096, buttonText: 40, idBytes: 255}
	case channels.Email:
		return limits{subject: true}
	}
	return limits{}
}

// message is the part of a variant or a rendered message that limits apply to.
type message struct {
	text, subject, image string
	buttons              []campaigns.Button
	hasTemplate          bool
	images               []string // album images (media.go)
	imageTotal           int      // every image, before folding
	document             *channels.DocumentRef
}

// check applies ch's limits. static: texts are lower bounds from template
// source (actions removed), so only "too long" and markup-name checks apply
// to them, and markup balance is not checked.
func check(ch channels.Kind, m message, maxSegments int, static bool) []Problem {
	lim := channelLimits(ch)
	var ps []Problem
	add := func(path, rule, format string, a ...any) {
		ps = append(ps, Problem{Path: path, Rule: rule, Msg: fmt.Sprintf(format, a...)})
	}
	text := m.text
	if lim.html {
		vis, err := telegramVisible(text, !static)
		if err != nil {
			add("text", RuleMarkup, "%v", err)
		} else {
			text = vis
		}
	}
	n := runeLen(text)
	if lim.html {
		// Telegram measures text in UTF-16 code units (as its entity
		// offsets): an emoji outside the BMP counts 2. Counting so is
		// the safe side of the limit.
		n = utf16Len(text)
	}
	if !static && strings.TrimSpace(text) == "" && m.image == "" && len(m.images) == 0 && m.document == nil && !m.hasTemplate {
		add("text", RuleEmptyText, "the message text is empty")
	}
	switch {
	case m.image != "" && lim.caption > 0 && n > lim.caption:
		add("text", RuleCaptionTooLong, "%s caption is %d characters with an image; the limit is %d", ch, n, lim.caption)
	case len(m.buttons) > 0 && lim.withButtons > 0 && n > lim.withButtons:
		add("text", RuleTextTooLong, "%s body is %d characters with buttons; the limit is %d", ch, n, lim.withButtons)
	case lim.textBytes && len(text) > lim.text:
		add("text", RuleTextTooLong, "%s text is %d bytes; the limit is %d bytes (UTF-8)", ch, len(text), lim.text)
	case !lim.textBytes && lim.text > 0 && n > lim.text:
		add("text", RuleTextTooLong, "%s text is %d characters; the limit is %d", ch, n, lim.text)
	}
	if ch == channels.SMS && maxSegments > 0 {
		if info := CountSMS(text); info.Segments > maxSegments {
			add("text", RuleSMSSegments, "SMS text takes %d %s segments (%d units); the maximum is %d", info.Segments, info.Encoding, info.Units, maxSegments)
		}
	}
	if lim.subject && !static && strings.TrimSpace(m.subject) == "" {
		add("subject", RuleSubjectMissing, "an email needs a subject")
	}
	if lim.buttons > 0 && len(m.buttons) > lim.buttons {
		add("buttons", RuleTooManyButtons, "%s allows at most %d buttons, got %d", ch, lim.buttons, len(m.buttons))
	} else if len(m.buttons) > maxButtonsAnyWay {
		add("buttons", RuleTooManyButtons, "at most %d buttons, got %d", maxButtonsAnyWay, len(m.buttons))
	}
	for i, b := range m.buttons {
		p := fmt.Sprintf("buttons[%d]", i)
		bt := runeLen(b.Text)
		if !static && strings.TrimSpace(b.Text) == "" {
			add(p+".text", RuleButtonText, "button text is empty")
		}
		if lim.buttonText > 0 && bt > lim.buttonText {
			add(p+".text", RuleButtonText, "%s button text is %d characters; the limit is %d", ch, bt, lim.buttonText)
		}
		switch {
		case b.ID != "" && b.URL != "":
			add(p, RuleButtonKind, "a button has either an id (reply) or a url (link), not both")
		case b.ID == "" && b.URL == "" && b.Pay == nil:
			add(p, RuleButtonKind, "a button needs an id (reply), a url (link) or pay (a payment)")
		case b.URL != "" && lim.noURL:
			add(p+".url", RuleButtonKind, "%s reply buttons cannot carry links; put the link in the text", ch)
		}
		if b.URL != "" && !(static && strings.Contains(b.URL, "{{")) {
			if u, err := url.Parse(b.URL); err != nil || (u.Scheme != "https" && u.Scheme != "http" && !(ch == channels.Telegram && u.Scheme == "tg")) || (u.Scheme != "tg" && u.Host == "") {
				add(p+".url", RuleButtonURL, "button url %q is not an absolute http(s) URL", b.URL)
			}
		}
		if b.ID != "" {
			if lim.idBytes > 0 && len(b.ID) > lim.idBytes {
				add(p+".id", RuleButtonID, "%s button id is %d bytes; the limit is %d", ch, len(b.ID), lim.idBytes)
			}
			if lim.idRunes > 0 && runeLen(b.ID) > lim.idRunes {
				add(p+".id", RuleButtonID, "%s button id is %d characters; the limit is %d", ch, runeLen(b.ID), lim.idRunes)
			}
		}
	}
	return append(ps, checkMedia(ch, m, static)...)
}

// CheckVariant reports the problems of variant v for channel ch that are
// visible in its source: template syntax (including unknown functions),
// Telegram markup, lengths of the literal text (a lower bound of the
// rendered length), SMS segments of the literal text, buttons (count, text,
// id bytes, kind), the email subject and WhatsApp template fields. Render
// checks the same limits on the rendered result. locale is used in messages
// only.
func CheckVariant(ch channels.Kind, locale string, v campaigns.Variant) []Problem {
	var ps []Problem
	static := message{image: v.Image, hasTemplate: v.WhatsAppTemplate != nil, images: v.Images, imageTotal: len(v.Images)}
	if v.Image != "" {
		static.imageTotal++
	}
	if d := v.Document; d != nil {
		static.document = &channels.DocumentRef{URL: d.URL, Name: d.Name}
	}
	lit := func(path, src string) string {
		tr, err := parseCheck(path, src)
		if err != nil {
			ps = append(ps, Problem{Path: path, Rule: RuleSyntax, Msg: err.Error()})
			return ""
		}
		return literalText(tr)
	}
	static.text = lit("text", v.Text)
	static.subject = lit("subject", v.Subject)
	if v.HTML != "" {
		if _, err := parseHTML("html", v.HTML, funcMap(&execState{})); err != nil {
			ps = append(ps, Problem{Path: "html", Rule: RuleSyntax, Msg: err.Error()})
		}
	}
	if v.Image != "" {
		lit("image", v.Image)
	}
	for i, u := range v.Images {
		lit(fmt.Sprintf("images[%d]", i), u)
	}
	if d := v.Document; d != nil {
		lit("document.url", d.URL)
		lit("document.name", d.Name)
	}
	for i, b := range v.Buttons {
		t := lit(fmt.Sprintf("buttons[%d].text", i), b.Text)
		if b.URL != "" {
			lit(fmt.Sprintf("buttons[%d].url", i), b.URL)
		}
		if strings.Contains(b.ID, "{{") {
			ps = append(ps, Problem{Path: fmt.Sprintf("buttons[%d].id", i), Rule: RuleButtonID, Msg: "button ids are matched by wait_reply and must be literal, not templates"})
		}
		static.buttons = append(static.buttons, campaigns.Button{ID: b.ID, Text: t, URL: b.URL, Pay: b.Pay})
	}
	if wt := v.WhatsAppTemplate; wt != nil {
		if ch != channels.WhatsApp && ch != "default" {
			ps = append(ps, Problem{Path: "whatsapp_template", Rule: RuleWhatsAppTmpl, Msg: fmt.Sprintf("whatsapp_template is only used on whatsapp, not %s", ch)})
		}
		if strings.TrimSpace(wt.Name) == "" {
			ps = append(ps, Problem{Path: "whatsapp_template.name", Rule: RuleWhatsAppTmpl, Msg: "whatsapp_template needs the approved template name"})
		}
		if strings.TrimSpace(wt.Language) == "" {
			ps = append(ps, Problem{Path: "whatsapp_template.language", Rule: RuleWhatsAppTmpl, Msg: fmt.Sprintf("whatsapp_template needs a language code (e.g. %q)", locale)})
		}
		for i, p := range wt.Params {
			lit(fmt.Sprintf("whatsapp_template.params[%d]", i), p)
		}
		for i, c := range wt.Cards {
			for j, p := range c.Params {
				lit(fmt.Sprintf("whatsapp_template.cards[%d].params[%d]", i, j), p)
			}
		}
		// A media card carousel template has 2-10 cards, one per image.
		switch n := len(v.Images); {
		case wt.Carousel && (n < 2 || n > 10):
			ps = append(ps, Problem{Path: "whatsapp_template.carousel", Rule: RuleWhatsAppTmpl,
				Msg: fmt.Sprintf("a carousel template fills one card per image and takes 2-10; the variant has %d images", n)})
		case len(wt.Cards) > 0 && !wt.Carousel:
			ps = append(ps, Problem{Path: "whatsapp_template.cards", Rule: RuleWhatsAppTmpl,
				Msg: "cards are a carousel template's: set carousel: true, or remove cards"})
		case len(wt.Cards) > n:
			ps = append(ps, Problem{Path: "whatsapp_template.cards", Rule: RuleWhatsAppTmpl,
				Msg: fmt.Sprintf("%d cards are given parameters but the variant has %d images, one per card", len(wt.Cards), n)})
		}
	}
	ps = append(ps, check(ch, static, DefaultMaxSegments, true)...)
	if ch == channels.Email && strings.TrimSpace(v.Subject) == "" {
		ps = append(ps, Problem{Path: "subject", Rule: RuleSubjectMissing, Msg: "an email needs a subject"})
	}
	if strings.TrimSpace(v.Text) == "" && v.Image == "" && len(v.Images) == 0 && v.Document == nil && v.WhatsAppTemplate == nil {
		ps = append(ps, Problem{Path: "text", Rule: RuleEmptyText, Msg: "the message text is empty"})
	}
	return ps
}

// literalText returns the text outside actions at the top level of the
// template (text inside if/range/with may not be printed, so it is left out:
// the result is a lower bound of what any execution prints).
func literalText(tr *parse.Tree) string {
	if tr == nil || tr.Root == nil {
		return ""
	}
	var b strings.Builder
	for _, n := range tr.Root.Nodes {
		if t, ok := n.(*parse.TextNode); ok {
			b.Write(t.Text)
		}
	}
	return b.String()
}

// Rules of CheckTemplate beyond CheckVariant's.
const (
	RuleMissingVariant = "missing_variant"
	RuleMissingLocale  = "missing_locale"
	RuleUnknownChannel = "unknown_channel"
)

// CheckTemplate checks template name as it will be used: for every channel
// in chans and every locale in locales it finds the variant Render would
// pick (same lookup) and reports a channel with no variant at all, a locale
// that would get another locale's variant, and every CheckVariant problem of
// each variant that can be picked. Paths are complete:
// "templates.ask.telegram.ru.buttons[0].id".
func CheckTemplate(name string, t campaigns.Template, chans []channels.Kind, locales []string) []Problem {
	var ps []Problem
	base := "templates." + name
	keys := make([]string, 0, len(t))
	for k := range t {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if k != "default" && !channels.Kind(k).Valid() {
			ps = append(ps, Problem{Path: base + "." + k, Rule: RuleUnknownChannel,
				Msg: fmt.Sprintf("unknown channel %q (use one of %v or default)", k, channels.Kinds)})
		}
	}
	type picked struct {
		ch       channels.Kind
		key, loc string
	}
	seen := map[picked]bool{}
	missing := map[string]bool{}
	for _, ch := range chans {
		for _, want := range locales {
			v, key, loc, err := pick(t, name, ch, want)
			if err != nil {
				ps = append(ps, Problem{Path: base, Rule: RuleMissingVariant,
					Msg: fmt.Sprintf("template %q has no %s or default variant, but the campaign may send on %s", name, ch, ch)})
				break
			}
			if normLocale(want) != loc {
				if m := key + "/" + want; !missing[m] {
					missing[m] = true
					ps = append(ps, Problem{Path: base + "." + key, Rule: RuleMissingLocale,
						Msg: fmt.Sprintf("no %q variant for %s: %s subscribers would get the %q one", want, ch, want, loc)})
				}
			}
			p := picked{ch, key, loc}
			if seen[p] {
				continue
			}
			seen[p] = true
			for _, pr := range CheckVariant(ch, loc, v) {
				pr.Path = base + "." + key + "." + loc + "." + pr.Path
				if key == "default" {
					pr.Msg += fmt.Sprintf(" (default variant used on %s)", ch)
				}
				ps = append(ps, pr)
			}
		}
	}
	return ps
}
