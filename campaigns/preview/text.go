package preview

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// WriteText prints a preview for a terminal.
func WriteText(w io.Writer, r *Result) error {
	var b strings.Builder
	fmt.Fprintf(&b, "campaign  %s v%d (%s), step %s, template %s\n", r.CampaignID, r.Number, r.Version, r.Step, r.Template)
	name := r.Subscriber.Name
	if name == "" {
		name = "(no name)"
	}
	fmt.Fprintf(&b, "subscriber %s %s, locale %s, zone %s, local time %s\n", r.Subscriber.ExternalID, name, r.Subscriber.Locale, r.Subscriber.TimeZone, r.LocalTime)
	if r.Send {
		fmt.Fprintf(&b, "would send now on %s\n", r.Channel)
	} else {
		b.WriteString("would NOT send now\n")
	}
	fmt.Fprintf(&b, "why       %s\n", r.Why)
	for _, c := range r.Audience {
		mark := "yes"
		if !c.Holds {
			mark = "NO "
		}
		line := fmt.Sprintf("audience  %s %s: %s", mark, c.Part, c.Rule)
		if c.Detail != "" {
			line += " (" + c.Detail + ")"
		}
		b.WriteString(line + "\n")
	}
	if len(r.Fallback) > 0 {
		fmt.Fprintf(&b, "fallback  %s\n", strings.Join(r.Fallback, " → "))
	}
	if r.DeferUntil != nil {
		fmt.Fprintf(&b, "deferred  until %s\n", r.DeferUntil.UTC().Format(time.RFC3339))
	}
	if r.RenderError != "" {
		fmt.Fprintf(&b, "render error on %s: %s\n", r.RenderedFor, r.RenderError)
	}
	if m := r.Message; m != nil {
		fmt.Fprintf(&b, "--- %s message (%s, %s) ---\n", r.RenderedFor, m.Locale, m.Format)
		if m.Subject != "" {
			fmt.Fprintf(&b, "subject: %s\n", m.Subject)
		}
		if m.ImageURL != "" {
			fmt.Fprintf(&b, "image: %s\n", m.ImageURL)
		}
		for i, u := range m.Images {
			fmt.Fprintf(&b, "album %d/%d: %s\n", i+1, len(m.Images), u)
		}
		if d := m.Document; d != nil {
			fmt.Fprintf(&b, "document: %s (%s)\n", d.FileName(), d.URL)
		}
		b.WriteString(m.Text)
		if !strings.HasSuffix(m.Text, "\n") {
			b.WriteByte('\n')
		}
		for _, bt := range m.Buttons {
			if bt.URL != "" {
				fmt.Fprintf(&b, "[%s] → %s\n", bt.Text, bt.URL)
			} else {
				fmt.Fprintf(&b, "[%s] (reply %q)\n", bt.Text, bt.ID)
			}
		}
		if m.Template != nil {
			prefix := "with"
			if r.OutsideWindow {
				prefix = "sent as"
			}
			fmt.Fprintf(&b, "%s WhatsApp template %s (%s) params %q\n", prefix, m.Template.Name, m.Template.Language, m.Template.Params)
			for _, pr := range r.TemplateProblems {
				fmt.Fprintf(&b, "  problem: %s\n", pr)
			}
			if r.TemplateUnchecked != "" {
				fmt.Fprintf(&b, "  not checked against the WhatsApp catalogue: %s\n", r.TemplateUnchecked)
			}
		}
		if m.Tag != "" {
			fmt.Fprintf(&b, "message tag: %s\n", m.Tag)
		}
		if m.Segments > 0 {
			fmt.Fprintf(&b, "SMS segments: %d\n", m.Segments)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
