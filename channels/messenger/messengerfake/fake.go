// Package messengerfake is an in-process Messenger Send API: an httptest
// server that accepts POST /me/messages like Graph does (page token as bearer
// header or access_token query, messaging_type rules, quick reply and button
// limits), enforces a per-page rate (613), answers scriptable errors (rate
// limited once, person unavailable 551, outside the window 10/2018278, no
// matching user), and sends webhooks — messages, quick replies, postbacks,
// referrals, delivery and read watermarks — signed with a real
// X-Hub-Signature-256 on a scriptable timetable. Files a person sends
// (AddFile, Attachment) are served from signed CDN URLs.
package messengerfake

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
	"github.com/nudge-engine/nudge/channels/meta"
)

// Options configure a fake; zero values take the defaults shown.
type Options struct {
	PageToken string // "test-page-token"
	PageID    string // "200000000000001"
	AppSecret string // "test-app-secret"
	PerSecond int    // 40 accepted messages per second per page (<0 = unlimited)
	Now       func() time.Time
	After     func(d time.Duration, f func()) // default time.AfterFunc
	// Client posts webhooks (default: a 10s-timeout client); give it the
	// trust of an https webhook URL.
	Client *http.Client
}

// Plan scripts the receipts after a message to a person: a delivery
// watermark after Delivered, a read watermark after Read (0 = never).
type Plan struct {
	Delivered time.Duration
	Read      time.Duration
}

// Sent is one accepted message.
type Sent struct {
	MID           string
	To            string
	MessagingType string
	Tag           string
	Body          map[string]any
	At            time.Time
}

type graphErr struct {
	status, code, sub int
	msg               string
}

// Server is the fake.
type Server struct {
	fakekit.Core[Plan, Sent]
	opt      Options
	mu       sync.Mutex
	seq      int
	failNext fakekit.Once[graphErr]
	blocked  fakekit.Set[string]
	closed   fakekit.Set[string]
	unknown  fakekit.Set[string]
	webhook  string
	window   fakekit.Window
	// files people send (media.go)
	files     map[string]*cdnFile
	downloads int
}

// New starts a fake; Close it when done.
func New(opt Options) *Server {
	opt.PageToken = cmp.Or(opt.PageToken, "test-page-token")
	opt.PageID = cmp.Or(opt.PageID, "200000000000001")
	opt.AppSecret = cmp.Or(opt.AppSecret, "test-app-secret")
	opt.PerSecond = cmp.Or(opt.PerSecond, 40)
	fakekit.Defaults(&opt.Now, &opt.After, &opt.Client)
	s := &Server{opt: opt}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /me/messages", s.messages)
	mux.HandleFunc("POST /{page}/messages", s.messages)
	mux.HandleFunc("GET /v/t59.2708-21/{n}/{name}", s.serveFile)
	s.Serve(mux)
	return s
}

// Options returns the effective options.
func (s *Server) Options() Options { return s.opt }

// SetWebhook sets where webhooks go.
func (s *Server) SetWebhook(url string) { s.mu.Lock(); s.webhook = url; s.mu.Unlock() }

// FailNext makes the next send answer a Graph error with code and subcode
// (HTTP 400 like Graph; codes 500..599 other than 551 are answered as that
// HTTP status with a non-Graph body).
func (s *Server) FailNext(code, subcode int, msg string) {
	st := http.StatusBadRequest
	if code >= 500 && code < 600 && code != 551 {
		st = code
	}
	s.failNext.Add(graphErr{st, code, subcode, msg})
}

// Block makes sends to psid fail with 551 "This person isn't available right now".
func (s *Server) Block(psid string) { s.blocked.Add(psid) }

// CloseWindow makes sends to psid without a message tag fail with 10/2018278.
func (s *Server) CloseWindow(psid string) { s.closed.Add(psid) }

// Unknown makes sends to psid fail with 100/2018001 (no matching user).
func (s *Server) Unknown(psid string) { s.unknown.Add(psid) }

func writeErr(w http.ResponseWriter, e graphErr) {
	if e.status >= 500 {
		http.Error(w, "upstream error", e.status)
		return
	}
	body := map[string]any{"message": e.msg, "type": "OAuthException", "code": e.code, "fbtrace_id": "AbCdEfFake"}
	if e.sub != 0 {
		body["error_subcode"] = e.sub
	}
	fakekit.WriteJSON(w, e.status, map[string]any{"error": body})
}

