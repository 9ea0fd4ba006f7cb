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
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode/utf16"
)

// Token is a realistic bot token (digits:35 characters) the fake accepts by default.
const Token = "7012345678:AAFh3kQ9xYvZ2mN8pL4rT6sW1uE5oI7cB0d"

// BotID is the bot's user id (the digits of Token).
const BotID = 7012345678

//go:embed methods.json
var methodsJSON []byte

type field struct {
	Types    []string `json:"types"`
	Required bool     `json:"required"`
}

var methods = func() map[string]map[string]field {
	var spec struct {
		Methods map[string]map[string]field `json:"methods"`
	}
	if err := json.Unmarshal(methodsJSON, &spec); err != nil {
		panic("telegramfake: methods.json: " + err.Error())
	}
	out := map[string]map[string]field{}
	for name, f := range spec.Methods {
		out[strings.ToLower(name)] = f
	}
	return out
}()

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
}

// Sent is an accepted sendMessage or sendPhoto.
type Sent struct {
	MessageID int64
	ChatID    int64
	Method    string // sendMessage | sendPhoto
	Encoding  string // json | form | multipart
	Text      string // text or caption
	Photo     string // URL, file_id or "upload:<filename>"
	ParseMode string
	Keyboard  [][]Button
	At        time.Time
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

	srv      *httptest.Server
	mu       sync.Mutex
	nextID   map[int64]int64
	sent     []Sent
	answers  []Answer
	calls    map[string]int
	fails    map[int64][]Failure
	failAll  []Failure
	states   map[int64]Failure
	started  map[int64]bool
	window   []time.Time
	chatWin  map[int64][]time.Time
	hookURL  string
	secret   string
	allowed  []string
	updateID int64
}

// New starts a fake accepting Token.
func New() *Server {
	s := &Server{
		Token:   Token,
		Now:     time.Now,
		Client:  &http.Client{Timeout: 10 * time.Second},
		nextID:  map[int64]int64{},
		calls:   map[string]int{},
		fails:   map[int64][]Failure{},
		states:  map[int64]Failure{},
		chatWin: map[int64][]time.Time{},
		started: map[int64]bool{},
	}
	s.updateID = 800000000
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	return s
}

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

// Sent returns the accepted messages in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// SentTo returns the accepted messages for one chat.
func (s *Server) SentTo(chatID int64) []Sent {
	var out []Sent
	for _, m := range s.Sent() {
		if m.ChatID == chatID {
			out = append(out, m)
		}
	}
	return out
}

// Answers returns the answerCallbackQuery calls.
func (s *Server) Answers() []Answer {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Answer(nil), s.answers...)
}

// Calls returns how many requests reached method (any outcome).
func (s *Server) Calls(method string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[strings.ToLower(method)]
}

// FailNext makes the next send to chatID fail with f, once. Several calls queue.
func (s *Server) FailNext(chatID int64, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.fails[chatID] = append(s.fails[chatID], f)
}

// FailNextAny makes the next send to any chat fail with f, once.
func (s *Server) FailNextAny(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failAll = append(s.failAll, f)
}

// SetChat makes every send to chatID fail with f until ClearChat (Blocked,
// Deactivated, ChatNotFound, CantInitiate).
func (s *Server) SetChat(chatID int64, f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.states[chatID] = f
}

// ClearChat makes chatID reachable again.
func (s *Server) ClearChat(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.states, chatID)
}

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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func fail(w http.ResponseWriter, f Failure) {
	e := apiError{ErrorCode: f.Code, Description: f.Description}
	if f.RetryAfter > 0 {
		e.Parameters = map[string]any{"retry_after": f.RetryAfter}
	}
	writeJSON(w, f.Code, e)
}

func badRequest(w http.ResponseWriter, format string, args ...any) {
	fail(w, Failure{Code: 400, Description: "Bad Request: " + fmt.Sprintf(format, args...)})
}

