// Package whatsappfake is an in-process WhatsApp Cloud API: an httptest
// server that accepts what real clients POST to /{phone-number-id}/messages,
// checks the token and the message limits like Graph does, enforces the
// number's throughput (130429) and the per-recipient pair rate (131056),
// answers with scriptable errors (rate limited once, user stopped marketing,
// window closed, not a WhatsApp user), lists the business account's message
// templates with Graph's paging and refuses template sends they do not allow
// (templates.go), and sends status and inbound webhooks
// signed with a real X-Hub-Signature-256 on a scriptable timetable. Media a
// user sends (AddMedia, Media) is served through the media node and its
// download URL.
package whatsappfake

import (
	"cmp"
	"context"
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
	"github.com/nudge-engine/nudge/channels/meta"
)

// Options configure a fake; zero values take the defaults shown.
type Options struct {
	Token         string        // "test-token"
	PhoneNumberID string        // "1000000001"
	WABAID        string        // "2000000001": the business account (message templates)
	AppSecret     string        // "test-app-secret"
	PerSecond     int           // 80 accepted messages per second (0 = default, <0 = unlimited)
	PairInterval  time.Duration // 6s between messages to one recipient (<0 = unlimited)
	// PairBurst is how many messages to one recipient may go within a
	// PairInterval (default 1). WhatsApp tolerates short bursts, such as
	// the image messages of an album; set it to let them through.
	PairBurst int
	Now       func() time.Time
	// After schedules planned status webhooks (default time.AfterFunc); the
	// demo passes its simulated clock's timer.
	After func(d time.Duration, f func())
	// Client posts webhooks (default: a 10s-timeout client); give it the
	// trust of an https webhook URL.
	Client *http.Client
}

// Plan is what happens after a message to a recipient is accepted: a
// delivered status after Delivered, read after Read (0 = never), or a failed
// status with FailCode after Delivered.
type Plan struct {
	Delivered time.Duration
	Read      time.Duration
	FailCode  int
}

// Sent is one accepted message.
type Sent struct {
	ID          string
	To          string
	Type        string // text | interactive | image | template
	Correlation string
	Body        map[string]any // the request JSON
	At          time.Time
}

// Server is the fake.
type Server struct {
	fakekit.Core[Plan, Sent]
	opt Options
	mu  sync.Mutex
	// scripted answers
	failNext fakekit.Once[graphErr]
	blocked  fakekit.Set[string]     // 131050
	closed   fakekit.Set[string]     // 131047 for free-form sends
	unknown  fakekit.Set[string]     // 131026 (async, as Meta does)
	window   fakekit.Window          // accepted sends within the last second
	pairs    fakekit.Windows[string] // sends per recipient, for PairBurst
	// files users send, counted when their node is resolved (media.go)
	media fakekit.Files[mediaFile]
	// the business account's message templates (templates.go)
	templates     []Template
	templateCalls int
}

type graphErr struct {
	status int
	code   int
	msg    string
}

