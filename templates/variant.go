package templates

// Choosing a template's variant for a channel and a locale.

import (
	"fmt"
	"sort"
	"strings"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

// Variant returns the variant of template name that Render would use for ch
// and a subscriber locale, with its channel key ("telegram" or "default")
// and locale. See the package doc for the order.
func Variant(def *campaigns.Definition, name string, ch channels.Kind, locale string) (v campaigns.Variant, chanKey, loc string, err error) {
	if def == nil {
		return v, "", "", fmt.Errorf("%w: %q (no campaign definition)", ErrNoTemplate, name)
	}
	tpl, ok := def.Templates[name]
	if !ok {
		return v, "", "", fmt.Errorf("%w: %q", ErrNoTemplate, name)
	}
	return pick(tpl, name, ch, locale)
}

func pick(tpl campaigns.Template, name string, ch channels.Kind, locale string) (v campaigns.Variant, chanKey, loc string, err error) {
	keys := []string{string(ch), "default"}
	want := normLocale(locale)
	base, _, _ := strings.Cut(want, "-")
	try := func(k, l string) bool {
		if l == "" {
			return false
		}
		byLoc, ok := tpl[k]
		if !ok {
			return false
		}
		if x, ok := byLoc[l]; ok {
			v, chanKey, loc = x, k, l
			return true
		}
		return false
	}
	for _, l := range []string{want, base} {
		for _, k := range keys {
			if try(k, l) {
				return v, chanKey, loc, nil
			}
		}
	}
	for _, k := range keys {
		for _, l := range []string{"en", "ru"} {
			if try(k, l) {
				return v, chanKey, loc, nil
			}
		}
	}
	for _, k := range keys {
		ls := make([]string, 0, len(tpl[k]))
		for l := range tpl[k] {
			ls = append(ls, l)
		}
		sort.Strings(ls)
		if len(ls) > 0 && try(k, ls[0]) {
			return v, chanKey, loc, nil
		}
	}
	return v, "", "", fmt.Errorf("%w: template %q has no %s or default variant", ErrNoVariant, name, ch)
}

func normLocale(l string) string {
	return strings.ToLower(strings.ReplaceAll(strings.TrimSpace(l), "_", "-"))
}

// OutsideWindow reports, per channel, whether the variant Render would use
// for that channel and locale can be sent outside a 24h customer-service
// window: a WhatsApp variant with a whatsapp_template, a Messenger variant
// with a tag. It feeds policy.Input.OutsideWindowOK.
func OutsideWindow(def *campaigns.Definition, name, locale string) map[channels.Kind]bool {
	out := map[channels.Kind]bool{}
	for _, ch := range []channels.Kind{channels.WhatsApp, channels.Messenger} {
		v, _, _, err := Variant(def, name, ch, locale)
		if err != nil {
			continue
		}
		switch ch {
		case channels.WhatsApp:
			out[ch] = v.WhatsAppTemplate != nil && v.WhatsAppTemplate.Name != ""
		case channels.Messenger:
			out[ch] = v.Tag != ""
		}
	}
	return out
}
