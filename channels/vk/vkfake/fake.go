// Package vkfake is an in-process VK API and Callback API peer for tests,
// the demo and benchmarks. It serves /method/messages.send,
// /method/execute (batched messages.send calls, execute.go) and
// /method/messages.sendMessageEventAnswer (form-encoded or query, token as
// access_token or Authorization: Bearer, v required), answers HTTP 200 with
// {"response":…} or {"error":{…}} like VK, dedupes random_id per peer for an
// hour (a repeat returns the first message id and sends nothing), enforces
// text, keyboard, label and payload limits and 20 requests a second per
// token (error 6), plays scripted errors per peer (900/901/902, 6/9/29), and
// posts Callback API events with the group's secret, including message_read
// receipts on a scriptable timer. Photos, documents and voice messages
// users send (MessageNewWith) are served at their userapi-style URLs. The
// photo upload flow for messages (photos.getMessagesUploadServer, the
// upload server, photos.saveMessagesPhoto) is in upload.go.
package vkfake

import (
	"context"
	"crypto/sha1"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// Token is a realistic community token (vk1.a. + 200+ characters).
const Token = "vk1.a.Zk3xQv9Lm2Pn8Rt5Sw1Ue4Yo7Ib0Cd6Fg3Hj9Kl2Mn5Pq8Rs1Tu4Vw7Xy0Za3Bc6De9Fg2Hi5Jk8Lm1No4Pq7Rs0Tu3Vw6Xy9Za2Bc5De8Fg1Hi4Jk7Lm0No3Pq6Rs9Tu2Vw5Xy8Za1Bc4De7Fg0Hi3Jk6Lm9No2Pq5Rs8Tu1Vw4Xy7Za0Bc3De6Fg9Hi2Jk5Lm8No1Pq4"

// GroupID is the fake community id.
const GroupID = 229876543

// Limits the fake enforces.
const (
	MaxText       = 4096
	MaxLabel      = 40
	MaxPayload    = 255
	MaxInlineRows = 6
	MaxRowWidth   = 5
	DedupeWindow  = time.Hour
)

var errMessages = map[int]string{
	1: "Unknown error occurred", 3: "Unknown method passed", 5: "User authorization failed: invalid access_token (4).", 6: "Too many requests per second",
	8: "Invalid request: v (version) is required", 9: "Flood control", 10: "Internal server error",
	12: "Unable to compile code", 13: "Runtime error occurred during code invocation: Too many API calls", 29: "Rate limit reached",
	100: "One of the parameters specified was missing or invalid", 900: "Can't send messages for users from blacklist",
	901: "Can't send messages for users without permission", 902: "Can't send messages to this user due to their privacy settings",
	911: "Keyboard format is invalid", 914: "Message is too long",
}

// Button is a recorded keyboard button.
type Button struct {
	Type    string
	Label   string
	Payload string
	Link    string
}

// Sent is an accepted messages.send.
type Sent struct {
	MessageID  int64
	PeerID     int64
	RandomID   int64
	Text       string
	Attachment string
	Keyboard   [][]Button
	Inline     bool
	At         time.Time
}

// EventAnswer is a recorded messages.sendMessageEventAnswer.
type EventAnswer struct {
	EventID        string
	UserID, PeerID int64
}

// Server is the fake.
type Server struct {
	URL          string // base URL: give URL+"/method" to the client
	Token        string
	GroupID      int64
	Secret       string // Callback API secret sent with every event
	Confirmation string // expected answer to the confirmation request
	// RatePerSecond is the per-token request limit (error 6 beyond it); 0 = off.
	RatePerSecond int
	Now           func() time.Time
	After         func(d time.Duration, f func())
	Client        *http.Client
	// OnReceiptError receives errors posting scheduled receipts.
	OnReceiptError func(error)
	// RequireAllowed makes sends to users who never wrote or allowed
	// messages (no MessageNew/MessageAllow built for them, no Allow) fail
	// with 901, as on VK. Users who denied messages always get 901.
	RequireAllowed bool

	// Sent returns the accepted (not deduplicated) messages.
	fakekit.Served[Sent]
	answers  fakekit.Log[EventAnswer]
	mu       sync.Mutex
	nextID   int64
	dedupe   map[[2]int64]Sent
	fails    fakekit.Failures[int64, int]
	allowed  map[int64]bool // true allowed, false denied
	window   fakekit.Window
	hookURL  string
	readPlan time.Duration
	events   int64
	media    fakekit.Files[mediaFile] // files users send (media.go)
	// the photo upload flow (upload.go)
	photos photoStore
}

// New starts a fake accepting Token for GroupID.
func New() *Server {
	s := &Server{
		Token: Token, GroupID: GroupID, Secret: "nudgeSecret42", Confirmation: "3b7e1c9a",
		RatePerSecond: 20,
		Now:           time.Now,
		After:         fakekit.AfterFunc,
		Client:        fakekit.NewClient(),
		nextID:        1000,
		dedupe:        map[[2]int64]Sent{},
		allowed:       map[int64]bool{},
	}
	s.URL = s.Serve(http.HandlerFunc(s.serve))
	return s
}

// APIURL is the base the client takes as its API URL.
func (s *Server) APIURL() string { return s.URL + "/method" }

// SentTo returns accepted messages to one peer.
func (s *Server) SentTo(peer int64) []Sent {
	return s.SentWhere(func(m Sent) bool { return m.PeerID == peer })
}

// Answers returns sendMessageEventAnswer calls.
func (s *Server) Answers() []EventAnswer { return s.answers.All() }

// FailNext makes the next send to peer fail with code, once.
func (s *Server) FailNext(peer int64, code int) {
	s.fails.Once(peer, code)
}

// SetPeer makes every send to peer fail with code (900, 901, 902) until 0.
func (s *Server) SetPeer(peer int64, code int) { s.fails.Put(peer, code) }

// SetCallback registers the Callback API server URL.
func (s *Server) SetCallback(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hookURL = url
}

// SetReadPlan posts message_read for every accepted message after d (0 = off).
func (s *Server) SetReadPlan(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.readPlan = d
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	_ = json.NewEncoder(w).Encode(v)
}

func vkError(w http.ResponseWriter, code int, params map[string]string) {
	var rp []map[string]string
	for k, v := range params {
		if k == "access_token" {
			continue
		}
		rp = append(rp, map[string]string{"key": k, "value": v})
	}
	writeJSON(w, map[string]any{"error": map[string]any{"error_code": code, "error_msg": errMessages[code], "request_params": rp}})
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, mediaPrefix) {
		s.serveMedia(w, r)
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == uploadPrefix {
		s.serveUpload(w, r)
		return
	}
	if r.Method == http.MethodPost && r.URL.Path == docUploadPrefix {
		s.serveDocUpload(w, r)
		return
	}
	method, found := strings.CutPrefix(r.URL.Path, "/method/")
	if !found {
		http.NotFound(w, r)
		return
	}
	if err := r.ParseForm(); err != nil {
		vkError(w, 100, nil)
		return
	}
	p := map[string]string{}
	for k, v := range r.Form {
		p[k] = v[0]
	}
	tok := p["access_token"]
	if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
		tok = strings.TrimPrefix(auth, "Bearer ")
	}
	if tok != s.Token {
		vkError(w, 5, p)
		return
	}
	if p["v"] == "" {
		vkError(w, 8, p)
		return
	}
	now := s.Now()
	s.mu.Lock()
	if !s.window.Admit(now, time.Second, s.RatePerSecond) {
		s.mu.Unlock()
		vkError(w, 6, p)
		return
	}
	s.mu.Unlock()
	switch method {
	case "messages.send":
		s.send(w, p, now)
	case "execute":
		s.execute(w, p, now)
	case "messages.sendMessageEventAnswer":
		uid, _ := strconv.ParseInt(p["user_id"], 10, 64)
		pid, _ := strconv.ParseInt(p["peer_id"], 10, 64)
		if p["event_id"] == "" || uid == 0 || pid == 0 {
			vkError(w, 100, p)
			return
		}
		s.answers.Add(EventAnswer{EventID: p["event_id"], UserID: uid, PeerID: pid})
		writeJSON(w, map[string]any{"response": 1})
	case "photos.getMessagesUploadServer":
		s.getUploadServer(w, p)
	case "photos.saveMessagesPhoto":
		s.saveMessagesPhoto(w, p, now)
	case "docs.getMessagesUploadServer":
		s.getDocUploadServer(w, p)
	case "docs.save":
		s.saveDoc(w, p, now)
	case "groups.getCallbackConfirmationCode":
		writeJSON(w, map[string]any{"response": map[string]string{"code": s.Confirmation}})
	default:
		vkError(w, 3, p)
	}
}

