package viberfake

import (
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"path"
	"strings"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// mediaPrefix is where the fake serves the files users send, like Viber's
// public dl-media links: no token, the path is the secret.
const mediaPrefix = "/5/share/2/long/bots/media/"

type mediaFile struct {
	mime, name string
	data       []byte
}

// AddFile stores data as a file a user can send and returns its media URL.
func (s *Server) AddFile(mime, name string, data []byte) string {
	h := sha256.Sum256(append([]byte(name+"\x00"), data...))
	key := hex.EncodeToString(h[:]) + path.Ext(name)
	s.media.Put(key, mediaFile{mime: mime, name: name, data: data})
	return s.URL + mediaPrefix + key
}

// Downloads is how many media files were served.
func (s *Server) Downloads() int { return s.media.Served() }

func (s *Server) serveMedia(w http.ResponseWriter, r *http.Request) {
	f, ok := s.media.Get(strings.TrimPrefix(r.URL.Path, mediaPrefix))
	if !ok {
		http.NotFound(w, r)
		return
	}
	if r.Method == http.MethodGet {
		s.media.CountServed()
	}
	fakekit.WriteFile(w, f.mime, f.data)
}

// MediaMessage builds a user's message of type typ ("picture", "video",
// "file", "sticker") carrying the file at url (from AddFile) and an
// optional caption, with its file_name and size as Viber sends them.
func (s *Server) MediaMessage(userID, typ, url, caption string) []byte {
	s.mu.Lock()
	delete(s.recent, userID)
	s.subs[userID] = true
	s.mu.Unlock()
	f, ok := s.media.Get(strings.TrimPrefix(url, s.URL+mediaPrefix))
	msg := map[string]any{"type": typ, "media": url}
	if caption != "" {
		msg["text"] = caption
	}
	if ok {
		msg["size"] = len(f.data)
		if f.name != "" {
			msg["file_name"] = f.name
		}
	}
	if typ == "picture" {
		msg["thumbnail"] = url
	}
	return s.marshal(map[string]any{"event": "message", "message_token": s.nextCallbackToken(), "sender": s.user(userID), "message": msg, "silent": false})
}
