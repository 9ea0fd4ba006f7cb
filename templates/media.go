package templates

import (
	"fmt"
	"html"
	"net/url"
	"strings"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
)

// Albums and documents. A variant's image and images are one list; what
// the channel sends together (channels.MediaLimitsOf) goes as Rendered.Images,
// one image as ImageURL, and on a channel without albums the images after
// the first become links at the end of the text. A document goes as
// Rendered.Document where the channel sends files, else as a link line.
// Folding happens before the limits are checked, so the links count.

// Rules of media problems.
const (
	RuleAlbumSize    = "album_size"
	RuleMediaURL     = "media_url"
	RuleDocumentType = "document_type"
)

// albumCap is the most images any variant may list.
const albumCap = 10

type partError struct {
	part string
	err  error
}

// renderMedia executes the variant's images and document and folds them
// for out.Channel. It returns what the limits apply to: the number of
// images and the document, as the variant gave them.
func renderMedia(c *compiled, v campaigns.Variant, exec func(string) (string, error), out *Rendered) (int, *channels.DocumentRef, *partError) {
	imgs := make([]string, 0, 1+len(v.Images))
	if u := strings.TrimSpace(out.ImageURL); u != "" {
		imgs = append(imgs, u)
	}
	for _, part := range c.parts.images {
		u, err := exec(part)
		if err != nil {
			return 0, nil, &partError{part, err}
		}
		if u = strings.TrimSpace(u); u != "" {
			imgs = append(imgs, u)
		}
	}
	var doc *channels.DocumentRef
	if v.Document != nil {
		u, err := exec("document.url")
		if err != nil {
			return 0, nil, &partError{"document.url", err}
		}
		n, err := exec("document.name")
		if err != nil {
			return 0, nil, &partError{"document.name", err}
		}
		doc = &channels.DocumentRef{URL: strings.TrimSpace(u), Name: strings.TrimSpace(n)}
	}
	foldMedia(out, imgs, doc)
	return len(imgs), doc, nil
}

// foldMedia puts imgs and doc where out.Channel takes them.
func foldMedia(out *Rendered, imgs []string, doc *channels.DocumentRef) {
	lim := channels.MediaLimitsOf(out.Channel)
	out.ImageURL, out.Images = "", nil
	var links []string
	switch {
	case len(imgs) == 0:
	case lim.Album(len(imgs)):
		out.Images = imgs
	default:
		out.ImageURL, links = imgs[0], imgs[1:]
	}
	if doc != nil {
		if lim.Documents {
			out.Document = doc
		} else {
			links = append(links, doc.FileName()+": "+doc.URL)
		}
	}
	for _, l := range links {
		if out.Format == channels.HTML {
			l = html.EscapeString(l)
		}
		if out.Text != "" {
			out.Text += "\n"
		}
		out.Text += l
	}
}

// mediaSource returns the source of an images[i] or document part.
func mediaSource(v campaigns.Variant, part string) (string, bool) {
	for i, src := range v.Images {
		if part == fmt.Sprintf("images[%d]", i) {
			return src, true
		}
	}
	if d := v.Document; d != nil {
		switch part {
		case "document.url":
			return d.URL, true
		case "document.name":
			return d.Name, true
		}
	}
	return "", false
}

// checkMedia applies ch's media limits to what m carries. static: URLs
// may still be templates.
func checkMedia(ch channels.Kind, m message, static bool) []Problem {
	var ps []Problem
	add := func(path, rule, format string, a ...any) {
		ps = append(ps, Problem{Path: path, Rule: rule, Msg: fmt.Sprintf(format, a...)})
	}
	lim := channels.MediaLimitsOf(ch)
	n := m.imageTotal
	switch {
	case n > albumCap:
		add("images", RuleAlbumSize, "%d images; an album takes at most %d", n, albumCap)
	case lim.AlbumMax > 0 && n > lim.AlbumMax:
		add("images", RuleAlbumSize, "%s takes albums of at most %d images, got %d", ch, lim.AlbumMax, n)
	}
	for i, u := range m.images {
		if bad := badURL(u, static); bad {
			add(fmt.Sprintf("images[%d]", i), RuleMediaURL, "image %q is not an absolute http(s) URL", u)
		}
	}
	if d := m.document; d != nil {
		if strings.TrimSpace(d.URL) == "" {
			add("document.url", RuleMediaURL, "a document needs a url")
		} else if badURL(d.URL, static) {
			add("document.url", RuleMediaURL, "document %q is not an absolute http(s) URL", d.URL)
		}
		if ext := d.Ext(); lim.Documents && !(static && strings.Contains(d.FileName(), "{{")) && !lim.DocumentTypeOK(ext) {
			add("document.url", RuleDocumentType, "%s sends only %s documents by URL, not %q (%s)", ch,
				strings.Join(lim.DocumentTypes, ", "), ext, d.FileName())
		}
	}
	return ps
}

func badURL(u string, static bool) bool {
	if static && strings.Contains(u, "{{") {
		return false
	}
	p, err := url.Parse(strings.TrimSpace(u))
	return err != nil || (p.Scheme != "https" && p.Scheme != "http") || p.Host == ""
}
