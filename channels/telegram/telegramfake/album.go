package telegramfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strconv"
	"strings"
)

// Albums and documents: sendMediaGroup takes 2-10 InputMedia items
// (documents group only with documents), each with its own caption, and
// answers an array of Message sharing a media_group_id; it has no
// reply_markup. sendDocument takes a URL, a file_id or an upload; Telegram
// fetches documents by URL only as GIF, PDF or ZIP.

// Album limits of the Bot API.
const (
	MinAlbum = 2
	MaxAlbum = 10
)

// inputMedia is one element of sendMediaGroup's media.
type inputMedia struct {
	Type      string `json:"type"`
	Media     string `json:"media"`
	Caption   string `json:"caption"`
	ParseMode string `json:"parse_mode"`
}

// remoteFile reports whether a file parameter names something Telegram can
// get: an http(s) URL, a file_id or an upload.
func remoteFile(f string) bool {
	for _, p := range []string{"http://", "https://", "upload:", "attach://", "AgAC", "BQAC"} {
		if strings.HasPrefix(f, p) {
			return true
		}
	}
	return false
}

// checkCaption returns the Bot API's complaint about a caption, or "".
func checkCaption(caption, parseMode string) string {
	n, perr := visibleLen(caption, parseMode)
	if perr != "" {
		return "can't parse entities: " + perr
	}
	if n > MaxCaption {
		return "message caption is too long"
	}
	return ""
}

// message is the Message object of an accepted send.
func message(m Sent) map[string]any {
	res := map[string]any{
		"message_id": m.MessageID,
		"from":       map[string]any{"id": BotID, "is_bot": true, "first_name": "Nudge Fake", "username": "nudge_fake_bot"},
		"chat":       map[string]any{"id": m.ChatID, "type": "private"},
		"date":       m.At.Unix(),
	}
	switch {
	case m.Method == "sendMessage":
		res["text"] = m.Text
	case m.Document != "":
		name := path.Base(strings.SplitN(m.Document, "?", 2)[0])
		res["document"] = map[string]any{"file_id": fmt.Sprintf("BQACAgIAAxkDAAI%08d", m.MessageID), "file_unique_id": fmt.Sprintf("AgAD%06d", m.MessageID), "file_name": name}
	default:
		res["photo"] = []map[string]any{{"file_id": fmt.Sprintf("AgACAgIAAxkDAAI%08d", m.MessageID), "file_unique_id": fmt.Sprintf("AQAD%06d", m.MessageID), "width": 1280, "height": 960}}
	}
	if m.Text != "" && m.Method != "sendMessage" {
		res["caption"] = m.Text
	}
	if m.MediaGroupID != "" {
		res["media_group_id"] = m.MediaGroupID
	}
	if m.Keyboard != nil {
		res["reply_markup"] = map[string]any{"inline_keyboard": m.Keyboard}
	}
	return res
}

func (s *Server) sendMediaGroup(w http.ResponseWriter, enc string, p map[string]string) {
	chat, err := strconv.ParseInt(p["chat_id"], 10, 64)
	if err != nil {
		fail(w, ChatNotFound)
		return
	}
	var items []inputMedia
	if err := json.Unmarshal([]byte(p["media"]), &items); err != nil {
		badRequest(w, "can't parse media JSON object")
		return
	}
	if len(items) < MinAlbum || len(items) > MaxAlbum {
		badRequest(w, "wrong number of media in the album: must include 2-10 items")
		return
	}
	if p["reply_markup"] != "" {
		badRequest(w, "reply_markup is not supported in sendMediaGroup")
		return
	}
	for i, it := range items {
		switch it.Type {
		case "photo", "video", "document", "audio":
		default:
			badRequest(w, "can't parse InputMedia: media type %q is not supported", it.Type)
			return
		}
		if (it.Type == "document" || it.Type == "audio" || items[0].Type == "document" || items[0].Type == "audio") && it.Type != items[0].Type {
			badRequest(w, "wrong media in the album: documents and audio can be grouped only with their own type")
			return
		}
		if !remoteFile(it.Media) {
			badRequest(w, "wrong remote file identifier specified in media %d", i)
			return
		}
		if msg := checkCaption(it.Caption, it.ParseMode); msg != "" {
			badRequest(w, "%s", msg)
			return
		}
	}
	ids, now, f := s.admit(chat, len(items))
	if f != nil {
		fail(w, *f)
		return
	}
	group := fmt.Sprintf("1%017d", chat%1e9*1e8+ids[0])
	out := make([]map[string]any, len(items))
	for i, it := range items {
		m := Sent{MessageID: ids[i], ChatID: chat, Method: "sendMediaGroup", Encoding: enc, Text: it.Caption, ParseMode: it.ParseMode, MediaGroupID: group, At: now}
		if it.Type == "document" {
			m.Document = it.Media
		} else {
			m.Photo = it.Media
		}
		s.Record(m)
		out[i] = message(m)
	}
	ok(w, out)
}

// documentByURL are the types Telegram downloads for sendDocument.
var documentByURL = map[string]bool{".pdf": true, ".zip": true, ".gif": true}

func (s *Server) sendDocument(w http.ResponseWriter, enc string, p map[string]string) {
	chat, err := strconv.ParseInt(p["chat_id"], 10, 64)
	if err != nil {
		fail(w, ChatNotFound)
		return
	}
	doc := p["document"]
	if !remoteFile(doc) {
		badRequest(w, "wrong remote file identifier specified: Wrong string length")
		return
	}
	if strings.HasPrefix(doc, "http") && !documentByURL[strings.ToLower(path.Ext(strings.SplitN(doc, "?", 2)[0]))] {
		badRequest(w, "wrong type of the web page content")
		return
	}
	if msg := checkCaption(p["caption"], p["parse_mode"]); msg != "" {
		badRequest(w, "%s", msg)
		return
	}
	s.accept(w, Sent{ChatID: chat, Method: "sendDocument", Encoding: enc, Text: p["caption"], ParseMode: p["parse_mode"], Document: doc}, p["reply_markup"])
}
