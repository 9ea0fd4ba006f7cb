// Package messengerfake is an in-process Messenger Send API: an httptest
// server that accepts POST /me/messages like Graph does (page token as bearer
// header or access_token query, messaging_type rules, quick reply and button
// limits), enforces a per-page rate (613), answers scriptable errors (rate
// limited once, person unavailable 551, outside the window 10/2018278, no
// matching user), and sends webhooks — messages, quick replies, postbacks,
// referrals, delivery and read watermarks — signed with a real
// X-Hub-Signature-256 on a scriptable timetable.
package messengerfake

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"time"
	"unicode/utf8"

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
	opt      Options
	srv      *httptest.Server
	hc       *http.Client
	mu       sync.Mutex
	seq      int
	sent     []Sent
	failNext []graphErr
	blocked  map[string]bool
	closed   map[string]bool
	unknown  map[string]bool
	plans    map[string]Plan
	dflt     *Plan
	webhook  string
	window   []time.Time
	hookErrs []error
	requests int
}

// New starts a fake; Close it when done.
func New(opt Options) *Server {
	if opt.PageToken == "" {
		opt.PageToken = "test-page-token"
	}
	if opt.PageID == "" {
		opt.PageID = "200000000000001"
	}
	if opt.AppSecret == "" {
		opt.AppSecret = "test-app-secret"
	}
	if opt.PerSecond == 0 {
		opt.PerSecond = 40
	}
	if opt.Now == nil {
		opt.Now = time.Now
	}
	if opt.Client == nil {
		opt.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.After == nil {
		opt.After = func(d time.Duration, f func()) { time.AfterFunc(d, f) }
	}
	s := &Server{opt: opt, hc: opt.Client,
		blocked: map[string]bool{}, closed: map[string]bool{}, unknown: map[string]bool{}, plans: map[string]Plan{}}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /me/messages", s.messages)
	mux.HandleFunc("POST /{page}/messages", s.messages)
	s.srv = httptest.NewServer(mux)
	return s
}

// URL is the base to use as messenger.Config.APIURL.
func (s *Server) URL() string { return s.srv.URL }

// Options returns the effective options.
func (s *Server) Options() Options { return s.opt }

// Close stops the server.
func (s *Server) Close() { s.srv.Close() }

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
	s.mu.Lock()
	s.failNext = append(s.failNext, graphErr{st, code, subcode, msg})
	s.mu.Unlock()
}

// Block makes sends to psid fail with 551 "This person isn't available right now".
func (s *Server) Block(psid string) { s.mu.Lock(); s.blocked[psid] = true; s.mu.Unlock() }

// CloseWindow makes sends to psid without a message tag fail with 10/2018278.
func (s *Server) CloseWindow(psid string) { s.mu.Lock(); s.closed[psid] = true; s.mu.Unlock() }

// Unknown makes sends to psid fail with 100/2018001 (no matching user).
func (s *Server) Unknown(psid string) { s.mu.Lock(); s.unknown[psid] = true; s.mu.Unlock() }

// SetPlan scripts receipts for messages to psid.
func (s *Server) SetPlan(psid string, p Plan) { s.mu.Lock(); s.plans[psid] = p; s.mu.Unlock() }

// SetDefaultPlan scripts receipts for people without their own plan.
func (s *Server) SetDefaultPlan(p Plan) { s.mu.Lock(); s.dflt = &p; s.mu.Unlock() }

// Sent returns the accepted messages in order.
func (s *Server) Sent() []Sent {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Sent(nil), s.sent...)
}

// Requests counts every send request.
func (s *Server) Requests() int { s.mu.Lock(); defer s.mu.Unlock(); return s.requests }

// WebhookErrors returns failures of scheduled webhooks.
func (s *Server) WebhookErrors() []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]error(nil), s.hookErrs...)
}

func writeErr(w http.ResponseWriter, e graphErr) {
	if e.status >= 500 {
		http.Error(w, "upstream error", e.status)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.status)
	body := map[string]any{"message": e.msg, "type": "OAuthException", "code": e.code, "fbtrace_id": "AbCdEfFake"}
	if e.sub != 0 {
		body["error_subcode"] = e.sub
	}
	_ = json.NewEncoder(w).Encode(map[string]any{"error": body})
}

var tags = map[string]bool{"ACCOUNT_UPDATE": true, "CONFIRMED_EVENT_UPDATE": true, "POST_PURCHASE_UPDATE": true, "HUMAN_AGENT": true}

func (s *Server) messages(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.requests++
	s.mu.Unlock()
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
	switch {
	case len(s.failNext) > 0:
		e = &s.failNext[0]
		s.failNext = s.failNext[1:]
	case s.unknown[to]:
		e = &graphErr{http.StatusBadRequest, 100, 2018001, "(#100) No matching user found"}
	case s.blocked[to]:
		e = &graphErr{http.StatusBadRequest, 551, 1545041, "(#551) This person isn't available right now."}
	case s.closed[to] && mt != "MESSAGE_TAG":
		e = &graphErr{http.StatusBadRequest, 10, 2018278, "(#10) This message is sent outside of allowed window."}
	}
	if e == nil && s.opt.PerSecond > 0 {
		keep := s.window[:0]
		for _, t := range s.window {
			if now.Sub(t) < time.Second {
				keep = append(keep, t)
			}
		}
		s.window = keep
		if len(s.window) >= s.opt.PerSecond {
			e = &graphErr{http.StatusBadRequest, 613, 0, "(#613) Calls to this api have exceeded the rate limit."}
		}
	}
	if e != nil {
		s.mu.Unlock()
		writeErr(w, *e)
		return
	}
	s.window = append(s.window, now)
	s.seq++
	mid := fmt.Sprintf("m_FAKE%020d", s.seq)
	s.sent = append(s.sent, Sent{MID: mid, To: to, MessagingType: mt, Tag: tag, Body: body, At: now})
	plan, has := s.plans[to]
	if !has && s.dflt != nil {
		plan, has = *s.dflt, true
	}
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]string{"recipient_id": to, "message_id": mid})
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
	record := func(err error) {
		if err != nil {
			s.mu.Lock()
			s.hookErrs = append(s.hookErrs, err)
			s.mu.Unlock()
		}
	}
	if p.Delivered > 0 {
		s.opt.After(p.Delivered, func() { record(s.Delivery(context.Background(), psid, wm, mid)) })
	}
	if p.Read > 0 {
		s.opt.After(p.Read, func() { record(s.Read(context.Background(), psid, wm)) })
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
		case "image":
			if u, _ := p["url"].(string); u == "" {
				return "image attachment needs payload.url", false
			}
		case "template":
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set(meta.SignatureHeader, meta.Sign(s.opt.AppSecret, body))
	resp, err := s.hc.Do(req)
	if err != nil {
		return fmt.Errorf("messengerfake: webhook: %w", err)
	}
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("messengerfake: webhook answered %d", resp.StatusCode)
	}
	return nil
}
