// Package viberfake is an in-process Viber REST Bot API server for tests, the
// demo and benchmarks. It checks X-Viber-Auth-Token, answers HTTP 200 with a
// status code like the real API, enforces the message limits (text length,
// tracking_data, keyboard buttons and action types, 30 KB bodies, sender
// name), the 100-messages-an-hour-without-reply rule (status 12), plays
// scripted statuses per receiver, and posts signed callbacks (message,
// conversation_started, subscribed, unsubscribed, delivered, seen, failed) to
// the registered webhook, with delivered/seen/failed on a scriptable timer.
// Files users send (AddFile, MediaMessage) are served at public media URLs.
package viberfake

import (
	"context"
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
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// Token is a realistic auth token (the format Viber's admin panel shows).
const Token = "4453b6ac12345678-e02c5f12174805f9-9a31b2d3f5a6c7e8"

// Limits the fake enforces.
const (
	MaxText         = 7000
	MaxCaption      = 512
	MaxTrackingData = 4096
	MaxSenderName   = 28
	MaxButtons      = 24
	MaxBody         = 30 << 10
	PerUserPerHour  = 100
	MaxFile         = 50 << 20
)

var statusMessages = map[int]string{
	0: "ok", 1: "invalidUrl", 2: "invalidAuthToken", 3: "badData", 4: "missingData",
	5: "receiverNotRegistered", 6: "receiverNotSubscribed", 7: "publicAccountBlocked",
	8: "publicAccountNotFound", 9: "publicAccountSuspended", 10: "webhookNotSet",
	11: "receiverNoSuitableDevice", 12: "tooManyRequests", 13: "apiVersionNotSupported",
	14: "incompatibleWithVersion",
}

// Button is a recorded keyboard button.
type Button struct {
	ActionType string `json:"ActionType"`
	ActionBody string `json:"ActionBody"`
	Text       string `json:"Text"`
}

// Sent is an accepted send_message.
type Sent struct {
	MessageToken int64
	Receiver     string
	Type         string
	Text         string
	Media        string
	TrackingData string
	SenderName   string
	Keyboard     []Button
	// Images are the button images of a rich_media message, in order.
	Images []string
	// Size and FileName are a file message's.
	Size     int64
	FileName string
	At       time.Time
}

// Plan scripts the receipts of messages to a receiver: delivered after
// DeliveredAfter, seen after SeenAfter (0 = never), or failed with Fail as
// "desc" after DeliveredAfter when Fail is set. Without a plan no receipts
// are sent.
type Plan struct {
	DeliveredAfter time.Duration
	SeenAfter      time.Duration
	Fail           string
}

// Server is the fake.
type Server struct {
	URL   string
	Token string
	Now   func() time.Time
	// After schedules receipts; defaults to time.AfterFunc. Tests replace it
	// to run receipts at once or collect them.
	After  func(d time.Duration, f func())
	Client *http.Client
	// OnReceiptError receives errors posting receipts (default: ignored).
	OnReceiptError func(error)
	// RequireSubscribed makes sends to users who never subscribed or wrote
	// (no Subscribed/Message built for them, no Subscribe) fail with status 6,
	// as on Viber. Users who unsubscribed always get status 6.
	RequireSubscribed bool

	fakekit.Served[Sent]
	plans     fakekit.Plans[string, Plan]
	mu        sync.Mutex
	token     int64
	fails     fakekit.OnceBy[string, int]
	subs      map[string]bool // true subscribed, false unsubscribed
	states    fakekit.States[string, int]
	recent    fakekit.Windows[string] // sends since the user last wrote
	hookURL   string
	events    []string
	callbacks int64
	media     fakekit.Files[mediaFile] // files users send (media.go)
}

// New starts a fake accepting Token.
func New() *Server {
	s := &Server{
		Token:  Token,
		Now:    time.Now,
		After:  fakekit.AfterFunc,
		Client: fakekit.NewClient(),
		token:  5741311803571721087,
		subs:   map[string]bool{},
		recent: fakekit.Windows[string]{},
	}
	s.URL = s.Serve(http.HandlerFunc(s.serve))
	return s
}

// SentTo returns accepted messages to one receiver.
func (s *Server) SentTo(receiver string) []Sent {
	return s.SentWhere(func(m Sent) bool { return m.Receiver == receiver })
}

// FailNext makes the next send to receiver answer status, once. Several
// calls queue; status 0 lets its send through, so FailNext(r, 0) then
// FailNext(r, 11) fails the second send.
func (s *Server) FailNext(receiver string, status int) {
	s.fails.Add(receiver, status)
}

// SetReceiver makes every send to receiver answer status (5, 6, 11, …) until
// it is set to 0.
func (s *Server) SetReceiver(receiver string, status int) {
	if status == 0 {
		s.states.Clear(receiver)
		return
	}
	s.states.Set(receiver, status)
}

// SetPlan sets the receipt plan for every receiver without its own.
func (s *Server) SetPlan(p Plan) { s.plans.SetDefault(p) }

// SetReceiverPlan sets the receipt plan for one receiver.
func (s *Server) SetReceiverPlan(receiver string, p Plan) { s.plans.Set(receiver, p) }

// Webhook returns the registered webhook URL and event types.
func (s *Server) Webhook() (string, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hookURL, append([]string(nil), s.events...)
}

// SetWebhook registers url without the probe.
func (s *Server) SetWebhook(url string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hookURL = url
}

func (s *Server) answer(w http.ResponseWriter, status int, extra map[string]any) {
	body := map[string]any{"status": status, "status_message": statusMessages[status]}
	for k, v := range extra {
		body[k] = v
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(body) // always HTTP 200, like Viber
}

type keyboard struct {
	Type    string            `json:"Type"`
	Buttons []json.RawMessage `json:"Buttons"`
}

type message struct {
	Receiver      string `json:"receiver"`
	MinAPIVersion int    `json:"min_api_version"`
	Sender        *struct {
		Name   string `json:"name"`
		Avatar string `json:"avatar"`
	} `json:"sender"`
	TrackingData string     `json:"tracking_data"`
	Type         string     `json:"type"`
	Text         string     `json:"text"`
	Media        string     `json:"media"`
	Size         int64      `json:"size"`
	FileName     string     `json:"file_name"`
	Keyboard     *keyboard  `json:"keyboard"`
	AltText      string     `json:"alt_text"`
	RichMedia    *richMedia `json:"rich_media"`
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if (r.Method == http.MethodGet || r.Method == http.MethodHead) && strings.HasPrefix(r.URL.Path, mediaPrefix) {
		s.serveMedia(w, r)
		return
	}
	if r.Method != http.MethodPost {
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	tok := r.Header.Get("X-Viber-Auth-Token")
	if tok == "" {
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"status": 2, "status_message": "missing_auth_token"})
		return
	}
	if tok != s.Token {
		s.answer(w, 2, nil)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBody+1))
	if err != nil || len(body) > MaxBody {
		s.answer(w, 3, nil)
		return
	}
	switch r.URL.Path {
	case "/send_message":
		s.send(w, body)
	case "/set_webhook":
		s.setWebhook(r.Context(), w, body)
	case "/get_account_info":
		s.answer(w, 0, map[string]any{"id": "pa:5708129128520339029", "name": "Nudge Fake", "uri": "nudgefake", "subscribers_count": 0})
	default:
		http.NotFound(w, r)
	}
}