var attachmentRe = regexp.MustCompile(`^(photo|doc|video|audio|wall)-?\d+_\d+(_[0-9a-f]+)?$`)

func (s *Server) send(w http.ResponseWriter, p map[string]string, now time.Time) {
	id, code := s.sendCall(p, now)
	if code != 0 {
		vkError(w, code, p)
		return
	}
	writeJSON(w, map[string]any{"response": id})
}

// sendCall is one messages.send, alone or inside execute: the message id,
// or the VK error code it fails with.
func (s *Server) sendCall(p map[string]string, now time.Time) (int64, int) {
	peer, err := strconv.ParseInt(p["peer_id"], 10, 64)
	if err != nil || peer == 0 {
		peer, err = strconv.ParseInt(p["user_id"], 10, 64)
	}
	if err != nil || peer == 0 {
		return 0, 100
	}
	rid, err := strconv.ParseInt(p["random_id"], 10, 64)
	if err != nil || rid < -1<<31 || rid > 1<<31-1 {
		return 0, 100
	}
	text, att := p["message"], p["attachment"]
	if text == "" && att == "" {
		return 0, 100
	}
	if utf8.RuneCountInString(text) > MaxText {
		return 0, 914
	}
	for _, a := range strings.Split(att, ",") {
		if a != "" && (!attachmentRe.MatchString(a) || !s.knownPhoto(a)) {
			return 0, 100
		}
	}
	m := Sent{PeerID: peer, RandomID: rid, Text: text, Attachment: att, At: now}
	if kb := p["keyboard"]; kb != "" {
		rows, inline, ok := checkKeyboard(kb)
		if !ok {
			return 0, 911
		}
		m.Keyboard, m.Inline = rows, inline
	}
	s.mu.Lock()
	if code, bad := s.fails.For(peer); bad {
		s.mu.Unlock()
		return 0, code
	}
	if ok, known := s.allowed[peer]; (known && !ok) || (!known && s.RequireAllowed) {
		s.mu.Unlock()
		return 0, 901
	}
	key := [2]int64{peer, rid}
	if prev, dup := s.dedupe[key]; dup && rid != 0 && now.Sub(prev.At) < DedupeWindow {
		s.mu.Unlock()
		return prev.MessageID, 0
	}
	s.nextID++
	m.MessageID = s.nextID
	s.Record(m)
	if rid != 0 {
		s.dedupe[key] = m
	}
	plan := s.readPlan
	s.mu.Unlock()
	if plan > 0 {
		s.After(plan, func() {
			if _, _, err := s.Post(context.Background(), s.MessageRead(peer, m.MessageID)); err != nil && s.OnReceiptError != nil {
				s.OnReceiptError(err)
			}
		})
	}
	return m.MessageID, 0
}