var tags = map[string]bool{"ACCOUNT_UPDATE": true, "CONFIRMED_EVENT_UPDATE": true, "POST_PURCHASE_UPDATE": true, "HUMAN_AGENT": true}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	s.CountRequest()
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		tok, _ = cutBearer(r.Header.Get("Authorization"))
	}
	if tok != s.opt.PageToken {
		writeErr(w, graphErr{http.StatusBadRequest, 190, 0, "Invalid OAuth access token - Cannot parse access token"})
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		writeErr(w, graphErr{http.StatusBadRequest, 100, 0, "(#100) Invalid JSON"})
		return
	}
	if msg, ok := validate(body); !ok {
		writeErr(w, graphErr{http.StatusBadRequest, 100, 0, "(#100) " + msg})
		return
	}
	rcpt, _ := body["recipient"].(map[string]any)
	to, _ := rcpt["id"].(string)
	mt, _ := body["messaging_type"].(string)
	tag, _ := body["tag"].(string)

	s.mu.Lock()
	now := s.opt.Now()
	var e *graphErr
	switch f, scripted := s.failNext.Next(); {
	case scripted:
		e = &f
	case s.unknown.Has(to):
		e = &graphErr{http.StatusBadRequest, 100, 2018001, "(#100) No matching user found"}
	case s.blocked.Has(to):
		e = &graphErr{http.StatusBadRequest, 551, 1545041, "(#551) This person isn't available right now."}
	case s.closed.Has(to) && mt != "MESSAGE_TAG":
		e = &graphErr{http.StatusBadRequest, 10, 2018278, "(#10) This message is sent outside of allowed window."}
	}
	if e == nil && s.opt.PerSecond > 0 && s.window.Full(now, time.Second, s.opt.PerSecond) {
		e = &graphErr{http.StatusBadRequest, 613, 0, "(#613) Calls to this api have exceeded the rate limit."}
	}
	if e != nil {
		s.mu.Unlock()
		writeErr(w, *e)
		return
	}
	s.window.Add(now)
	s.seq++
	mid := fmt.Sprintf("m_FAKE%020d", s.seq)
	plan, has := s.Accept(to, Sent{MID: mid, To: to, MessagingType: mt, Tag: tag, Body: body, At: now})
	s.mu.Unlock()
	fakekit.WriteJSON(w, http.StatusOK, map[string]string{"recipient_id": to, "message_id": mid})
	if has {
		s.schedule(to, mid, now, plan)
	}
}

func cutBearer(h string) (string, bool) {
	const p = "Bearer "
	if len(h) > len(p) && h[:len(p)] == p {
		return h[len(p):], true
	}
	return "", false
}

func (s *Server) schedule(psid, mid string, sentAt time.Time, p Plan) {
	wm := sentAt.UnixMilli()
	if p.Delivered > 0 {
		s.opt.After(p.Delivered, func() { s.HookFailed(s.Delivery(context.Background(), psid, wm, mid)) })
	}
	if p.Read > 0 {
		s.opt.After(p.Read, func() { s.HookFailed(s.Read(context.Background(), psid, wm)) })
	}
}

func validate(b map[string]any) (string, bool) {
	rcpt, _ := b["recipient"].(map[string]any)
	if id, _ := rcpt["id"].(string); id == "" {
		return "recipient.id is required", false
	}
	switch b["messaging_type"] {
	case "RESPONSE", "UPDATE":
		if b["tag"] != nil {
			return "tag requires messaging_type MESSAGE_TAG", false
		}
	case "MESSAGE_TAG":
		if t, _ := b["tag"].(string); !tags[t] {
			return "param tag must be one of ACCOUNT_UPDATE, CONFIRMED_EVENT_UPDATE, POST_PURCHASE_UPDATE, HUMAN_AGENT", false
		}
	default:
		return "messaging_type must be RESPONSE, UPDATE or MESSAGE_TAG", false
	}
	msg, _ := b["message"].(map[string]any)
	text, hasText := msg["text"].(string)
	att, hasAtt := msg["attachment"].(map[string]any)
	if hasText == hasAtt {
		return "message must have exactly one of text or attachment", false
	}
	if hasText && (text == "" || utf8.RuneCountInString(text) > 2000) {
		return "message.text must be 1..2000 characters", false
	}
	if hasAtt {
		p, _ := att["payload"].(map[string]any)
		switch att["type"] {
		case "image", "file", "audio", "video":
			u, _ := p["url"].(string)
			id, _ := p["attachment_id"].(string)
			if u == "" && id == "" {
				return fmt.Sprintf("%s attachment needs payload.url or payload.attachment_id", att["type"]), false
			}
		case "template":
			if p["template_type"] == "generic" {
				return validateGeneric(p)
			}
			btns, _ := p["buttons"].([]any)
			if p["template_type"] != "button" || len(btns) == 0 || len(btns) > 3 {
				return "button template needs 1..3 buttons", false
			}
			for _, x := range btns {
				bm, _ := x.(map[string]any)
				if t, _ := bm["title"].(string); t == "" || utf8.RuneCountInString(t) > 20 {
					return "button title must be 1..20 characters", false
				}
			}
		default:
			return "unsupported attachment type", false
		}
	}
	if qr, ok := msg["quick_replies"].([]any); ok {
		if len(qr) > 13 {
			return "quick_replies holds at most 13 items", false
		}
		for _, x := range qr {
			q, _ := x.(map[string]any)
			t, _ := q["title"].(string)
			p, _ := q["payload"].(string)
			if q["content_type"] != "text" || t == "" || utf8.RuneCountInString(t) > 20 || p == "" {
				return "quick reply needs a title of 1..20 characters and a payload", false
			}
		}
	}
	return "", true
}