// New starts a fake; Close it when done.
func New(opt Options) *Server {
	opt.Token = cmp.Or(opt.Token, "test-token")
	opt.PhoneNumberID = cmp.Or(opt.PhoneNumberID, "1000000001")
	opt.WABAID = cmp.Or(opt.WABAID, "2000000001")
	opt.AppSecret = cmp.Or(opt.AppSecret, "test-app-secret")
	opt.PerSecond = cmp.Or(opt.PerSecond, 80)
	opt.PairInterval = cmp.Or(opt.PairInterval, 6*time.Second)
	opt.PairBurst = cmp.Or(opt.PairBurst, 1)
	fakekit.Defaults(&opt.Now, &opt.After, &opt.Client)
	s := &Server{
		opt:   opt,
		pairs: fakekit.Windows[string]{},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /{phone}/messages", s.messages)
	mux.HandleFunc("GET /{id}", s.mediaNode)
	mux.HandleFunc("GET /{waba}/message_templates", s.listTemplates)
	mux.HandleFunc("GET /whatsapp_business/attachments/", s.mediaDownload)
	s.Serve(mux)
	return s
}

// Options returns the effective options (token, ids, secret).
func (s *Server) Options() Options { return s.opt }

// FailNext makes the next send answer a Graph error with code (130429 and
// 131056 come back as HTTP 429/400 like Graph; 5xx codes < 600 are sent as
// that HTTP status with a non-Graph body).
func (s *Server) FailNext(code int, msg string) {
	st := http.StatusBadRequest
	switch {
	case code == 130429:
		st = http.StatusTooManyRequests
	case code >= 500 && code < 600:
		st = code
	case code == 190:
		st = http.StatusUnauthorized
	}
	s.failNext.Add(graphErr{status: st, code: code, msg: msg})
}

// Block makes sends to to fail with 131050 (stopped marketing messages).
func (s *Server) Block(to string) { s.blocked.Add(to) }

// CloseWindow makes free-form (non-template) sends to to fail with 131047.
func (s *Server) CloseWindow(to string) { s.closed.Add(to) }

// Unknown makes to a number without WhatsApp: the send is accepted and a
// failed status with 131026 follows (asynchronously, as Meta does).
func (s *Server) Unknown(to string) { s.unknown.Add(to) }

func writeGraphErr(w http.ResponseWriter, e graphErr) {
	if e.code >= 500 && e.code < 600 {
		http.Error(w, "upstream error", e.code)
		return
	}
	fakekit.WriteJSON(w, e.status, map[string]any{"error": map[string]any{
		"message": fmt.Sprintf("(#%d) %s", e.code, e.msg), "type": "OAuthException", "code": e.code,
		"error_data": map[string]any{"messaging_product": "whatsapp", "details": e.msg},
		"fbtrace_id": "AbCdEfFake",
	}})
}

// node checks the bearer token and that the path's node {key} is want, as
// Graph does, and answers its error when not.
func (s *Server) node(w http.ResponseWriter, r *http.Request, key, want string) bool {
	if r.Header.Get("Authorization") != "Bearer "+s.opt.Token {
		writeGraphErr(w, graphErr{http.StatusUnauthorized, 190, "Error validating access token"})
		return false
	}
	if r.PathValue(key) != want {
		writeGraphErr(w, graphErr{http.StatusBadRequest, 100, fmt.Sprintf("Unsupported %s request. Object does not exist", strings.ToLower(r.Method))})
		return false
	}
	return true
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	s.CountRequest()
	if !s.node(w, r, "phone", s.opt.PhoneNumberID) {
		return
	}
	var body map[string]any
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err := json.Unmarshal(raw, &body); err != nil {
		writeGraphErr(w, graphErr{http.StatusBadRequest, 100, "Invalid JSON"})
		return
	}
	if e, ok := validate(body); !ok {
		writeGraphErr(w, graphErr{http.StatusBadRequest, 131009, e})
		return
	}
	to, _ := body["to"].(string)
	typ, _ := body["type"].(string)
	corr, _ := body["biz_opaque_callback_data"].(string)

	s.mu.Lock()
	now := s.opt.Now()
	if e, scripted := s.failNext.Next(); scripted {
		s.mu.Unlock()
		writeGraphErr(w, e)
		return
	}
	if s.blocked.Has(to) {
		s.mu.Unlock()
		writeGraphErr(w, graphErr{http.StatusBadRequest, 131050, "Unable to deliver the message. This recipient has chosen to stop receiving marketing messages on WhatsApp from your business"})
		return
	}
	if typ == "template" {
		if e, ok := s.checkTemplate(body); !ok {
			s.mu.Unlock()
			writeGraphErr(w, e)
			return
		}
	}
	if s.closed.Has(to) && typ != "template" {
		s.mu.Unlock()
		writeGraphErr(w, graphErr{http.StatusBadRequest, 131047, "Re-engagement message: more than 24 hours have passed since the recipient last replied to the sender number"})
		return
	}
	if s.opt.PerSecond > 0 && s.window.Full(now, time.Second, s.opt.PerSecond) {
		s.mu.Unlock()
		writeGraphErr(w, graphErr{http.StatusTooManyRequests, 130429, "Rate limit hit: Cloud API message throughput has been reached"})
		return
	}
	if s.opt.PairInterval > 0 && s.pairs.Of(to).Full(now, s.opt.PairInterval, s.opt.PairBurst) {
		s.mu.Unlock()
		writeGraphErr(w, graphErr{http.StatusBadRequest, 131056, "(Business Account, Consumer Account) pair rate limit hit"})
		return
	}
	s.window.Add(now)
	s.pairs.Of(to).Add(now)
	id := fmt.Sprintf("wamid.HBgL%026d", s.NextID())
	plan, hasPlan := s.Accept(to, Sent{ID: id, To: to, Type: typ, Correlation: corr, Body: body, At: now})
	if s.unknown.Has(to) {
		plan, hasPlan = Plan{FailCode: 131026}, true
	}
	s.mu.Unlock()

	fakekit.WriteJSON(w, http.StatusOK, map[string]any{
		"messaging_product": "whatsapp",
		"contacts":          []map[string]string{{"input": to, "wa_id": to}},
		"messages":          []map[string]string{{"id": id}},
	})
	if hasPlan {
		s.schedule(id, to, corr, plan)
	}
}

func (s *Server) schedule(id, to, corr string, p Plan) {
	emit := func(st string, code int) func() {
		return func() {
			s.HookFailed(s.Status(context.Background(), id, to, corr, st, code))
		}
	}
	if p.FailCode != 0 {
		s.opt.After(p.Delivered, emit("failed", p.FailCode))
		return
	}
	if p.Delivered > 0 {
		s.opt.After(p.Delivered, emit("delivered", 0))
	}
	if p.Read > 0 {
		s.opt.After(p.Read, emit("read", 0))
	}
}

// validate checks what Graph checks of a message object.
func validate(b map[string]any) (string, bool) {
	if b["messaging_product"] != "whatsapp" {
		return "messaging_product must be whatsapp", false
	}
	if to, _ := b["to"].(string); to == "" || strings.HasPrefix(to, "+") {
		return "to must be a phone number in international format without +", false
	}
	switch b["type"] {
	case "text":
		t, _ := b["text"].(map[string]any)
		body, _ := t["body"].(string)
		if body == "" || utf8.RuneCountInString(body) > 4096 {
			return "text.body must be 1..4096 characters", false
		}
	case "image", "document":
		return validateMedia(b)
	case "template":
		t, _ := b["template"].(map[string]any)
		if n, _ := t["name"].(string); n == "" {
			return "template.name is required", false
		}
	case "interactive":
		in, _ := b["interactive"].(map[string]any)
		if in["type"] != "button" {
			return "interactive.type must be button", false
		}
		if msg, ok := validateHeader(in["header"]); !ok {
			return msg, false
		}
		body, _ := in["body"].(map[string]any)
		if t, _ := body["text"].(string); t == "" || utf8.RuneCountInString(t) > 1024 {
			return "interactive.body.text must be 1..1024 characters", false
		}
		act, _ := in["action"].(map[string]any)
		btns, _ := act["buttons"].([]any)
		if len(btns) == 0 || len(btns) > 3 {
			return "interactive.action.buttons must hold 1..3 buttons", false
		}
		for _, x := range btns {
			bm, _ := x.(map[string]any)
			rep, _ := bm["reply"].(map[string]any)
			title, _ := rep["title"].(string)
			id, _ := rep["id"].(string)
			if bm["type"] != "reply" || id == "" || title == "" || utf8.RuneCountInString(title) > 20 {
				return "button reply needs an id and a title of 1..20 characters", false
			}
		}
	default:
		return fmt.Sprintf("unsupported message type %v", b["type"]), false
	}
	return "", true
}

func (s *Server) envelope(value map[string]any) []byte {
	value["messaging_product"] = "whatsapp"
	value["metadata"] = map[string]string{"display_phone_number": "15550000000", "phone_number_id": s.opt.PhoneNumberID}
	b, _ := json.Marshal(map[string]any{
		"object": "whatsapp_business_account",
		"entry": []any{map[string]any{"id": s.opt.WABAID, "changes": []any{
			map[string]any{"field": "messages", "value": value},
		}}},
	})
	return b
}

// Status sends a signed status webhook for message id now; code ≠ 0 adds an
// errors[] entry (failed).
func (s *Server) Status(ctx context.Context, id, to, correlation, status string, code int) error {
	st := map[string]any{
		"id": id, "status": status, "timestamp": strconv.FormatInt(s.opt.Now().Unix(), 10), "recipient_id": to,
		"pricing": map[string]any{"billable": true, "pricing_model": "PMP", "category": "marketing"},
	}
	if correlation != "" {
		st["biz_opaque_callback_data"] = correlation
	}
	if code != 0 {
		st["errors"] = []any{map[string]any{
			"code": code, "title": errorTitle(code), "message": errorTitle(code),
			"error_data": map[string]string{"details": errorTitle(code)},
		}}
	}
	return s.Post(ctx, s.envelope(map[string]any{"statuses": []any{st}}))
}

func errorTitle(code int) string {
	switch code {
	case 131026:
		return "Message undeliverable"
	case 131047:
		return "Re-engagement message"
	case 131049:
		return "This message was not delivered to maintain healthy ecosystem engagement."
	}
	return "Failure"
}

func (s *Server) nextInboundID() string { return fmt.Sprintf("wamid.HBgLIN%024d", s.NextID()) }

func (s *Server) inbound(ctx context.Context, from, name string, msg map[string]any) (string, error) {
	id := s.nextInboundID()
	msg["from"], msg["id"], msg["timestamp"] = from, id, strconv.FormatInt(s.opt.Now().Unix(), 10)
	return id, s.Post(ctx, s.envelope(map[string]any{
		"contacts": []any{map[string]any{"profile": map[string]string{"name": name}, "wa_id": from}},
		"messages": []any{msg},
	}))
}

// Text sends a signed inbound text message from a user; it returns the wamid.
func (s *Server) Text(ctx context.Context, from, name, text string) (string, error) {
	return s.inbound(ctx, from, name, map[string]any{"type": "text", "text": map[string]string{"body": text}})
}

// PressButton sends a signed interactive button_reply to the message replyTo.
func (s *Server) PressButton(ctx context.Context, from, replyTo, id, title string) (string, error) {
	return s.inbound(ctx, from, "", map[string]any{
		"type":        "interactive",
		"context":     map[string]string{"from": "15550000000", "id": replyTo},
		"interactive": map[string]any{"type": "button_reply", "button_reply": map[string]string{"id": id, "title": title}},
	})
}

// Post signs body with the app secret and POSTs it to the webhook where
// status and inbound webhooks go (set with SetWebhook).
func (s *Server) Post(ctx context.Context, body []byte) error {
	return s.PostWebhook(ctx, s.opt.Client, "whatsappfake", "application/json", body,
		map[string]string{meta.SignatureHeader: meta.Sign(s.opt.AppSecret, body)})
}
