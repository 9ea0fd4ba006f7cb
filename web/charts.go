package web

import (
	"fmt"
	"html"
	"html/template"
	"strings"
)

// Bar is one labelled value of a chart.
type Bar struct {
	Label string
	Value float64
	Note  string // shown after the bar, e.g. "42 · 61%"
	Class string // css class for colour
}

// hbarChart draws horizontal bars as inline SVG (readable at phone width,
// works offline). Labels are escaped: they can carry subscriber-derived text.
func hbarChart(title string, bars []Bar) template.HTML {
	const rowH, labelW, barW, noteW = 28, 150, 320, 110
	max := 0.0
	for _, b := range bars {
		if b.Value > max {
			max = b.Value
		}
	}
	h := rowH*len(bars) + 8
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %d %d" width="100%%" preserveAspectRatio="xMinYMin meet">`,
		html.EscapeString(title), labelW+barW+noteW, h)
	fmt.Fprintf(&sb, `<title>%s</title>`, html.EscapeString(title))
	for i, b := range bars {
		y := i*rowH + 4
		w := 0.0
		if max > 0 {
			w = b.Value / max * barW
		}
		fill := "#2456d6"
		switch b.Class {
		case "positive":
			fill = "#1f7a3d"
		case "negative":
			fill = "#b3261e"
		case "muted":
			fill = "#8a93a5"
		}
		fmt.Fprintf(&sb, `<text x="%d" y="%d" font-size="13" text-anchor="end" fill="#1d2330">%s</text>`, labelW-8, y+17, html.EscapeString(b.Label))
		fmt.Fprintf(&sb, `<rect x="%d" y="%d" width="%.1f" height="%d" rx="3" fill="%s"></rect>`, labelW, y+3, w, rowH-8, fill)
		fmt.Fprintf(&sb, `<text x="%.1f" y="%d" font-size="13" fill="#1d2330">%s</text>`, float64(labelW)+w+6, y+17, html.EscapeString(b.Note))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()) //nolint:gosec // every text above is escaped
}

// vbarChart draws a histogram as inline SVG.
func vbarChart(title string, bars []Bar) template.HTML {
	const w, h, pad = 520, 200, 30
	max := 0.0
	for _, b := range bars {
		if b.Value > max {
			max = b.Value
		}
	}
	var sb strings.Builder
	fmt.Fprintf(&sb, `<svg class="chart" role="img" aria-label="%s" viewBox="0 0 %d %d" width="100%%">`, html.EscapeString(title), w, h+2*pad)
	fmt.Fprintf(&sb, `<title>%s</title>`, html.EscapeString(title))
	if len(bars) == 0 {
		sb.WriteString(`</svg>`)
		return template.HTML(sb.String()) //nolint:gosec // escaped above
	}
	bw := (w - pad) / len(bars)
	for i, b := range bars {
		bh := 0.0
		if max > 0 {
			bh = b.Value / max * float64(h-pad)
		}
		x := pad/2 + i*bw
		fmt.Fprintf(&sb, `<rect x="%d" y="%.1f" width="%d" height="%.1f" rx="3" fill="#2456d6"></rect>`, x+4, float64(h)-bh, bw-8, bh)
		fmt.Fprintf(&sb, `<text x="%d" y="%.1f" font-size="13" text-anchor="middle" fill="#1d2330">%s</text>`, x+bw/2, float64(h)-bh-6, html.EscapeString(b.Note))
		fmt.Fprintf(&sb, `<text x="%d" y="%d" font-size="12" text-anchor="middle" fill="#5b6475">%s</text>`, x+bw/2, h+18, html.EscapeString(b.Label))
	}
	sb.WriteString(`</svg>`)
	return template.HTML(sb.String()) //nolint:gosec // escaped above
}
