// Package metafake is an in-process Messenger Platform Send API, the part
// Messenger and Instagram share (messengerfake and instagramfake choose a
// Product): an httptest server that accepts POST /me/messages and
// /<id>/messages like Graph does (token as bearer header or access_token
// query, messaging_type and tag rules, quick reply, text and button limits),
// enforces a per-account rate (613), answers scriptable errors (rate limited
// once, person unavailable 551, outside the window, no matching user; a
// refusal inside HTTP 200 when scripted), and sends webhooks — messages,
// quick replies, postbacks, referrals, delivery and read receipts — signed
// with a real X-Hub-Signature-256 on a scriptable timetable. Files a person
// sends (AddFile, Attachment) are served from signed CDN URLs.
package metafake

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
	"github.com/nudge-engine/nudge/channels/meta"
)

// Options configure a fake; zero values take the defaults shown.
type Options struct {
	PageToken string // "test-page-token"
	PageID    string // "200000000000001": the page or Instagram account id
	AppSecret string // "test-app-secret"
	PerSecond int    // 40 accepted messages per second per page (<0 = unlimited)
	Now       func() time.Time
	After     func(d time.Duration, f func()) // default time.AfterFunc
	// Client posts webhooks (default: a 10s-timeout client); give it the
	// trust of an https webhook URL.
	Client *http.Client
}

// Product is what differs between the Send APIs the fake plays.
type Product struct {
	Name           string          // "messengerfake", in errors
	Object         string          // webhook object: "page" | "instagram"
	Tags           map[string]bool // tags allowed with MESSAGE_TAG
	MessagingTypes map[string]bool // types allowed without a tag
	MaxText        int             // text limit
	TextBytes      bool            // MaxText counts UTF-8 bytes, not characters
	ButtonTemplate bool            // button template attachments accepted
	// Window is the refusal of an untagged send to a closed window.
	Window Refusal
	// ReadByMID: read receipts name the seen mid (Instagram), not a
	// watermark; Deliveries: the product sends delivery receipts.
	ReadByMID, Deliveries bool
}

// Refusal is a Graph error answer.
type Refusal struct {
	Status, Code, Subcode int
	Type, Message         string
	// In200 answers the error object with HTTP 200.
	In200 bool
}

// Plan scripts the receipts after a message to a person: a delivery
// watermark after Delivered (when the product sends deliveries), a read
// receipt after Read (0 = never).
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

// Server is the fake.
type Server struct {
	fakekit.Core[Plan, Sent]
	prod     Product
	opt      Options
	mu       sync.Mutex
	failNext fakekit.Once[Refusal]
	blocked  fakekit.Set[string]
	closed   fakekit.Set[string]
	unknown  fakekit.Set[string]
	window   fakekit.Window
	files    fakekit.Files[cdnFile] // files people send (media.go)
}

// New starts a fake of prod; Close it when done.
func New(prod Product, opt Options) *Server {
	opt.PageToken = cmp.Or(opt.PageToken, "test-page-token")
	opt.PageID = cmp.Or(opt.PageID, "200000000000001")
	opt.AppSecret = cmp.Or(opt.AppSecret, "test-app-secret")
	opt.PerSecond = cmp.Or(opt.PerSecond, 40)
	fakekit.Defaults(&opt.Now, &opt.After, &opt.Client)
	s := &Server{prod: prod, opt: opt}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /me/messages", s.messages)
	mux.HandleFunc("POST /{page}/messages", s.messages)
	mux.HandleFunc("GET /v/t59.2708-21/{n}/{name}", s.serveFile)
	s.Serve(mux)
	return s
}

// Options returns the effective options.
func (s *Server) Options() Options { return s.opt }

// FailNext makes the next send answer a Graph error with code and subcode
// (HTTP 400 like Graph; codes 500..599 other than 551 are answered as that
// HTTP status with a non-Graph body).
func (s *Server) FailNext(code, subcode int, msg string) {
	st := http.StatusBadRequest
	if code >= 500 && code < 600 && code != 551 {
		st = code
	}
	s.failNext.Add(Refusal{Status: st, Code: code, Subcode: subcode, Message: msg})
}

// Refuse makes the next send answer r as it is (e.g. In200).
func (s *Server) Refuse(r Refusal) { s.failNext.Add(r) }

