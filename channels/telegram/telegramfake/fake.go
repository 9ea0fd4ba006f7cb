// Package telegramfake is an in-process Telegram Bot API server for tests,
// the demo and benchmarks. It accepts what real clients send (JSON,
// application/x-www-form-urlencoded and multipart/form-data, at
// /bot<token>/<method> with case-insensitive method names), validates
// parameters against a table derived from the Bot API 10.1 spec
// (methods.json), enforces the text, caption, callback_data and keyboard
// limits, records accepted messages, plays scripted failures (429 with
// retry_after, blocked or deactivated users, unknown chats) and posts updates
// to the registered webhook with the real secret header.
package telegramfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
)

// Token is a realistic bot token (digits:35 characters) the fake accepts by default.
const Token = "7012345678:AAFh3kQ9xYvZ2mN8pL4rT6sW1uE5oI7cB0d"

// BotID is the bot's user id (the digits of Token).
const BotID = 7012345678

// Limits of the real Bot API.
const (
	MaxText         = 4096 // UTF-16 units after entity parsing
	MaxCaption      = 1024
	MaxCallbackData = 64 // bytes
	MaxButtons      = 100
	MaxAnswerText   = 200
)

// Failure is a scripted Bot API error.
type Failure struct {
	Code        int
	Description string
	RetryAfter  int // seconds, for 429
}

// Ready-made failures with the real descriptions.
var (
	Blocked       = Failure{403, "Forbidden: bot was blocked by the user", 0}
	Deactivated   = Failure{403, "Forbidden: user is deactivated", 0}
	CantInitiate  = Failure{403, "Forbidden: bot can't initiate conversation with a user", 0}
	ChatNotFound  = Failure{400, "Bad Request: chat not found", 0}
	UserIsBlocked = Failure{400, "Bad Request: USER_IS_BLOCKED", 0}
	ServerError   = Failure{502, "Bad Gateway", 0}
	// Pass is a queued FailNext entry that fails nothing.
	Pass = Failure{}
)

// TooManyRequests is the real 429 answer for retry seconds.
func TooManyRequests(retry int) Failure {
	return Failure{429, fmt.Sprintf("Too Many Requests: retry after %d", retry), retry}
}

// Button is a recorded inline keyboard button.
type Button struct {
	Text         string `json:"text"`
	CallbackData string `json:"callback_data,omitempty"`
	URL          string `json:"url,omitempty"`
	Pay          bool   `json:"pay,omitempty"`
}

// Sent is an accepted sendMessage, sendPhoto or sendDocument, or one item
// of a sendMediaGroup.
type Sent struct {
	MessageID int64
	ChatID    int64
	Method    string // sendMessage | sendPhoto
	Encoding  string // json | form | multipart
	Text      string // text or caption
	Photo     string // URL, file_id or "upload:<filename>"
	// Document is sendDocument's file; MediaGroupID joins the messages
	// of one sendMediaGroup (album.go).
	Document     string
	MediaGroupID string
	ParseMode    string
	Keyboard     [][]Button
	At           time.Time
}

// Answer is a recorded answerCallbackQuery.
type Answer struct {
	CallbackQueryID string
	Text            string
}

// Server is the fake. Create it with New and Close it when done.
type Server struct {
	URL   string // base URL: give it to the client as its API URL
	Token string
	// Now stamps message dates; defaults to time.Now.
	Now func() time.Time
	// Client posts webhooks; defaults to a 10s-timeout client.
	Client *http.Client
	// PerSecond and PerChatPerSecond, when positive, make sends beyond that
	// many in the last second (across chats / to one chat) fail with 429 and
	// retry_after 1, like Telegram's flood control. Off by default: the real
	// limits are soft and bursts are tolerated.
	PerSecond        int
	PerChatPerSecond int
	// RequireStart makes sends to chats that never wrote to the bot (no
	// TextUpdate/CallbackUpdate built for them, no StartChat) fail with 400
	// "chat not found", as Telegram does: users write first.
	RequireStart bool
	// ProviderToken is the payment provider token sendInvoice accepts for
	// currencies other than Stars; "" = the package's ProviderToken.
	ProviderToken string

	fakekit.Served[Sent]
	answers  fakekit.Log[Answer]
	mu       sync.Mutex
	nextID   map[int64]int64
	calls    map[string]int
	fails    fakekit.Failures[int64, Failure]
	failAll  fakekit.Once[Failure]
	started  map[int64]bool
	window   fakekit.Window
	chatWin  fakekit.Windows[int64]
	hookURL  string
	secret   string
	allowed  []string
	updateID int64
	files    map[string]*file
	pay      payments
}