func ok(w http.ResponseWriter, result any) {
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "result": result})
}

var pathRe = regexp.MustCompile(`^/bot([^/]+)/(?:test/)?([A-Za-z]+)$`)

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
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
		s.mu.Lock()
		s.answers = append(s.answers, Answer{CallbackQueryID: p["callback_query_id"], Text: p["text"]})
		s.mu.Unlock()
		ok(w, true)
	case "sendmessage", "sendphoto":
		s.send(w, method, enc, p)
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
		n, perr := visibleLen(p["caption"], p["parse_mode"])
		if perr != "" {
			badRequest(w, "can't parse entities: %s", perr)
			return
		}
		if n > MaxCaption {
			badRequest(w, "message caption is too long")
			return
		}
		if !strings.HasPrefix(sent.Photo, "http://") && !strings.HasPrefix(sent.Photo, "https://") && !strings.HasPrefix(sent.Photo, "upload:") && !strings.HasPrefix(sent.Photo, "AgAC") {
			badRequest(w, "wrong remote file identifier specified: Wrong string length")
			return
		}
	}
	if rm := p["reply_markup"]; rm != "" {
		kb, msg := checkKeyboard(rm)
		if msg != "" {
			badRequest(w, "%s", msg)
			return
		}
		sent.Keyboard = kb
	}
	s.mu.Lock()
	if len(s.failAll) > 0 {
		f := s.failAll[0]
		s.failAll = s.failAll[1:]
		s.mu.Unlock()
		fail(w, f)
		return
	}
	if q := s.fails[chat]; len(q) > 0 {
		s.fails[chat] = q[1:]
		s.mu.Unlock()
		fail(w, q[0])
		return
	}
	if f, bad := s.states[chat]; bad {
		s.mu.Unlock()
		fail(w, f)
		return
	}
	if s.RequireStart && !s.started[chat] {
		s.mu.Unlock()
		fail(w, ChatNotFound)
		return
	}
	now := s.Now()
	if s.flooded(chat, now) {
		s.mu.Unlock()
		fail(w, TooManyRequests(1))
		return
	}
	s.nextID[chat]++
	sent.MessageID = s.nextID[chat]
	sent.At = now
	s.sent = append(s.sent, sent)
	s.mu.Unlock()

	res := map[string]any{
		"message_id": sent.MessageID,
		"from":       map[string]any{"id": BotID, "is_bot": true, "first_name": "Nudge Fake", "username": "nudge_fake_bot"},
		"chat":       map[string]any{"id": chat, "type": "private"},
		"date":       sent.At.Unix(),
	}
	if sent.Method == "sendMessage" {
		res["text"] = sent.Text
	} else {
		res["photo"] = []map[string]any{{"file_id": fmt.Sprintf("AgACAgIAAxkDAAI%08d", sent.MessageID), "file_unique_id": fmt.Sprintf("AQAD%06d", sent.MessageID), "width": 1280, "height": 960}}
		if sent.Text != "" {
			res["caption"] = sent.Text
		}
	}
	if sent.Keyboard != nil {
		res["reply_markup"] = map[string]any{"inline_keyboard": sent.Keyboard}
	}
	ok(w, res)
}

// flooded applies PerSecond and PerChatPerSecond; s.mu is held.
func (s *Server) flooded(chat int64, now time.Time) bool {
	recent := func(ts []time.Time) []time.Time {
		var keep []time.Time
		for _, t := range ts {
			if now.Sub(t) < time.Second {
				keep = append(keep, t)
			}
		}
		return keep
	}
	if s.PerSecond > 0 {
		s.window = recent(s.window)
		if len(s.window) >= s.PerSecond {
			return true
		}
	}
	if s.PerChatPerSecond > 0 {
		s.chatWin[chat] = recent(s.chatWin[chat])
		if len(s.chatWin[chat]) >= s.PerChatPerSecond {
			return true
		}
	}
	if s.PerSecond > 0 {
		s.window = append(s.window, now)
	}
	if s.PerChatPerSecond > 0 {
		s.chatWin[chat] = append(s.chatWin[chat], now)
	}
	return false
}

