package vkfake

import (
	"fmt"
	"io"
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// The document upload flow for messages, in VK's shapes:
// docs.getMessagesUploadServer(peer_id, type=doc|audio_message) answers an
// upload_url here, a multipart POST of field "file" answers {"file":"…"}
// (or {"error":"no file"}), and docs.save(file, title) answers
// {"type":"doc","doc":{…}} whose attachment messages.send accepts.

const docUploadPrefix = "/upload/doc"

// MaxDocUpload is the largest document the upload server takes (VK: 200 MB).
const MaxDocUpload = 200 << 20

// Doc is a document saved by docs.save.
type Doc struct {
	ID, OwnerID int64
	Title, Ext  string
	Size        int
	PeerID      int64
	At          time.Time
}

// Attachment is the messages.send form doc<owner>_<id>.
func (d Doc) Attachment() string { return fmt.Sprintf("doc%d_%d", d.OwnerID, d.ID) }

// Docs returns the documents saved so far, in order.
func (s *Server) Docs() []Doc {
	s.photos.mu.Lock()
	defer s.photos.mu.Unlock()
	return append([]Doc(nil), s.photos.docs...)
}

func (s *Server) getDocUploadServer(w http.ResponseWriter, p map[string]string) {
	peer, err := strconv.ParseInt(p["peer_id"], 10, 64)
	if err != nil || (p["type"] != "" && p["type"] != "doc" && p["type"] != "audio_message") {
		vkError(w, 100, p)
		return
	}
	s.photos.mu.Lock()
	s.photos.servers++
	s.photos.mu.Unlock()
	q := fmt.Sprintf("act=add_doc&mid=0&gid=%d&peer=%d", s.GroupID, peer)
	writeJSON(w, map[string]any{"response": map[string]any{"upload_url": s.URL + docUploadPrefix + "?" + q + "&hash=" + s.sign(q)}})
}

func (s *Server) serveDocUpload(w http.ResponseWriter, r *http.Request) {
	raw := r.URL.RawQuery
	i := strings.LastIndex(raw, "&hash=")
	if i < 0 || raw[i+6:] != s.sign(raw[:i]) {
		writeJSON(w, map[string]any{"error": "invalid hash"})
		return
	}
	peer, _ := strconv.ParseInt(r.URL.Query().Get("peer"), 10, 64)
	if err := r.ParseMultipartForm(MaxDocUpload); err != nil {
		writeJSON(w, map[string]any{"error": "no file", "error_descr": "file field is missing"})
		return
	}
	f, fh, err := r.FormFile("file")
	if err != nil {
		writeJSON(w, map[string]any{"error": "no file", "error_descr": "file field is missing"})
		return
	}
	data, _ := io.ReadAll(io.LimitReader(f, MaxDocUpload+1))
	f.Close()
	if len(data) == 0 || len(data) > MaxDocUpload {
		writeJSON(w, map[string]any{"error": "bad file", "error_descr": "file is empty or too big"})
		return
	}
	token := fmt.Sprintf("%d|%d|%s|%s", peer, len(data), fh.Filename, s.sign("doc", fh.Filename, string(data)))
	s.photos.mu.Lock()
	if s.photos.pendingDocs == nil {
		s.photos.pendingDocs = map[string]bool{}
	}
	s.photos.pendingDocs[token] = true
	s.photos.mu.Unlock()
	writeJSON(w, map[string]any{"file": token})
}

func (s *Server) saveDoc(w http.ResponseWriter, p map[string]string, now time.Time) {
	s.photos.mu.Lock()
	if !s.photos.pendingDocs[p["file"]] {
		s.photos.mu.Unlock()
		writeJSON(w, map[string]any{"error": map[string]any{"error_code": 100, "error_msg": "One of the parameters specified was missing or invalid: file is invalid"}})
		return
	}
	delete(s.photos.pendingDocs, p["file"])
	parts := strings.SplitN(p["file"], "|", 4)
	peer, _ := strconv.ParseInt(parts[0], 10, 64)
	size, _ := strconv.Atoi(parts[1])
	title := p["title"]
	if title == "" {
		title = parts[2]
	}
	s.photos.nextPhoto++
	d := Doc{ID: firstPhotoID + s.photos.nextPhoto - 1, OwnerID: -s.GroupID, Title: title, Ext: strings.TrimPrefix(path.Ext(title), "."), Size: size, PeerID: peer, At: now}
	s.photos.docs = append(s.photos.docs, d)
	s.photos.mu.Unlock()
	writeJSON(w, map[string]any{"response": map[string]any{"type": "doc", "doc": map[string]any{
		"id": d.ID, "owner_id": d.OwnerID, "title": d.Title, "size": d.Size, "ext": d.Ext, "date": now.Unix(), "type": 1,
		"url": s.URL + mediaPrefix + "doc" + strconv.FormatInt(d.ID, 10),
	}}})
}