func checkKeyboard(raw string) ([][]Button, bool, bool) {
	var kb struct {
		Inline  bool `json:"inline"`
		Buttons [][]struct {
			Action struct {
				Type    string `json:"type"`
				Label   string `json:"label"`
				Payload string `json:"payload"`
				Link    string `json:"link"`
			} `json:"action"`
			Color string `json:"color"`
		} `json:"buttons"`
	}
	if json.Unmarshal([]byte(raw), &kb) != nil {
		return nil, false, false
	}
	maxRows := 10
	if kb.Inline {
		maxRows = MaxInlineRows
	}
	if len(kb.Buttons) > maxRows {
		return nil, false, false
	}
	var out [][]Button
	for _, row := range kb.Buttons {
		width := 0
		var r []Button
		for _, b := range row {
			a := b.Action
			if len(a.Payload) > MaxPayload || (a.Payload != "" && !json.Valid([]byte(a.Payload))) {
				return nil, false, false
			}
			switch a.Type {
			case "text", "callback":
				width++
				if a.Label == "" || utf8.RuneCountInString(a.Label) > MaxLabel {
					return nil, false, false
				}
			case "open_link":
				width += 2
				if a.Link == "" || a.Label == "" || utf8.RuneCountInString(a.Label) > MaxLabel {
					return nil, false, false
				}
			case "location", "vkpay", "open_app":
				width += 2
			default:
				return nil, false, false
			}
			switch b.Color {
			case "", "primary", "secondary", "negative", "positive":
			default:
				return nil, false, false
			}
			r = append(r, Button{Type: a.Type, Label: a.Label, Payload: a.Payload, Link: a.Link})
		}
		if width == 0 || width > MaxRowWidth {
			return nil, false, false
		}
		out = append(out, r)
	}
	return out, kb.Inline, true
}

// --- Callback API ----------------------------------------------------------

