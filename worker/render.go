package worker

import (
	"fmt"
	"sort"
	"strings"
	"sync"
	"text/template"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

// TextRenderer renders a template variant with text/template: the variant
// for the channel (else "default") in the subscriber's locale (else the first
// locale present). templates.Renderer (templates helper) is the full
// implementation with per-channel escaping and limits; an adapter replaces this
// at integration.
type TextRenderer struct {
	cache sync.Map // version/name/channel/locale → *template.Template
}

// Render implements Renderer.
func (r *TextRenderer) Render(version string, def *campaigns.Definition, name string, ch channels.Kind, d RenderData) (Content, error) {
	tpl, ok := def.Templates[name]
	if !ok {
		return Content{}, fmt.Errorf("template %q not found", name)
	}
	byLocale, ok := tpl[string(ch)]
	if !ok {
		if byLocale, ok = tpl["default"]; !ok {
			return Content{}, fmt.Errorf("template %q has no variant for %s and no default", name, ch)
		}
	}
	locale := d.Subscriber.Locale
	v, ok := byLocale[locale]
	if !ok {
		locs := make([]string, 0, len(byLocale))
		for l := range byLocale {
			locs = append(locs, l)
		}
		if len(locs) == 0 {
			return Content{}, fmt.Errorf("template %q has no locale for %s", name, ch)
		}
		sort.Strings(locs)
		locale, v = locs[0], byLocale[locs[0]]
	}
	key := strings.Join([]string{version, name, string(ch), locale}, "\x00")
	t, ok := r.cache.Load(key)
	if !ok {
		parsed, err := template.New(name).Option("missingkey=zero").Parse(v.Text)
		if err != nil {
			return Content{}, fmt.Errorf("template %q: %w", name, err)
		}
		t, _ = r.cache.LoadOrStore(key, parsed)
	}
	var b strings.Builder
	if err := t.(*template.Template).Execute(&b, d); err != nil {
		return Content{}, fmt.Errorf("template %q: %w", name, err)
	}
	c := Content{Text: b.String(), Format: channels.Plain, Subject: v.Subject, HTML: v.HTML, ImageURL: v.Image, Tag: v.Tag}
	for _, bt := range v.Buttons {
		c.Buttons = append(c.Buttons, channels.Button{ID: bt.ID, Text: bt.Text, URL: bt.URL})
	}
	if w := v.WhatsAppTemplate; w != nil {
		c.Template = &channels.TemplateRef{Name: w.Name, Language: w.Language, Params: w.Params}
	}
	return c, nil
}