func (s *Server) entry(ev map[string]any) []byte {
	now := s.opt.Now().UnixMilli()
	ev["recipient"] = map[string]string{"id": s.opt.PageID}
	if _, ok := ev["timestamp"]; !ok {
		ev["timestamp"] = now
	}
	b, _ := json.Marshal(map[string]any{"object": "page", "entry": []any{
		map[string]any{"id": s.opt.PageID, "time": now, "messaging": []any{ev}},
	}})
	return b
}

func (s *Server) nextMID() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	return fmt.Sprintf("m_IN%022d", s.seq)
}

// Delivery sends a message_deliveries webhook (mids may be empty).
func (s *Server) Delivery(ctx context.Context, psid string, watermarkMillis int64, mids ...string) error {
	d := map[string]any{"watermark": watermarkMillis}
	if len(mids) > 0 {
		d["mids"] = mids
	}
	return s.Post(ctx, s.entry(map[string]any{"sender": map[string]string{"id": psid}, "delivery": d}))
}

// Read sends a message_reads webhook.
func (s *Server) Read(ctx context.Context, psid string, watermarkMillis int64) error {
	return s.Post(ctx, s.entry(map[string]any{"sender": map[string]string{"id": psid}, "read": map[string]any{"watermark": watermarkMillis}}))
}

// Text sends an inbound text message; it returns the mid.
func (s *Server) Text(ctx context.Context, psid, text string) (string, error) {
	mid := s.nextMID()
	return mid, s.Post(ctx, s.entry(map[string]any{"sender": map[string]string{"id": psid}, "message": map[string]any{"mid": mid, "text": text}}))
}

// QuickReply sends a quick-reply tap.
func (s *Server) QuickReply(ctx context.Context, psid, title, payload string) (string, error) {
	mid := s.nextMID()
	return mid, s.Post(ctx, s.entry(map[string]any{"sender": map[string]string{"id": psid}, "message": map[string]any{
		"mid": mid, "text": title, "quick_reply": map[string]string{"payload": payload}}}))
}

// Postback sends a postback (button or Get Started); ref ≠ "" adds the
// referral of a new thread opened from m.me/<page>?ref=<ref>.
func (s *Server) Postback(ctx context.Context, psid, title, payload, ref string) (string, error) {
	mid := s.nextMID()
	pb := map[string]any{"mid": mid, "title": title, "payload": payload}
	if ref != "" {
		pb["referral"] = map[string]string{"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
	}
	return mid, s.Post(ctx, s.entry(map[string]any{"sender": map[string]string{"id": psid}, "postback": pb}))
}

// Referral sends a messaging_referrals event (existing thread opened from m.me ?ref=).
func (s *Server) Referral(ctx context.Context, psid, ref string) error {
	return s.Post(ctx, s.entry(map[string]any{"sender": map[string]string{"id": psid},
		"referral": map[string]string{"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}}))
}

// Post signs body with the app secret and POSTs it to the webhook.
func (s *Server) Post(ctx context.Context, body []byte) error {
	s.mu.Lock()
	url := s.webhook
	s.mu.Unlock()
	if url == "" {
		return fmt.Errorf("messengerfake: no webhook set")
	}
	return fakekit.Deliver(ctx, s.opt.Client, "messengerfake: webhook", url, "application/json", body,
		map[string]string{meta.SignatureHeader: meta.Sign(s.opt.AppSecret, body)})
}