func (s *Server) eventID() string {
	s.mu.Lock()
	s.events++
	n := s.events
	s.mu.Unlock()
	sum := sha1.Sum([]byte("vkfake-event-" + strconv.FormatInt(n, 10)))
	return hex.EncodeToString(sum[:])
}

// Event builds a Callback API body of type typ with object and the secret.
func (s *Server) Event(typ string, object any) []byte {
	b, _ := json.Marshal(map[string]any{"type": typ, "object": object, "group_id": s.GroupID, "event_id": s.eventID(), "v": "5.199", "secret": s.Secret})
	return b
}

// ConfirmationRequest builds the confirmation request VK sends when a server is added.
func (s *Server) ConfirmationRequest() []byte {
	b, _ := json.Marshal(map[string]any{"type": "confirmation", "group_id": s.GroupID, "secret": s.Secret})
	return b
}

// Allow marks user as allowing messages from the community (false: denied).
func (s *Server) Allow(user int64, allowed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.allowed[user] = allowed
}

// The event builders model the user's action on the fake's state too:
// MessageNew and MessageAllow allow messages, MessageDeny makes later sends
// fail with 901.

// MessageNew builds an inbound message; payload is a button's payload ("" for
// typed text), ref the vk.me ?ref= value of a first message.
func (s *Server) MessageNew(peer int64, text, payload, ref string) []byte {
	return s.messageNew(peer, text, payload, ref, []any{})
}

// MessageNewWith builds an inbound message carrying attachments (from
// PhotoAttachment, DocAttachment, VoiceAttachment) and an optional text.
func (s *Server) MessageNewWith(peer int64, text string, attachments ...map[string]any) []byte {
	atts := make([]any, len(attachments))
	for i, a := range attachments {
		atts[i] = a
	}
	return s.messageNew(peer, text, "", "", atts)
}

func (s *Server) messageNew(peer int64, text, payload, ref string, attachments []any) []byte {
	s.Allow(peer, true)
	s.mu.Lock()
	s.nextID++
	id := s.nextID
	s.mu.Unlock()
	m := map[string]any{"date": s.Now().Unix(), "from_id": peer, "id": id, "out": 0, "peer_id": peer, "text": text, "conversation_message_id": id - 1000, "fwd_messages": []any{}, "important": false, "random_id": 0, "attachments": attachments, "is_hidden": false}
	if payload != "" {
		m["payload"] = payload
	}
	if ref != "" {
		m["ref"], m["ref_source"] = ref, "checkout"
	}
	return s.Event("message_new", map[string]any{"message": m, "client_info": map[string]any{"button_actions": []string{"text", "vkpay", "open_app", "location", "open_link", "callback"}, "keyboard": true, "inline_keyboard": true, "carousel": true, "lang_id": 0}})
}

// MessageEvent builds a callback-button press.
func (s *Server) MessageEvent(peer int64, payload string, conversationMessageID int64) []byte {
	return s.Event("message_event", map[string]any{"user_id": peer, "peer_id": peer, "event_id": s.eventID()[:12], "payload": json.RawMessage(payload), "conversation_message_id": conversationMessageID})
}

// MessageAllow builds message_allow with the widget key.
func (s *Server) MessageAllow(user int64, key string) []byte {
	s.Allow(user, true)
	return s.Event("message_allow", map[string]any{"user_id": user, "key": key})
}

// MessageDeny builds message_deny.
func (s *Server) MessageDeny(user int64) []byte {
	s.Allow(user, false)
	return s.Event("message_deny", map[string]any{"user_id": user})
}

// MessageRead builds message_read up to readMessageID.
func (s *Server) MessageRead(peer, readMessageID int64) []byte {
	return s.Event("message_read", map[string]any{"from_id": peer, "peer_id": peer, "read_message_id": readMessageID})
}

// Post sends a callback body to the registered URL (with the VK retry
// header absent) and returns status and response body.
func (s *Server) Post(ctx context.Context, body []byte) (int, string, error) {
	s.mu.Lock()
	u := s.hookURL
	s.mu.Unlock()
	if u == "" {
		return 0, "", fmt.Errorf("vkfake: no callback server registered")
	}
	return s.PostTo(ctx, u, body)
}

// PostTo sends a callback body to url.
func (s *Server) PostTo(ctx context.Context, url string, body []byte) (int, string, error) {
	st, b, err := fakekit.Post(ctx, s.Client, url, "application/json", body, map[string]string{"User-Agent": "VKCallbackAPI/1.0"})
	return st, string(b), err
}
