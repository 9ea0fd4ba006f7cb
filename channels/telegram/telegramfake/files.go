package telegramfake

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
)

// A file a simulated user sent: getFile resolves its file_id to a path, and
// GET /file/bot<token>/<path> serves its bytes, as the Bot API does.
type file struct {
	id, uniqueID, path, mime, name string
	data                           []byte
}

// AddFile stores data as a file users can send (kind "photos", "voice",
// "documents", as Telegram names its folders) and returns its file_id.
func (s *Server) AddFile(kind, name, mime string, data []byte) string {
	sum := sha256.Sum256(data)
	h := hex.EncodeToString(sum[:])
	f := &file{id: "AgACAgIAAxkBAAI" + h[:40], uniqueID: "AQAD" + h[:12], mime: mime, name: name, data: data}
	ext := ".jpg"
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		ext = name[i:]
	} else if kind == "voice" {
		ext = ".oga"
	}
	f.path = kind + "/file_" + h[:8] + ext
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.files == nil {
		s.files = map[string]*file{}
	}
	s.files[f.id] = f
	return f.id
}

func (s *Server) fileByID(id string) *file {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.files[id]
}

func (s *Server) getFile(w http.ResponseWriter, p map[string]string) {
	f := s.fileByID(p["file_id"])
	if f == nil {
		badRequest(w, "invalid file_id")
		return
	}
	ok(w, map[string]any{"file_id": f.id, "file_unique_id": f.uniqueID, "file_size": len(f.data), "file_path": f.path})
}

// serveFile answers GET /file/bot<token>/<path>.
func (s *Server) serveFile(w http.ResponseWriter, r *http.Request, token, path string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	if token != s.Token {
		fail(w, Failure{401, "Unauthorized", 0})
		return
	}
	s.mu.Lock()
	s.calls["file"]++
	var f *file
	for _, x := range s.files {
		if x.path == path {
			f = x
		}
	}
	s.mu.Unlock()
	if f == nil {
		fail(w, Failure{404, "Not Found", 0})
		return
	}
	// The real file server answers with a generic type; clients keep the
	// MIME type the update gave.
	w.Header().Set("Content-Type", "application/octet-stream")
	_, _ = w.Write(f.data)
}

// PhotoUpdate builds a private-chat message carrying the photo fileID (from
// AddFile) with an optional caption, in the sizes Telegram sends.
func (s *Server) PhotoUpdate(chatID int64, fileID, caption string) []byte {
	f := s.fileByID(fileID)
	size := 0
	if f != nil {
		size = len(f.data)
	}
	return s.messageUpdate(chatID, map[string]any{
		"photo": []map[string]any{
			{"file_id": fileID + "_s", "file_unique_id": "AQADs", "width": 90, "height": 90, "file_size": size / 10},
			{"file_id": fileID, "file_unique_id": "AQADm", "width": 1280, "height": 960, "file_size": size},
		},
		"caption": caption,
	})
}

// DocumentUpdate builds a message carrying the document fileID (from AddFile).
func (s *Server) DocumentUpdate(chatID int64, fileID string) []byte {
	f := s.fileByID(fileID)
	doc := map[string]any{"file_id": fileID, "file_unique_id": "AQADd"}
	if f != nil {
		doc["file_name"], doc["mime_type"], doc["file_size"] = f.name, f.mime, len(f.data)
	}
	return s.messageUpdate(chatID, map[string]any{"document": doc})
}

// VoiceUpdate builds a message carrying the voice note fileID (from AddFile).
func (s *Server) VoiceUpdate(chatID int64, fileID string, seconds int) []byte {
	f := s.fileByID(fileID)
	v := map[string]any{"file_id": fileID, "file_unique_id": "AQADv", "duration": seconds, "mime_type": "audio/ogg"}
	if f != nil {
		v["file_size"] = len(f.data)
	}
	return s.messageUpdate(chatID, map[string]any{"voice": v})
}

func (s *Server) messageUpdate(chatID int64, fields map[string]any) []byte {
	s.StartChat(chatID)
	id := s.nextUpdate()
	msg := map[string]any{
		"message_id": 100000 + id%100000, "from": user(chatID),
		"chat": map[string]any{"id": chatID, "first_name": "Анна", "last_name": "Петрова", "username": "anna_p", "type": "private"},
		"date": s.Now().Unix(),
	}
	for k, v := range fields {
		if v != "" {
			msg[k] = v
		}
	}
	b, _ := json.Marshal(map[string]any{"update_id": id, "message": msg})
	return b
}