func (s *Server) send(w http.ResponseWriter, body []byte) {
	var m message
	if err := json.Unmarshal(body, &m); err != nil {
		s.answer(w, 3, nil)
		return
	}
	if st := check(&m); st != 0 {
		s.answer(w, st, nil)
		return
	}
	now := s.Now()
	s.mu.Lock()
	if st, scripted := s.fails.Next(m.Receiver); scripted && st != 0 {
		s.mu.Unlock()
		s.answer(w, st, nil)
		return
	}
	if st, bad := s.states.Of(m.Receiver); bad {
		s.mu.Unlock()
		s.answer(w, st, nil)
		return
	}
	if sub, known := s.subs[m.Receiver]; (known && !sub) || (!known && s.RequireSubscribed) {
		s.mu.Unlock()
		s.answer(w, 6, nil)
		return
	}
	if !s.recent.Of(m.Receiver).Admit(now, time.Hour, PerUserPerHour) {
		s.mu.Unlock()
		s.answer(w, 12, nil)
		return
	}
	s.token++
	sent := Sent{MessageToken: s.token, Receiver: m.Receiver, Type: m.Type, Text: m.Text, Media: m.Media, TrackingData: m.TrackingData, SenderName: m.Sender.Name, At: now,
		Images: m.RichMedia.images(), Size: m.Size, FileName: m.FileName}
	if m.Keyboard != nil {
		for _, raw := range m.Keyboard.Buttons {
			var b Button
			_ = json.Unmarshal(raw, &b)
			sent.Keyboard = append(sent.Keyboard, b)
		}
	}
	s.Record(sent)
	s.mu.Unlock()
	s.answer(w, 0, map[string]any{"message_token": sent.MessageToken, "chat_hostname": "SN-CHAT-01_"})
	if plan, ok := s.plans.For(m.Receiver); ok {
		s.schedule(plan, sent)
	}
}

