package channels

import (
	"path"
	"strings"
)

// DocumentRef is a file sent with a message (a PDF receipt), named by a public
// URL the provider (or the adapter) downloads. Name is what the customer
// sees; empty means the last element of the URL's path.
type DocumentRef struct {
	URL  string `json:"url"`
	Name string `json:"name,omitempty"`
}

// FileName is d.Name, or the last element of its URL's path.
func (d DocumentRef) FileName() string {
	if d.Name != "" {
		return d.Name
	}
	p := d.URL
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	return path.Base(p)
}

// Ext is the lower-case extension of the document's file name, without
// the dot ("pdf"), or "".
func (d DocumentRef) Ext() string {
	return strings.ToLower(strings.TrimPrefix(path.Ext(d.FileName()), "."))
}

// MediaLimits is what a channel's adapter sends beyond one text and one
// image. It is the one home of these limits: templates check and fold
// messages by it, lint reports by it, adapters send what it allows.
type MediaLimits struct {
	// AlbumMax is the most images sent together (an album, a carousel or
	// attachments of one message); 0 means the adapter sends one image and
	// the rest become links in the text. AlbumMin is the fewest the
	// provider takes as an album (Telegram: 2).
	AlbumMin, AlbumMax int
	// AlbumCaption is the longest text, in characters, that rides on an
	// album as its caption (0: the text goes apart, or in the same message
	// where attachments and text share one, as on VK).
	AlbumCaption int
	// Documents: the adapter sends a DocumentRef as a file; otherwise it
	// becomes a link in the text (or an email attachment link).
	Documents bool
	// DocumentTypes are the extensions the provider takes by URL (nil: any).
	DocumentTypes []string
	// MaxDocument and MaxImage are the largest files in bytes the adapter
	// downloads to upload or attach (VK, email) or the provider fetches by
	// URL (Messenger); 0: the provider checks when it fetches.
	MaxDocument int64
	MaxImage    int64
}

const mib = 1 << 20

// MediaLimitsOf returns channel k's media limits; sources are in
// docs/channels-media.md.
func MediaLimitsOf(k Kind) MediaLimits {
	switch k {
	case Telegram:
		// sendMediaGroup takes 2-10 items, caption on the first; Telegram
		// fetches a document by URL only for GIF, PDF and ZIP files.
		// Sizes are Telegram's to check when it fetches the URL.
		return MediaLimits{AlbumMin: 2, AlbumMax: 10, AlbumCaption: 1024, Documents: true,
			DocumentTypes: []string{"pdf", "zip", "gif"}}
	case VK:
		// Up to 10 attachments per messages.send; photos (JPG, PNG, GIF
		// up to 50 MB) and documents (up to 200 MB; Nudge holds a file in
		// memory, so 50 MB) are uploaded.
		return MediaLimits{AlbumMin: 2, AlbumMax: 10, Documents: true, MaxDocument: 50 * mib, MaxImage: 50 * mib}
	case WhatsApp:
		// No album message in the Cloud API: each image goes as its own
		// image message, in order, the caption on the first (the client
		// shows consecutive images grouped); outside the 24h window a media
		// card carousel template of up to 10 cards. A document rides with
		// the text (rich.go).
		return MediaLimits{AlbumMin: 2, AlbumMax: 10, AlbumCaption: 1024, Documents: true}
	case Viber:
		// rich_media carousels of up to 6 cards; a document goes as a file
		// message of up to 50 MB, its size asked of its server first.
		return MediaLimits{AlbumMin: 2, AlbumMax: 6, Documents: true, MaxDocument: 50 * mib}
	case Messenger:
		// A generic template of up to 10 elements; files by URL up to
		// 25 MB, images by URL up to 8 MB.
		return MediaLimits{AlbumMin: 2, AlbumMax: 10, Documents: true, MaxDocument: 25 * mib, MaxImage: 8 * mib}
	case Email:
		// Every image goes into the HTML part; a document is fetched and
		// attached (attach.go), up to 10 MB.
		return MediaLimits{AlbumMin: 2, AlbumMax: 10, Documents: true, MaxDocument: 10 * mib}
	case Sandbox:
		return MediaLimits{AlbumMin: 2, AlbumMax: 10, Documents: true}
	}
	return MediaLimits{}
}

// Album reports whether n images go out together on this channel.
func (l MediaLimits) Album(n int) bool { return l.AlbumMax > 0 && n >= max(l.AlbumMin, 2) }

// DocumentTypeOK reports whether the channel takes a document with this
// extension.
func (l MediaLimits) DocumentTypeOK(ext string) bool {
	if l.DocumentTypes == nil {
		return true
	}
	for _, t := range l.DocumentTypes {
		if t == ext {
			return true
		}
	}
	return false
}
