package vkfake

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The photo upload flow for messages, in VK's shapes: photos.getMessagesUploadServer
// answers an upload_url on this server, a multipart POST of field "photo"
// there answers {"server","photo","hash"} (photo "[]" when the file is not
// a JPG, PNG or GIF), and photos.saveMessagesPhoto turns that into a saved
// photo whose attachment messages.send accepts (with its access key).

// uploadPrefix is the fake's pu.vk.com.
const uploadPrefix = "/upload/photo"

// MaxUpload is the largest photo the upload server takes (VK: 50 MB).
const MaxUpload = 50 << 20

// Photo is a photo saved by photos.saveMessagesPhoto.
type Photo struct {
	ID        int64
	OwnerID   int64
	AccessKey string
	PeerID    int64 // the peer_id the upload server was asked for
	Size      int   // bytes uploaded
	MIME      string
	At        time.Time
}

// Attachment is the messages.send form photo<owner>_<id>_<access_key>.
func (p Photo) Attachment() string {
	return fmt.Sprintf("photo%d_%d_%s", p.OwnerID, p.ID, p.AccessKey)
}

type pendingUpload struct {
	peer int64
	size int
	mime string
}

type photoStore struct {
	mu        sync.Mutex
	nextSrv   int64
	nextPhoto int64
	servers   int                      // upload servers handed out
	posts     int                      // files posted to them
	pending   map[string]pendingUpload // hash → upload not yet saved
	saved     []Photo
	// documents (docs.go)
	pendingDocs map[string]bool
	docs        []Doc
}

// UploadServers is how many times photos.getMessagesUploadServer was called.
func (s *Server) UploadServers() int {
	s.photos.mu.Lock()
	defer s.photos.mu.Unlock()
	return s.photos.servers
}

// Photos returns the photos saved so far, in order.
func (s *Server) Photos() []Photo {
	s.photos.mu.Lock()
	defer s.photos.mu.Unlock()
	return append([]Photo(nil), s.photos.saved...)
}

// sign is the signature of an upload URL or a hash: keyed by the token,
// so only this server's answers verify.
func (s *Server) sign(parts ...string) string {
	m := hmac.New(sha256.New, []byte(s.Token))
	for _, p := range parts {
		m.Write([]byte(p + "\x00"))
	}
	return hex.EncodeToString(m.Sum(nil))[:20]
}

func (s *Server) getUploadServer(w http.ResponseWriter, p map[string]string) {
	peer, err := strconv.ParseInt(p["peer_id"], 10, 64)
	if p["peer_id"] != "" && err != nil {
		vkError(w, 100, p)
		return
	}
	s.photos.mu.Lock()
	s.photos.servers++
	s.photos.nextSrv++
	srv := 800000 + s.photos.nextSrv
	s.photos.mu.Unlock()
	q := fmt.Sprintf("act=do_add&mid=0&aid=-3&gid=%d&peer=%d&srv=%d", s.GroupID, peer, srv)
	u := s.URL + uploadPrefix + "?" + q + "&hash=" + s.sign(q)
	writeJSON(w, map[string]any{"response": map[string]any{"upload_url": u, "album_id": -3, "group_id": s.GroupID}})
}

func (s *Server) serveUpload(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	raw := r.URL.RawQuery
	if i := len(raw) - len("&hash=") - 20; i < 0 || raw[i:i+6] != "&hash=" || !hmac.Equal([]byte(q.Get("hash")), []byte(s.sign(raw[:i]))) {
		writeJSON(w, map[string]any{"error": "invalid hash"})
		return
	}
	peer, _ := strconv.ParseInt(q.Get("peer"), 10, 64)
	srv, _ := strconv.ParseInt(q.Get("srv"), 10, 64)
	var data []byte
	if err := r.ParseMultipartForm(MaxUpload); err == nil {
		if f, _, err := r.FormFile("photo"); err == nil {
			data, _ = io.ReadAll(io.LimitReader(f, MaxUpload+1))
			f.Close()
		}
	}
	s.photos.mu.Lock()
	defer s.photos.mu.Unlock()
	s.photos.posts++
	ct := http.DetectContentType(data)
	photo := "[]"
	if len(data) <= MaxUpload && (ct == "image/jpeg" || ct == "image/png" || ct == "image/gif") {
		b, _ := json.Marshal([]map[string]any{{"markers_restarted": true, "photo": s.sign(string(data))[:10] + ":w", "sizes": []any{}, "latitude": 0, "longitude": 0, "kid": s.sign("kid", string(data))[:16]}})
		photo = string(b)
	}
	hash := s.sign(strconv.FormatInt(srv, 10), photo)
	if photo != "[]" {
		if s.photos.pending == nil {
			s.photos.pending = map[string]pendingUpload{}
		}
		s.photos.pending[hash] = pendingUpload{peer: peer, size: len(data), mime: ct}
	}
	writeJSON(w, map[string]any{"server": srv, "photo": photo, "hash": hash})
}

// errPhotosList is VK's answer to saving an upload that carried no photo.
const errPhotosList = "One of the parameters specified was missing or invalid: photos_list is invalid"

func (s *Server) saveMessagesPhoto(w http.ResponseWriter, p map[string]string, now time.Time) {
	if p["server"] == "" || p["photo"] == "" || p["hash"] == "" {
		vkError(w, 100, p)
		return
	}
	s.photos.mu.Lock()
	up, ok := s.photos.pending[p["hash"]]
	if !ok || s.sign(p["server"], p["photo"]) != p["hash"] {
		s.photos.mu.Unlock()
		writeJSON(w, map[string]any{"error": map[string]any{"error_code": 100, "error_msg": errPhotosList}})
		return
	}
	delete(s.photos.pending, p["hash"])
	s.photos.nextPhoto++
	ph := Photo{ID: firstPhotoID + s.photos.nextPhoto - 1, OwnerID: -s.GroupID, PeerID: up.peer, Size: up.size, MIME: up.mime, At: now}
	ph.AccessKey = s.sign("key", strconv.FormatInt(ph.ID, 10))[:18]
	s.photos.saved = append(s.photos.saved, ph)
	s.photos.mu.Unlock()
	writeJSON(w, map[string]any{"response": []map[string]any{{
		"id": ph.ID, "album_id": -3, "owner_id": ph.OwnerID, "access_key": ph.AccessKey, "date": now.Unix(), "text": "",
		"sizes": []map[string]any{{"type": "x", "url": s.URL + mediaPrefix + "photo" + strconv.FormatInt(ph.ID, 10), "width": 604, "height": 453}},
	}}})
}

// knownPhoto checks a photo or document attachment of this community: it
// must have been saved, and a photo's access key must match. Other owners'
// files and ids below the fake's pass (files the community already had).
func (s *Server) knownPhoto(att string) bool {
	var owner, id int64
	var key string
	kind := "photo"
	if strings.HasPrefix(att, "doc") {
		kind = "doc"
	}
	n, _ := fmt.Sscanf(strings.Replace(strings.TrimPrefix(att, kind), "_", " ", 2), "%d %d %s", &owner, &id, &key)
	if n < 2 || owner != -s.GroupID || id < firstPhotoID {
		return true
	}
	s.photos.mu.Lock()
	defer s.photos.mu.Unlock()
	if kind == "doc" {
		for _, d := range s.photos.docs {
			if d.ID == id {
				return true
			}
		}
		return false
	}
	for _, ph := range s.photos.saved {
		if ph.ID == id {
			return n == 3 && key == ph.AccessKey
		}
	}
	return false
}

// firstPhotoID is the id of the first photo the fake saves.
const firstPhotoID = 458000001