func check(m *message) int {
	if m.Receiver == "" || m.Type == "" || m.Sender == nil {
		return 4
	}
	if n := utf8.RuneCountInString(m.Sender.Name); n == 0 || n > MaxSenderName {
		return 3
	}
	if len(m.TrackingData) > MaxTrackingData {
		return 3
	}
	switch m.Type {
	case "text":
		if n := utf8.RuneCountInString(m.Text); n == 0 || n > MaxText {
			return 3
		}
	case "picture":
		if m.Media == "" {
			return 4
		}
		if utf8.RuneCountInString(m.Text) > MaxCaption {
			return 3
		}
	case "rich_media":
		if st := checkRichMedia(m); st != 0 {
			return st
		}
	case "file":
		// Viber needs the size in bytes and the name, and takes files up to 50 MB.
		if m.Media == "" || m.Size <= 0 || m.FileName == "" {
			return 4
		}
		if m.Size > MaxFile {
			return 3
		}
	case "url", "contact", "location", "sticker", "video":
	default:
		return 3
	}
	if m.Keyboard != nil {
		if m.Keyboard.Type != "keyboard" || len(m.Keyboard.Buttons) == 0 || len(m.Keyboard.Buttons) > MaxButtons {
			return 3
		}
		for _, raw := range m.Keyboard.Buttons {
			var b Button
			if json.Unmarshal(raw, &b) != nil || b.ActionBody == "" {
				return 3
			}
			switch b.ActionType {
			case "", "reply", "open-url", "location-picker", "share-phone", "none":
			default:
				return 3
			}
		}
	}
	return 0
}

func (s *Server) setWebhook(ctx context.Context, w http.ResponseWriter, body []byte) {
	var req struct {
		URL        string   `json:"url"`
		EventTypes []string `json:"event_types"`
	}
	if err := json.Unmarshal(body, &req); err != nil {
		s.answer(w, 3, nil)
		return
	}
	if req.URL == "" {
		s.mu.Lock()
		s.hookURL = ""
		s.mu.Unlock()
		s.answer(w, 0, nil)
		return
	}
	// Viber probes the URL at once and only registers it on 200.
	probe, _ := json.Marshal(map[string]any{"event": "webhook", "timestamp": s.Now().UnixMilli(), "chat_hostname": "SN-CHAT-01_", "message_token": s.nextCallbackToken()})
	st, _, err := s.PostTo(ctx, req.URL, probe)
	if err != nil || st != http.StatusOK {
		s.answer(w, 1, nil)
		return
	}
	s.mu.Lock()
	s.hookURL, s.events = req.URL, req.EventTypes
	s.mu.Unlock()
	s.answer(w, 0, map[string]any{"event_types": req.EventTypes})
}

func (s *Server) schedule(p Plan, m Sent) {
	post := func(body []byte) {
		if _, _, err := s.Post(context.Background(), body); err != nil && s.OnReceiptError != nil {
			s.OnReceiptError(err)
		}
	}
	if p.Fail != "" {
		s.After(p.DeliveredAfter, func() { post(s.Failed(m.MessageToken, m.Receiver, p.Fail)) })
		return
	}
	s.After(p.DeliveredAfter, func() { post(s.Delivered(m.MessageToken, m.Receiver)) })
	if p.SeenAfter > 0 {
		s.After(p.SeenAfter, func() { post(s.Seen(m.MessageToken, m.Receiver)) })
	}
}

func (s *Server) nextCallbackToken() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.callbacks++
	return 5000000000000000000 + s.callbacks
}

// Subscribe marks userID as subscribed (false: unsubscribed).
func (s *Server) Subscribe(userID string, subscribed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.subs[userID] = subscribed
}

