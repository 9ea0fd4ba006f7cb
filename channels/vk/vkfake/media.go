package vkfake

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// mediaPrefix is where the fake serves the files users send, like VK's
// sun*.userapi.com links: no token, the signed path is the secret.
const mediaPrefix = "/userapi/"

type mediaFile struct {
	mime string
	data []byte
}

// AddFile stores data and returns the URL it is served at.
func (s *Server) AddFile(mime string, data []byte) string {
	h := sha256.Sum256(append([]byte(mime+"\x00"), data...))
	key := hex.EncodeToString(h[:20])
	s.media.Put(key, mediaFile{mime: mime, data: data})
	return s.URL + mediaPrefix + key + "?quality=96&sign=" + key[:12]
}

// Downloads is how many files were served.
func (s *Server) Downloads() int { return s.media.Served() }

func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request) {
	key := strings.TrimPrefix(r.URL.Path, mediaPrefix)
	f, ok := s.media.Get(key)
	if !ok || r.URL.Query().Get("sign") != key[:min(12, len(key))] {
		http.NotFound(w, r)
		return
	}
	s.media.CountServed()
	fakekit.WriteFile(w, f.mime, f.data)
}

// PhotoAttachment stores jpeg as a photo a user sends and returns its
// attachment object: the original at the largest size, and smaller sizes
// (distinct bytes) listed before it, as VK lists them.
func (s *Server) PhotoAttachment(owner int64, jpeg []byte) map[string]any {
	small := s.AddFile("image/jpeg", append([]byte("thumb-s:"), jpeg[:min(16, len(jpeg))]...))
	mid := s.AddFile("image/jpeg", append([]byte("thumb-x:"), jpeg[:min(64, len(jpeg))]...))
	orig := s.AddFile("image/jpeg", jpeg)
	return map[string]any{"type": "photo", "photo": map[string]any{
		"album_id": -3, "date": s.Now().Unix(), "id": 457239017, "owner_id": owner, "access_key": "b1c2d3e4f5a6b7c8d9",
		"sizes": []any{
			map[string]any{"type": "s", "url": small, "width": 75, "height": 56},
			map[string]any{"type": "w", "url": orig, "width": 1280, "height": 960},
			map[string]any{"type": "x", "url": mid, "width": 604, "height": 453},
		},
		"text": "", "has_tags": false,
	}}
}

// DocAttachment stores data as a document a user sends and returns its
// attachment object.
func (s *Server) DocAttachment(owner int64, title, mime string, data []byte) map[string]any {
	u := s.AddFile(mime, data)
	ext := title[strings.LastIndexByte(title, '.')+1:]
	return map[string]any{"type": "doc", "doc": map[string]any{
		"id": 657123456, "owner_id": owner, "title": title, "size": len(data), "ext": ext, "date": s.Now().Unix(),
		"type": 1, "url": u, "access_key": "a9b8c7d6e5f4",
	}}
}

// VoiceAttachment stores ogg as a voice message a user records and returns
// its attachment object.
func (s *Server) VoiceAttachment(owner int64, seconds int, ogg []byte) map[string]any {
	return map[string]any{"type": "audio_message", "audio_message": map[string]any{
		"duration": seconds, "id": 658123456, "owner_id": owner, "access_key": "f1e2d3c4b5a6",
		"link_ogg": s.AddFile("audio/ogg", ogg), "link_mp3": s.AddFile("audio/mpeg", append([]byte("ID3"), ogg...)),
		"waveform": []int{0, 3, 7, 12, 7, 3, 0},
	}}
}