// Block makes sends to psid fail with 551 "This person isn't available right now".
func (s *Server) Block(psid string) { s.blocked.Add(psid) }

// CloseWindow makes sends to psid without a message tag fail with the
// product's Window refusal.
func (s *Server) CloseWindow(psid string) { s.closed.Add(psid) }

// Unknown makes sends to psid fail with 100/2018001 (no matching user).
func (s *Server) Unknown(psid string) { s.unknown.Add(psid) }

func writeErr(w http.ResponseWriter, e Refusal) {
	if e.Status >= 500 {
		http.Error(w, "upstream error", e.Status)
		return
	}
	body := map[string]any{"message": e.Message, "type": cmp.Or(e.Type, "OAuthException"), "code": e.Code, "fbtrace_id": "AbCdEfFake"}
	if e.Subcode != 0 {
		body["error_subcode"] = e.Subcode
	}
	st := e.Status
	if e.In200 {
		st = http.StatusOK
	}
	fakekit.WriteJSON(w, st, map[string]any{"error": body})
}

func invalidParam(msg string) Refusal {
	return Refusal{Status: http.StatusBadRequest, Code: 100, Message: "(#100) " + msg}
}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	s.CountRequest()
	tok := r.URL.Query().Get("access_token")
	if tok == "" {
		tok, _ = cutBearer(r.Header.Get("Authorization"))
	}
	if tok != s.opt.PageToken {
		writeErr(w, Refusal{Status: http.StatusBadRequest, Code: 190, Message: "Invalid OAuth access token - Cannot parse access token"})
		return
	}
	raw, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	var body map[string]any
	if err := json.Unmarshal(raw, &body); err != nil {
		writeErr(w, invalidParam("Invalid JSON"))
		return
	}
	if msg, ok := s.prod.validate(body); !ok {
		writeErr(w, invalidParam(msg))
		return
	}
	rcpt, _ := body["recipient"].(map[string]any)
	to, _ := rcpt["id"].(string)
	mt, _ := body["messaging_type"].(string)
	tag, _ := body["tag"].(string)

	s.mu.Lock()
	now := s.opt.Now()
	var e *Refusal
	switch f, scripted := s.failNext.Next(); {
	case scripted:
		e = &f
	case s.unknown.Has(to):
		e = &Refusal{Status: http.StatusBadRequest, Code: 100, Subcode: 2018001, Message: "(#100) No matching user found"}
	case s.blocked.Has(to):
		e = &Refusal{Status: http.StatusBadRequest, Code: 551, Subcode: 1545041, Message: "(#551) This person isn't available right now."}
	case s.closed.Has(to) && mt != "MESSAGE_TAG":
		e = &s.prod.Window
	}
	if e == nil && !s.window.Admit(now, time.Second, s.opt.PerSecond) {
		e = &Refusal{Status: http.StatusBadRequest, Code: 613, Message: "(#613) Calls to this api have exceeded the rate limit."}
	}
	if e != nil {
		s.mu.Unlock()
		writeErr(w, *e)
		return
	}
	mid := fmt.Sprintf("m_FAKE%020d", s.NextID())
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
	if p.Delivered > 0 && s.prod.Deliveries {
		s.opt.After(p.Delivered, func() { s.HookFailed(s.Delivery(context.Background(), psid, wm, mid)) })
	}
	if p.Read > 0 && s.prod.ReadByMID {
		s.opt.After(p.Read, func() { s.HookFailed(s.Seen(context.Background(), psid, mid)) })
	} else if p.Read > 0 {
		s.opt.After(p.Read, func() { s.HookFailed(s.Read(context.Background(), psid, wm)) })
	}
}