// UserID builds a realistic Viber user id for n.
func UserID(n int) string { return fmt.Sprintf("01234567890A%03d+Q==", n%1000) }

func (s *Server) user(id string) map[string]any {
	return map[string]any{"id": id, "name": "Анна Петрова", "avatar": "https://media-direct.cdn.viber.com/download_photo?dlid=x", "language": "ru", "country": "RU", "api_version": 10}
}

func (s *Server) marshal(v map[string]any) []byte {
	if _, has := v["timestamp"]; !has {
		v["timestamp"] = s.Now().UnixMilli()
	}
	v["chat_hostname"] = "SN-CHAT-01_"
	b, _ := json.Marshal(v)
	return b
}

// The callback builders model the user's action on the fake's state too:
// Message and Subscribed subscribe the user, Unsubscribed makes later sends
// fail with status 6.

// Message builds a user's text message; trackingData is what the bot's last
// message carried (a keyboard reply carries text = ActionBody). It also
// resets the user's 100-an-hour counter, as a reply does on Viber.
func (s *Server) Message(userID, text, trackingData string) []byte {
	s.mu.Lock()
	delete(s.recent, userID)
	s.subs[userID] = true // a user's first message subscribes them
	s.mu.Unlock()
	msg := map[string]any{"type": "text", "text": text}
	if trackingData != "" {
		msg["tracking_data"] = trackingData
	}
	return s.marshal(map[string]any{"event": "message", "message_token": s.nextCallbackToken(), "sender": s.user(userID), "message": msg, "silent": false})
}

// ConversationStarted builds the callback of a deep link open with context.
func (s *Server) ConversationStarted(userID, context string) []byte {
	return s.marshal(map[string]any{"event": "conversation_started", "type": "open", "context": context, "user": s.user(userID), "message_token": s.nextCallbackToken(), "subscribed": false})
}

// Subscribed builds a subscribed callback.
func (s *Server) Subscribed(userID string) []byte {
	s.Subscribe(userID, true)
	return s.marshal(map[string]any{"event": "subscribed", "user": s.user(userID), "message_token": s.nextCallbackToken()})
}

// Unsubscribed builds an unsubscribed callback.
func (s *Server) Unsubscribed(userID string) []byte {
	s.Subscribe(userID, false)
	return s.marshal(map[string]any{"event": "unsubscribed", "user_id": userID, "message_token": s.nextCallbackToken()})
}

// Delivered builds a delivered receipt for a sent message.
func (s *Server) Delivered(token int64, userID string) []byte {
	return s.marshal(map[string]any{"event": "delivered", "message_token": token, "user_id": userID})
}

// Seen builds a seen receipt.
func (s *Server) Seen(token int64, userID string) []byte {
	return s.marshal(map[string]any{"event": "seen", "message_token": token, "user_id": userID})
}

// Failed builds a failed receipt with desc.
func (s *Server) Failed(token int64, userID, desc string) []byte {
	return s.marshal(map[string]any{"event": "failed", "message_token": token, "user_id": userID, "desc": desc})
}

// Sign is the X-Viber-Content-Signature of body.
func Sign(token string, body []byte) string {
	m := hmac.New(sha256.New, []byte(token))
	m.Write(body)
	return hex.EncodeToString(m.Sum(nil))
}

// Post sends a callback to the registered webhook, signed with the token,
// and returns the status and response body.
func (s *Server) Post(ctx context.Context, body []byte) (int, []byte, error) {
	u, _ := s.Webhook()
	if u == "" {
		return 0, nil, fmt.Errorf("viberfake: no webhook registered")
	}
	return s.PostTo(ctx, u, body)
}

// PostTo sends a callback to url signed with the token.
func (s *Server) PostTo(ctx context.Context, url string, body []byte) (int, []byte, error) {
	return s.PostSigned(ctx, url, Sign(s.Token, body), body)
}

// PostSigned sends a callback with an explicit signature ("" = none).
func (s *Server) PostSigned(ctx context.Context, url, signature string, body []byte) (int, []byte, error) {
	return fakekit.Post(ctx, s.Client, url, "application/json", body, map[string]string{"X-Viber-Content-Signature": signature})
}

// TokenString formats a message token as the adapter's ProviderID.
func TokenString(t int64) string { return strconv.FormatInt(t, 10) }
