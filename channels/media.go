package channels

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
)

// AttachmentKind says what a customer sent besides text.
type AttachmentKind string

const (
	Photo    AttachmentKind = "photo"
	Voice    AttachmentKind = "voice"
	Audio    AttachmentKind = "audio"
	Video    AttachmentKind = "video"
	Document AttachmentKind = "document"
	Sticker  AttachmentKind = "sticker"
	// Story is an Instagram story a customer mentioned the business in or
	// replied to: only its CDN link is kept (Meta's terms forbid storing
	// the media, and the link expires with the story).
	Story AttachmentKind = "story"
)

// Attachment is a file in an inbound message. Providers name it either by a
// file id to resolve through their API (ProviderFileID: Telegram, WhatsApp)
// or by a download URL (URL: Viber, VK, Messenger); MIME, Name and Size are
// what the provider said about it, when it said anything.
type Attachment struct {
	Kind           AttachmentKind `json:"kind"`
	ProviderFileID string         `json:"provider_file_id,omitempty"`
	URL            string         `json:"url,omitempty"`
	MIME           string         `json:"mime,omitempty"`
	Name           string         `json:"name,omitempty"`
	Size           int64          `json:"size,omitempty"`
}

// File is a downloaded attachment.
type File struct {
	Data []byte
	MIME string
	Name string
}

// Described fills what the download did not say (MIME type, name) from
// what the provider's message said about the attachment.
func (f File) Described(a Attachment) File {
	if f.MIME == "" {
		f.MIME = a.MIME
	}
	if f.Name == "" {
		f.Name = a.Name
	}
	return f
}

// TooLargeError says a file is bigger than the caller's cap; it was not
// downloaded (or not kept). Size is the provider's figure, or the cap + 1
// when the provider gave none and the download ran past the cap.
type TooLargeError struct {
	Size, Max int64
}

func (e *TooLargeError) Error() string {
	return fmt.Sprintf("file of %d bytes is over the %d-byte cap", e.Size, e.Max)
}

// IsTooLarge reports whether err is a *TooLargeError, returning it.
func IsTooLarge(err error) (*TooLargeError, bool) {
	var e *TooLargeError
	return e, errors.As(err, &e)
}

// Download fetches url with hc (headers added, e.g. a bearer token) and
// keeps at most max bytes: a larger body, announced or not, is a
// *TooLargeError. op names the call in errors; the URL is left out of them,
// since some providers carry the token in it. The MIME type is the answer's
// Content-Type unless it is missing or generic, then the caller's fallback.
func Download(ctx context.Context, hc *http.Client, url string, headers map[string]string, max int64, op string) (File, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return File{}, fmt.Errorf("%s: %w", op, err)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := HTTPClient(hc).Do(req)
	if err != nil {
		return File{}, &Error{Kind: Transient, Code: "network", Message: op + ": request failed"}
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return File{}, HTTPStatusError(op, resp.StatusCode)
	}
	if resp.ContentLength > max {
		return File{}, &TooLargeError{Size: resp.ContentLength, Max: max}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, max+1))
	if err != nil {
		return File{}, &Error{Kind: Transient, Code: "network", Message: op + ": " + err.Error()}
	}
	if int64(len(data)) > max {
		return File{}, &TooLargeError{Size: max + 1, Max: max}
	}
	f := File{Data: data}
	if ct, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err == nil && ct != "application/octet-stream" {
		f.MIME = ct
	}
	if _, p, err := mime.ParseMediaType(resp.Header.Get("Content-Disposition")); err == nil {
		f.Name = p["filename"]
	}
	return f, nil
}

// CheckFetch is what every Fetch checks before any request: the attachment
// names its file by ref (what says which: "url", "file_id"), else an error
// naming op, and the size the provider stated is not over max, else a
// *TooLargeError.
func (a Attachment) CheckFetch(op, what, ref string, max int64) error {
	if ref == "" {
		return fmt.Errorf("%s: attachment has no %s", op, what)
	}
	if a.Size > max {
		return &TooLargeError{Size: a.Size, Max: max}
	}
	return nil
}

// FetchURL downloads an attachment named by a download URL (Viber, VK,
// Messenger): refused by the provider's stated size before any request when
// that is over max, then Download, then the provider's MIME type and name
// where the answer gave none.
func FetchURL(ctx context.Context, hc *http.Client, a Attachment, max int64, op string) (File, error) {
	if err := a.CheckFetch(op, "url", a.URL, max); err != nil {
		return File{}, err
	}
	f, err := Download(ctx, hc, a.URL, nil, max, op)
	if err != nil {
		return f, err
	}
	return f.Described(a), nil
}

// SizeString is n bytes for people: "512 B", "3.4 MiB".
func SizeString(n int64) string {
	const unit = 1024
	if n < unit {
		return strconv.FormatInt(n, 10) + " B"
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// Describe is a one-line text for an attachment, for lists and logs:
// "[photo]", "[document: menu.pdf]".
func (a Attachment) Describe() string {
	s := "[" + string(a.Kind)
	if a.Name != "" {
		s += ": " + strings.TrimSpace(a.Name)
	}
	return s + "]"
}