func checkKeyboard(raw string) ([][]Button, string) {
	var rm struct {
		InlineKeyboard *[][]map[string]json.RawMessage `json:"inline_keyboard"`
	}
	if err := json.Unmarshal([]byte(raw), &rm); err != nil {
		return nil, "can't parse reply keyboard markup JSON object"
	}
	if rm.InlineKeyboard == nil {
		return nil, "" // reply keyboards and removals are not recorded
	}
	var out [][]Button
	total := 0
	for _, row := range *rm.InlineKeyboard {
		var r []Button
		for _, raw := range row {
			total++
			var b Button
			kinds := 0
			for k, v := range raw {
				var str string
				switch k {
				case "text":
					_ = json.Unmarshal(v, &b.Text)
				case "callback_data":
					_ = json.Unmarshal(v, &b.CallbackData)
					kinds++
				case "url":
					_ = json.Unmarshal(v, &b.URL)
					kinds++
				case "login_url", "switch_inline_query", "switch_inline_query_current_chat", "switch_inline_query_chosen_chat", "callback_game", "pay", "web_app", "copy_text":
					kinds++
				case "style", "icon_custom_emoji_id":
					_ = json.Unmarshal(v, &str)
				}
			}
			if b.Text == "" {
				return nil, "inline keyboard button text must be non-empty"
			}
			if kinds == 0 {
				return nil, "text buttons are unallowed in the inline keyboard"
			}
			if kinds > 1 {
				return nil, "can't parse inline keyboard button: exactly one of the optional fields must be used"
			}
			if _, has := raw["callback_data"]; has && (len(b.CallbackData) < 1 || len(b.CallbackData) > MaxCallbackData) {
				return nil, "BUTTON_DATA_INVALID"
			}
			if _, has := raw["url"]; has {
				u, err := url.Parse(b.URL)
				if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "tg") {
					return nil, fmt.Sprintf("inline keyboard button URL '%s' is invalid: Wrong HTTP URL", b.URL)
				}
			}
			r = append(r, b)
		}
		out = append(out, r)
	}
	if total > MaxButtons {
		return nil, "reply markup is too long"
	}
	return out, ""
}

// readParams reads parameters from the query and from a JSON, urlencoded or
// multipart body. JSON strings are unquoted; other JSON values keep their JSON
// text, which is how form encodings carry objects too.
func readParams(r *http.Request) (map[string]string, string, error) {
	p := map[string]string{}
	for k, v := range r.URL.Query() {
		p[k] = v[0]
	}
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch ct {
	case "application/json":
		body, err := io.ReadAll(io.LimitReader(r.Body, 10<<20))
		if err != nil {
			return nil, "", err
		}
		var m map[string]json.RawMessage
		if len(bytes.TrimSpace(body)) > 0 {
			if err := json.Unmarshal(body, &m); err != nil {
				return nil, "", fmt.Errorf("can't parse JSON object")
			}
		}
		for k, v := range m {
			var s string
			if json.Unmarshal(v, &s) == nil {
				p[k] = s
			} else if string(v) != "null" {
				p[k] = string(v)
			}
		}
		return p, "json", nil
	case "application/x-www-form-urlencoded":
		if err := r.ParseForm(); err != nil {
			return nil, "", err
		}
		for k, v := range r.PostForm {
			p[k] = v[0]
		}
		return p, "form", nil
	case "multipart/form-data":
		if err := r.ParseMultipartForm(20 << 20); err != nil {
			return nil, "", err
		}
		for k, v := range r.MultipartForm.Value {
			p[k] = v[0]
		}
		for k, fh := range r.MultipartForm.File {
			if fh[0].Size > 10<<20 {
				return nil, "", fmt.Errorf("file is too big")
			}
			p[k] = "upload:" + fh[0].Filename
		}
		return p, "multipart", nil
	case "":
		return p, "query", nil
	}
	return nil, "", fmt.Errorf("unsupported Content-Type %q", ct)
}

