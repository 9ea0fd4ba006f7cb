package whatsappfake

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"net/http"
	"strconv"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// mediaFile is a file a user can send. GET /{media-id} answers its node
// (url, mime_type, sha256, file_size) and GET
// /whatsapp_business/attachments/?mid=<id> its bytes, both with the token,
// as the Cloud API does.
type mediaFile struct {
	id, mime, name string
	data           []byte
}

// AddMedia stores data as media a user can send and returns its media id.
func (s *Server) AddMedia(mime, name string, data []byte) string {
	id := strconv.Itoa(1104480873777000 + s.NextID())
	s.media.Put(id, mediaFile{id: id, mime: mime, name: name, data: data})
	return id
}

// MediaCalls is how many media nodes (GET /{media-id}) were resolved.
func (s *Server) MediaCalls() int { return s.media.Served() }

func sum(data []byte) string {
	h := sha256.Sum256(data)
	return base64.StdEncoding.EncodeToString(h[:])
}

// mediaNode answers GET /{media-id}.
func (s *Server) mediaNode(w http.ResponseWriter, r *http.Request) {
	s.CountRequest()
	if r.Header.Get("Authorization") != "Bearer "+s.opt.Token {
		writeGraphErr(w, graphErr{http.StatusUnauthorized, 190, "Error validating access token"})
		return
	}
	id := r.PathValue("id")
	f, ok := s.media.Get(id)
	if !ok {
		writeGraphErr(w, graphErr{http.StatusBadRequest, 100, fmt.Sprintf("Unsupported get request. Object with ID '%s' does not exist", id)})
		return
	}
	s.media.CountServed()
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"url":               s.URL() + "/whatsapp_business/attachments/?mid=" + id + "&ext=1720430776&hash=ATuFAKE",
		"mime_type":         f.mime,
		"sha256":            sum(f.data),
		"file_size":         len(f.data),
		"id":                id,
	})
}

// mediaDownload answers GET /whatsapp_business/attachments/?mid=<id>; like
// Meta's, it wants the bearer token and sends no file name.
func (s *Server) mediaDownload(w http.ResponseWriter, r *http.Request) {
	s.CountRequest()
	if r.Header.Get("Authorization") != "Bearer "+s.opt.Token {
		http.Error(w, "unauthorized", http.StatusUnauthorized)
		return
	}
	f, ok := s.media.Get(r.URL.Query().Get("mid"))
	if !ok {
		http.NotFound(w, r)
		return
	}
	fakekit.WriteFile(w, f.mime, f.data)
}

// Media sends a signed inbound message of type typ ("image", "document",
// "video", "audio"; voice marks an audio as a voice note) carrying the media
// id (from AddMedia) and an optional caption; it returns the wamid.
func (s *Server) Media(ctx context.Context, from, name, typ, mediaID, caption string, voice bool) (string, error) {
	f, ok := s.media.Get(mediaID)
	if !ok {
		return "", fmt.Errorf("whatsappfake: unknown media %q", mediaID)
	}
	obj := map[string]any{"id": mediaID, "mime_type": f.mime, "sha256": sum(f.data)}
	if caption != "" && typ != "audio" {
		obj["caption"] = caption
	}
	if typ == "document" && f.name != "" {
		obj["filename"] = f.name
	}
	if typ == "audio" {
		obj["voice"] = voice
	}
	return s.inbound(ctx, from, name, map[string]any{"type": typ, typ: obj})
}