// New starts a fake accepting Token.
func New() *Server {
	s := &Server{
		Token:   Token,
		Now:     time.Now,
		Client:  fakekit.NewClient(),
		nextID:  map[int64]int64{},
		calls:   map[string]int{},
		chatWin: fakekit.Windows[int64]{},
		started: map[int64]bool{},
	}
	s.updateID = 800000000
	s.URL = s.Serve(http.HandlerFunc(s.serve))
	return s
}

// SentTo returns the accepted messages for one chat.
func (s *Server) SentTo(chatID int64) []Sent {
	return s.SentWhere(func(m Sent) bool { return m.ChatID == chatID })
}

// Answers returns the answerCallbackQuery calls.
func (s *Server) Answers() []Answer { return s.answers.All() }

// Calls returns how many requests reached method (any outcome).
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[strings.ToLower(method)]
}

// FailNext makes the next send to chatID fail with f, once. Several calls
// queue; Pass lets its send through, so FailNext(c, Pass) then
// FailNext(c, ServerError) fails the second send.
func (s *Server) FailNext(chatID int64, f Failure) {
	s.fails.Once(chatID, f)
}

// FailNextAny makes the next send to any chat fail with f, once.
func (s *Server) FailNextAny(f Failure) {
	s.failAll.Add(f)
}

// SetChat makes every send to chatID fail with f until ClearChat (Blocked,
// Deactivated, ChatNotFound, CantInitiate).
func (s *Server) SetChat(chatID int64, f Failure) { s.fails.Put(chatID, f) }

// ClearChat makes chatID reachable again.
func (s *Server) ClearChat(chatID int64) { s.fails.Put(chatID, Failure{}) }

// Webhook returns what setWebhook registered.
func (s *Server) Webhook() (url, secret string, allowed []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hookURL, s.secret, append([]string(nil), s.allowed...)
}

// SetWebhook registers a webhook directly (as if setWebhook had been called).
func (s *Server) SetWebhook(url, secret string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.hookURL, s.secret = url, secret
}

type apiError struct {
	OK          bool           `json:"ok"`
	ErrorCode   int            `json:"error_code"`
	Description string         `json:"description"`
	Parameters  map[string]any `json:"parameters,omitempty"`
}

func fail(w http.ResponseWriter, f Failure) {
	e := apiError{ErrorCode: f.Code, Description: f.Description}
	if f.RetryAfter > 0 {
		e.Parameters = map[string]any{"retry_after": f.RetryAfter}
	}
	fakekit.WriteJSON(w, f.Code, e)
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	fail(w, Failure{Code: 400, Description: "Bad Request: " + fmt.Sprintf(format, args...)})
}

func ok(w http.ResponseWriter, result any) {
	fakekit.WriteJSON(w, http.StatusOK, map[string]any{"ok": true, "result": result})
}

var pathRe = regexp.MustCompile(`^/bot([^/]+)/(?:test/)?([A-Za-z]+)$`)