// checkParams applies the spec table: required fields present, integers and
// booleans well-formed.
func checkParams(spec map[string]field, p map[string]string) string {
	names := make([]string, 0, len(spec))
	for n := range spec {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		f := spec[n]
		v, has := p[n]
		if !has || v == "" {
			if f.Required {
				if n == "text" {
					return "message text is empty"
				}
				return n + " is empty"
			}
			continue
		}
		if len(f.Types) == 1 {
			switch f.Types[0] {
			case "Integer":
				if _, err := strconv.ParseInt(v, 10, 64); err != nil {
					return "invalid " + n + " specified"
				}
			case "Boolean":
				if _, err := strconv.ParseBool(v); err != nil {
					return "invalid " + n + " specified"
				}
			}
		}
		if n == "chat_id" && !strings.HasPrefix(v, "@") {
			if _, err := strconv.ParseInt(v, 10, 64); err != nil {
				return "chat not found"
			}
		}
	}
	return ""
}

var htmlTags = map[string]bool{"b": true, "strong": true, "i": true, "em": true, "u": true, "ins": true, "s": true, "strike": true, "del": true, "a": true, "code": true, "pre": true, "tg-spoiler": true, "span": true, "blockquote": true, "tg-emoji": true}

// visibleLen returns the UTF-16 length of text after entity parsing, or a
// parse error in the words Telegram uses.
func visibleLen(text, parseMode string) (int, string) {
	if !strings.EqualFold(parseMode, "HTML") {
		return len(utf16.Encode([]rune(text))), ""
	}
	var b strings.Builder
	var stack []string
	for i := 0; i < len(text); {
		switch text[i] {
		case '<':
			j := strings.IndexByte(text[i:], '>')
			if j < 0 {
				return 0, fmt.Sprintf("Unclosed start tag at byte offset %d", i)
			}
			tag := text[i+1 : i+j]
			closing := strings.HasPrefix(tag, "/")
			name := strings.ToLower(strings.Fields(strings.TrimPrefix(tag, "/") + " ")[0])
			if !htmlTags[name] {
				return 0, fmt.Sprintf("Unsupported start tag \"%s\" at byte offset %d", name, i)
			}
			if closing {
				if len(stack) == 0 || stack[len(stack)-1] != name {
					return 0, fmt.Sprintf("Unmatched end tag at byte offset %d, expected \"</%s>\", found \"</%s>\"", i, last(stack), name)
				}
				stack = stack[:len(stack)-1]
			} else {
				stack = append(stack, name)
			}
			i += j + 1
		case '&':
			j := strings.IndexByte(text[i:], ';')
			ent := ""
			if j > 0 {
				ent = text[i+1 : i+j]
			}
			switch {
			case ent == "lt" || ent == "gt" || ent == "amp" || ent == "quot":
				b.WriteByte('x')
				i += j + 1
			case strings.HasPrefix(ent, "#"):
				b.WriteByte('x')
				i += j + 1
			default:
				b.WriteByte('&') // Telegram leaves unknown entities as text
				i++
			}
		default:
			b.WriteByte(text[i])
			i++
		}
	}
	if len(stack) > 0 {
		return 0, fmt.Sprintf("Can't find end tag corresponding to start tag \"%s\"", last(stack))
	}
	return len(utf16.Encode([]rune(b.String()))), ""
}

func last(s []string) string {
	if len(s) == 0 {
		return ""
	}
	return s[len(s)-1]
}

// StartChat marks chatID as a user who has started the bot.
func (s *Server) StartChat(chatID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.started[chatID] = true
}

// --- webhooks --------------------------------------------------------------
//
// The update builders model the user's action on the fake's state too: a
// message or button press starts the chat, a block (my_chat_member "kicked")
// makes later sends fail with Blocked until the user unblocks ("member").