func (p Product) validate(b map[string]any) (string, bool) {
	rcpt, _ := b["recipient"].(map[string]any)
	if id, _ := rcpt["id"].(string); id == "" {
		return "recipient.id is required", false
	}
	mt, _ := b["messaging_type"].(string)
	switch {
	case p.MessagingTypes[mt]:
		if b["tag"] != nil {
			return "tag requires messaging_type MESSAGE_TAG", false
		}
	case mt == "MESSAGE_TAG":
		if t, _ := b["tag"].(string); !p.Tags[t] {
			return fmt.Sprintf("param tag must be one of %v", slices.Sorted(maps.Keys(p.Tags))), false
		}
	default:
		return fmt.Sprintf("messaging_type must be MESSAGE_TAG or one of %v", slices.Sorted(maps.Keys(p.MessagingTypes))), false
	}
	msg, _ := b["message"].(map[string]any)
	text, hasText := msg["text"].(string)
	att, hasAtt := msg["attachment"].(map[string]any)
	if hasText == hasAtt {
		return "message must have exactly one of text or attachment", false
	}
	n, unit := utf8.RuneCountInString(text), "characters"
	if p.TextBytes {
		n, unit = len(text), "bytes"
	}
	if hasText && (n == 0 || n > p.MaxText) {
		return fmt.Sprintf("message.text must be 1..%d %s", p.MaxText, unit), false
	}
	if hasAtt {
		pl, _ := att["payload"].(map[string]any)
		switch att["type"] {
		case "image", "file", "audio", "video":
			u, _ := pl["url"].(string)
			id, _ := pl["attachment_id"].(string)
			if u == "" && id == "" {
				return fmt.Sprintf("%s attachment needs payload.url or payload.attachment_id", att["type"]), false
			}
		case "template":
			if !p.ButtonTemplate {
				return "unsupported attachment type", false
			}
			if pl["template_type"] == "generic" {
				return validateGeneric(pl)
			}
			btns, _ := pl["buttons"].([]any)
			if pl["template_type"] != "button" || len(btns) == 0 || len(btns) > 3 {
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
			pl, _ := q["payload"].(string)
			if q["content_type"] != "text" || t == "" || utf8.RuneCountInString(t) > 20 || pl == "" {
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
	b, _ := json.Marshal(map[string]any{"object": s.prod.Object, "entry": []any{
		map[string]any{"id": s.opt.PageID, "time": now, "messaging": []any{ev}},
	}})
	return b
}

func (s *Server) nextMID() string { return fmt.Sprintf("m_IN%022d", s.NextID()) }

// Delivery sends a message_deliveries webhook (mids may be empty).
func (s *Server) Delivery(ctx context.Context, psid string, watermarkMillis int64, mids ...string) error {
	d := map[string]any{"watermark": watermarkMillis}
	if len(mids) > 0 {
		d["mids"] = mids
	}
	return s.Post(ctx, s.entry(map[string]any{"sender": map[string]string{"id": psid}, "delivery": d}))
}

// Seen sends Instagram's messaging_seen webhook naming the seen mid.
func (s *Server) Seen(ctx context.Context, igsid, mid string) error {
	return s.Post(ctx, s.entry(map[string]any{"sender": map[string]string{"id": igsid}, "read": map[string]any{"mid": mid}}))
}

// Event sends one messaging event from psid (ev without sender/recipient).
func (s *Server) Event(ctx context.Context, psid string, ev map[string]any) error {
	ev["sender"] = map[string]string{"id": psid}
	return s.Post(ctx, s.entry(ev))
}

// NextMID returns a fresh inbound mid.
func (s *Server) NextMID() string { return s.nextMID() }

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

// Postback sends a postback (button, Get Started, Instagram icebreaker);
// ref ≠ "" adds the referral of a new thread opened from m.me/<page>?ref=
// or ig.me/m/<user>?ref=.
func (s *Server) Postback(ctx context.Context, psid, title, payload, ref string) (string, error) {
	mid := s.nextMID()
	pb := map[string]any{"mid": mid, "title": title, "payload": payload}
	if ref != "" {
		pb["referral"] = map[string]string{"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}
	}
	return mid, s.Post(ctx, s.entry(map[string]any{"sender": map[string]string{"id": psid}, "postback": pb}))
}

// Referral sends a referral event (existing thread opened from m.me or
// ig.me ?ref=).
func (s *Server) Referral(ctx context.Context, psid, ref string) error {
	return s.Post(ctx, s.entry(map[string]any{"sender": map[string]string{"id": psid},
		"referral": map[string]string{"ref": ref, "source": "SHORTLINK", "type": "OPEN_THREAD"}}))
}

// Post signs body with the app secret and POSTs it to the webhook
// (set with SetWebhook).
func (s *Server) Post(ctx context.Context, body []byte) error {
	return s.PostWebhook(ctx, s.opt.Client, s.prod.Name, "application/json", body,
		map[string]string{meta.SignatureHeader: meta.Sign(s.opt.AppSecret, body)})
}