var filePathRe = regexp.MustCompile(`^/file/bot([^/]+)/(.+)$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == PayPath {
		s.servePay(w, r)
		return
	}
	if m := filePathRe.FindStringSubmatch(r.URL.Path); m != nil {
		s.serveFile(w, r, m[1], m[2])
		return
	}
	m := pathRe.FindStringSubmatch(r.URL.Path)
	if m == nil {
		fail(w, Failure{404, "Not Found", 0})
		return
	}
	if m[1] != s.Token {
		fail(w, Failure{401, "Unauthorized", 0})
		return
	}
	method := strings.ToLower(m[2])
	spec, known := methods[method]
	if !known {
		fail(w, Failure{404, "Not Found: method not found", 0})
		return
	}
	s.mu.Lock()
	s.calls[method]++
	s.mu.Unlock()
	p, enc, err := readParams(r)
	if err != nil {
		badRequest(w, "%v", err)
		return
	}
	if msg := checkParams(spec, p); msg != "" {
		badRequest(w, "%s", msg)
		return
	}
	switch method {
	case "getme":
		ok(w, map[string]any{"id": BotID, "is_bot": true, "first_name": "Nudge Fake", "username": "nudge_fake_bot", "can_join_groups": false})
	case "setwebhook":
		s.setWebhook(w, p)
	case "deletewebhook":
		s.SetWebhook("", "")
		ok(w, true)
	case "getwebhookinfo":
		u, _, allowed := s.Webhook()
		ok(w, map[string]any{"url": u, "has_custom_certificate": false, "pending_update_count": 0, "allowed_updates": allowed})
	case "answercallbackquery":
		if n := len(utf16.Encode([]rune(p["text"]))); n > MaxAnswerText {
			badRequest(w, "MESSAGE_TOO_LONG")
			return
		}
		s.answers.Add(Answer{CallbackQueryID: p["callback_query_id"], Text: p["text"]})
		ok(w, true)
	case "getfile":
		s.getFile(w, p)
	case "sendmessage", "sendphoto":
		s.send(w, method, enc, p)
	case "sendmediagroup":
		s.sendMediaGroup(w, enc, p)
	case "senddocument":
		s.sendDocument(w, enc, p)
	case "sendinvoice":
		s.sendInvoice(w, p)
	case "answerprecheckoutquery":
		s.answerPreCheckout(w, p)
	}
}

var secretRe = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)

func (s *Server) setWebhook(w http.ResponseWriter, p map[string]string) {
	u, err := url.Parse(p["url"])
	if p["url"] != "" && (err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "") {
		badRequest(w, "bad webhook: An HTTPS URL must be provided for webhook")
		return
	}
	if sec, has := p["secret_token"]; has && !secretRe.MatchString(sec) {
		badRequest(w, "secret token contains unallowed characters")
		return
	}
	var allowed []string
	if a := p["allowed_updates"]; a != "" {
		if err := json.Unmarshal([]byte(a), &allowed); err != nil {
			badRequest(w, "can't parse allowed updates JSON object")
			return
		}
	}
	s.mu.Lock()
	s.hookURL, s.secret, s.allowed = p["url"], p["secret_token"], allowed
	s.mu.Unlock()
	ok(w, true)
}

func (s *Server) send(w http.ResponseWriter, method, enc string, p map[string]string) {
	chat, err := strconv.ParseInt(p["chat_id"], 10, 64)
	if err != nil {
		fail(w, ChatNotFound) // @usernames of private users are never resolvable
		return
	}
	sent := Sent{ChatID: chat, Encoding: enc, ParseMode: p["parse_mode"]}
	if method == "sendmessage" {
		sent.Method, sent.Text = "sendMessage", p["text"]
		n, perr := visibleLen(p["text"], p["parse_mode"])
		if perr != "" {
			badRequest(w, "can't parse entities: %s", perr)
			return
		}
		if n == 0 {
			badRequest(w, "message text is empty")
			return
		}
		if n > MaxText {
			badRequest(w, "message is too long")
			return
		}
	} else {
		sent.Method, sent.Text, sent.Photo = "sendPhoto", p["caption"], p["photo"]
		if msg := checkCaption(p["caption"], p["parse_mode"]); msg != "" {
			badRequest(w, "%s", msg)
			return
		}
		if !remoteFile(sent.Photo) {
			badRequest(w, "wrong remote file identifier specified: Wrong string length")
			return
		}
	}
	s.accept(w, sent, p["reply_markup"])
}

// accept checks the keyboard of a one-message send, plays scripted
// failures and flood control, and records and answers the message.
func (s *Server) accept(w http.ResponseWriter, sent Sent, replyMarkup string) {
	if replyMarkup != "" {
		kb, msg := checkKeyboard(replyMarkup)
		if msg != "" {
			badRequest(w, "%s", msg)
			return
		}
		sent.Keyboard = kb
	}
	ids, now, f := s.admit(sent.ChatID, 1)
	if f != nil {
		fail(w, *f)
		return
	}
	sent.MessageID, sent.At = ids[0], now
	s.Record(sent)
	ok(w, message(sent))
}

// admit plays the scripted failures and flood control of a send to chat
// and, when it goes through, numbers its n messages.
func (s *Server) admit(chat int64, n int) ([]int64, time.Time, *Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if f, scripted := s.failAll.Next(); scripted {
		return nil, time.Time{}, &f
	}
	if f, bad := s.fails.For(chat); bad {
		return nil, time.Time{}, &f
	}
	if s.RequireStart && !s.started[chat] {
		f := ChatNotFound
		return nil, time.Time{}, &f
	}
	now := s.Now()
	if s.flooded(chat, now) {
		f := TooManyRequests(1)
		return nil, time.Time{}, &f
	}
	ids := make([]int64, n)
	for i := range ids {
		s.nextID[chat]++
		ids[i] = s.nextID[chat]
	}
	return ids, now, nil
}

// keyboardParam reads reply_markup (nil when absent) or answers w with
// Telegram's error and returns false.
func keyboardParam(w http.ResponseWriter, p map[string]string) ([][]Button, bool) {
	if p["reply_markup"] == "" {
		return nil, true
	}
	kb, msg := checkKeyboard(p["reply_markup"])
	if msg != "" {
		badRequest(w, "%s", msg)
		return nil, false
	}
	return kb, true
}

// flooded applies PerSecond and PerChatPerSecond; s.mu is held.
func (s *Server) flooded(chat int64, now time.Time) bool {
	if s.PerSecond > 0 && s.window.Full(now, time.Second, s.PerSecond) {
		return true
	}
	if s.PerChatPerSecond > 0 && s.chatWin.Of(chat).Full(now, time.Second, s.PerChatPerSecond) {
		return true
	}
	if s.PerSecond > 0 {
		s.window.Add(now)
	}
	if s.PerChatPerSecond > 0 {
		s.chatWin.Of(chat).Add(now)
	}
	return false
}