func (s *Server) nextUpdate() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.updateID++
	return s.updateID
}

func user(chatID int64) map[string]any {
	return map[string]any{"id": chatID, "is_bot": false, "first_name": "Анна", "last_name": "Петрова", "username": "anna_p", "language_code": "ru"}
}

// TextUpdate builds a private-chat message update, e.g. "/start CODE".
func (s *Server) TextUpdate(chatID int64, text string) []byte {
	s.StartChat(chatID)
	id := s.nextUpdate()
	u := map[string]any{"update_id": id, "message": map[string]any{
		"message_id": 100000 + id%100000, "from": user(chatID),
		"chat": map[string]any{"id": chatID, "first_name": "Анна", "last_name": "Петрова", "username": "anna_p", "type": "private"},
		"date": s.Now().Unix(), "text": text,
	}}
	if strings.HasPrefix(text, "/") {
		n := strings.IndexByte(text+" ", ' ')
		u["message"].(map[string]any)["entities"] = []map[string]any{{"offset": 0, "length": n, "type": "bot_command"}}
	}
	b, _ := json.Marshal(u)
	return b
}

// CallbackUpdate builds an inline button press on message messageID.
func (s *Server) CallbackUpdate(chatID, messageID int64, data string) []byte {
	s.StartChat(chatID)
	id := s.nextUpdate()
	u := map[string]any{"update_id": id, "callback_query": map[string]any{
		"id": fmt.Sprintf("%d%06d", chatID, id%1000000), "from": user(chatID),
		"message": map[string]any{
			"message_id": messageID, "from": map[string]any{"id": BotID, "is_bot": true, "first_name": "Nudge Fake", "username": "nudge_fake_bot"},
			"chat": map[string]any{"id": chatID, "first_name": "Анна", "type": "private"}, "date": s.Now().Unix() - 60, "text": "…",
		},
		"chat_instance": "-5286301238283771513", "data": data,
	}}
	b, _ := json.Marshal(u)
	return b
}

// ChatMemberUpdate builds my_chat_member with the bot's new status:
// "kicked" when the user blocks the bot, "member" when they unblock it.
func (s *Server) ChatMemberUpdate(chatID int64, status string) []byte {
	switch status {
	case "kicked":
		s.SetChat(chatID, Blocked)
	case "member":
		s.ClearChat(chatID)
		s.StartChat(chatID)
	}
	id := s.nextUpdate()
	old := "member"
	if status == "member" {
		old = "kicked"
	}
	bot := map[string]any{"id": BotID, "is_bot": true, "first_name": "Nudge Fake", "username": "nudge_fake_bot"}
	nm := map[string]any{"user": bot, "status": status}
	if status == "kicked" {
		nm["until_date"] = 0
	}
	u := map[string]any{"update_id": id, "my_chat_member": map[string]any{
		"chat": map[string]any{"id": chatID, "first_name": "Анна", "type": "private"}, "from": user(chatID),
		"date": s.Now().Unix(), "old_chat_member": map[string]any{"user": bot, "status": old}, "new_chat_member": nm,
	}}
	b, _ := json.Marshal(u)
	return b
}

// Post delivers an update body to the registered webhook with its secret
// header, as Telegram does, and returns the HTTP status.
func (s *Server) Post(ctx context.Context, body []byte) (int, error) {
	u, secret, _ := s.Webhook()
	if u == "" {
		return 0, fmt.Errorf("telegramfake: no webhook registered")
	}
	return s.PostTo(ctx, u, secret, body)
}

// PostTo delivers an update body to url with secret ("" = no header).
func (s *Server) PostTo(ctx context.Context, url, secret string, body []byte) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	if secret != "" {
		req.Header.Set("X-Telegram-Bot-Api-Secret-Token", secret)
	}
	resp, err := s.Client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	return resp.StatusCode, nil
}
