package metafake

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// cdnFile is a file a person can send; it is served at a signed CDN path,
// /v/t59.2708-21/<n>/<name>?oh=<sig>, as Meta's scontent/cdn.fbsbx.com
// links are: public, no token, a wrong signature is a 403.
type cdnFile struct {
	mime, name, sig string
	data            []byte
}

// AddFile stores data as a file a person can send and returns its CDN URL.
// name is the file's name in the URL path ("" = "<n>_n.<ext>"-style).
func (s *Server) AddFile(mime, name string, data []byte) string {
	seq := s.NextID()
	n := strconv.Itoa(4100000000 + seq)
	f := cdnFile{mime: mime, name: name, sig: fmt.Sprintf("00_AYF%08x", seq*2654435761), data: data}
	if f.name == "" {
		f.name = n + "_n.bin"
	}
	s.files.Put(n, f)
	return s.URL() + "/v/t59.2708-21/" + n + "/" + url.PathEscape(f.name) + "?_nc_cat=1&oh=" + f.sig + "&oe=6760A1B2"
}

// FileDownloads is how many files were served.
func (s *Server) FileDownloads() int { return s.files.Served() }

// serveFile answers GET /v/t59.2708-21/{n}/{name}.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request) {
	s.CountRequest()
	f, ok := s.files.Get(r.PathValue("n"))
	switch {
	case !ok:
		http.NotFound(w, r)
		return
	case r.URL.Query().Get("oh") != f.sig:
		http.Error(w, "URL signature mismatch", http.StatusForbidden)
		return
	}
	s.files.CountServed()
	fakekit.WriteFile(w, f.mime, f.data)
}

// Attachment sends an inbound message carrying one attachment of type typ
// ("image", "video", "audio", "file") at url (from AddFile); sticker ≠ 0
// marks an image as a sticker. It returns the mid.
func (s *Server) Attachment(ctx context.Context, psid, typ, url string, sticker int64) (string, error) {
	mid := s.nextMID()
	payload := map[string]any{"url": url}
	if sticker != 0 {
		payload["sticker_id"] = sticker
	}
	return mid, s.Post(ctx, s.entry(map[string]any{"sender": map[string]string{"id": psid}, "message": map[string]any{
		"mid": mid, "attachments": []any{map[string]any{"type": typ, "payload": payload}}}}))
}
