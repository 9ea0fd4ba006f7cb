// Package smsfake is an in-process Twilio Messages API: an httptest server
// that accepts the form POST to /2010-04-01/Accounts/{sid}/Messages.json with
// Basic auth like Twilio (201 with the Message JSON, or Twilio error JSON:
// 20003 auth, 21211 invalid To, 21610 unsubscribed, 21614 not mobile, 21617
// body too long, 20429 with Retry-After), enforces a request rate, counts
// segments, and posts status callbacks (sent, then delivered or undelivered
// with an ErrorCode) and inbound messages signed with a real
// X-Twilio-Signature on a scriptable timetable. An inbound STOP puts the
// number on the unsubscribed list, as Twilio's Advanced Opt-Out does.
package smsfake

import (
	"cmp"
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/nudge-engine/nudge/channels/internal/fakekit"
	"github.com/nudge-engine/nudge/channels/sms"
)

// Options configure a fake; zero values take the defaults shown.
type Options struct {
	AccountSID string // "AC" + 32 hex
	AuthToken  string // "test-auth-token"
	From       string // "+15005550006"
	PerSecond  int    // 100 API requests per second before 20429 (<0 = unlimited)
	RetryAfter int    // seconds in the Retry-After of a 429 (default 1)
	Now        func() time.Time
	After      func(d time.Duration, f func()) // default time.AfterFunc
	// Client posts webhooks (default: a 10s-timeout client); give it the
	// trust of an https webhook URL.
	Client *http.Client
}

// Plan scripts the status callbacks after a message to a number: "sent"
// at once, then "delivered" after Delivered, or "undelivered" with ErrorCode
// after Delivered when ErrorCode ≠ "" (e.g. "30003").
type Plan struct {
	Delivered time.Duration
	ErrorCode string
}

// Sent is one accepted message.
type Sent struct {
	SID, To, From, Body, MediaURL, StatusCallback string
	Segments                                      int
	At                                            time.Time
}

type apiErr struct {
	status, code, retry int
	msg                 string
}

// Server is the fake.
type Server struct {
	fakekit.Core[Plan, Sent]
	opt      Options
	mu       sync.Mutex
	failNext fakekit.Once[apiErr]
	unsub    fakekit.Set[string]
	landline fakekit.Set[string]
	inbound  string
	window   fakekit.Window
}

// New starts a fake; Close it when done.
func New(opt Options) *Server {
	opt.AccountSID = cmp.Or(opt.AccountSID, "AC00000000000000000000000000000001")
	opt.AuthToken = cmp.Or(opt.AuthToken, "test-auth-token")
	opt.From = cmp.Or(opt.From, "+15005550006")
	opt.PerSecond = cmp.Or(opt.PerSecond, 100)
	opt.RetryAfter = cmp.Or(opt.RetryAfter, 1)
	fakekit.Defaults(&opt.Now, &opt.After, &opt.Client)
	s := &Server{opt: opt}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /2010-04-01/Accounts/{sid}/Messages.json", s.create)
	s.Serve(mux)
	return s
}

// Options returns the effective options.
func (s *Server) Options() Options { return s.opt }

// SetInboundURL sets where inbound messages are posted (the number's
// "A message comes in" webhook).
func (s *Server) SetInboundURL(u string) { s.mu.Lock(); s.inbound = u; s.mu.Unlock() }

// FailNext makes the next create answer HTTP status with Twilio code (a 429
// carries Retry-After).
func (s *Server) FailNext(status, code int, msg string) {
	s.failNext.Add(apiErr{status: status, code: code, msg: msg, retry: s.opt.RetryAfter})
}

// Unsubscribe puts to on the opt-out list: sends answer 21610.
func (s *Server) Unsubscribe(to string) { s.unsub.Add(to) }

// Landline makes sends to to answer 21614 (not a mobile number).
func (s *Server) Landline(to string) { s.landline.Add(to) }

func writeErr(w http.ResponseWriter, e apiErr) {
	if e.status == http.StatusTooManyRequests {
		w.Header().Set("Retry-After", strconv.Itoa(e.retry))
	}
	fakekit.WriteJSON(w, e.status, map[string]any{
		"code": e.code, "message": e.msg, "more_info": fmt.Sprintf("https://www.twilio.com/docs/errors/%d", e.code), "status": e.status,
	})
}

var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	s.CountRequest()
	user, pass, ok := r.BasicAuth()
	if !ok || user != s.opt.AccountSID || pass != s.opt.AuthToken || r.PathValue("sid") != s.opt.AccountSID {
		writeErr(w, apiErr{status: http.StatusUnauthorized, code: 20003, msg: "Authenticate"})
		return
	}
	if err := r.ParseForm(); err != nil {
		writeErr(w, apiErr{status: http.StatusBadRequest, code: 21600, msg: "Bad form"})
		return
	}
	to, from, body := r.PostForm.Get("To"), r.PostForm.Get("From"), r.PostForm.Get("Body")
	if from == "" && r.PostForm.Get("MessagingServiceSid") == "" {
		writeErr(w, apiErr{status: http.StatusBadRequest, code: 21603, msg: "A 'From' or 'MessagingServiceSid' parameter is required"})
		return
	}
	if from != "" && from != s.opt.From {
		writeErr(w, apiErr{status: http.StatusBadRequest, code: 21606, msg: "The 'From' phone number provided is not a valid message-capable Twilio phone number"})
		return
	}
	if !e164.MatchString(to) {
		writeErr(w, apiErr{status: http.StatusBadRequest, code: 21211, msg: fmt.Sprintf("The 'To' number %s is not a valid phone number.", to)})
		return
	}
	if body == "" && r.PostForm.Get("MediaUrl") == "" {
		writeErr(w, apiErr{status: http.StatusBadRequest, code: 21602, msg: "Message body is required."})
		return
	}
	if utf8.RuneCountInString(body) > 1600 {
		writeErr(w, apiErr{status: http.StatusBadRequest, code: 21617, msg: "The concatenated message body exceeds the 1600 character limit."})
		return
	}
	cb := r.PostForm.Get("StatusCallback")
	if cb != "" {
		if u, err := url.Parse(cb); err != nil || (u.Scheme != "http" && u.Scheme != "https") {
			writeErr(w, apiErr{status: http.StatusBadRequest, code: 21609, msg: "Invalid StatusCallback URL"})
			return
		}
	}
	s.mu.Lock()
	now := s.opt.Now()
	var e *apiErr
	switch f, scripted := s.failNext.Next(); {
	case scripted:
		e = &f
	case s.unsub.Has(to):
		e = &apiErr{status: http.StatusBadRequest, code: 21610, msg: "Attempt to send to unsubscribed recipient"}
	case s.landline.Has(to):
		e = &apiErr{status: http.StatusBadRequest, code: 21614, msg: fmt.Sprintf("'To' number %s is not a valid mobile number", to)}
	}
	if e == nil && !s.window.Admit(now, time.Second, s.opt.PerSecond) {
		e = &apiErr{status: http.StatusTooManyRequests, code: 20429, msg: "Too Many Requests", retry: s.opt.RetryAfter}
	}
	if e != nil {
		s.mu.Unlock()
		writeErr(w, *e)
		return
	}
	sid := fmt.Sprintf("SM%032x", s.NextID())
	seg := sms.Segments(body)
	if seg == 0 {
		seg = 1
	}
	if from == "" {
		from = s.opt.From
	}
	plan, has := s.Accept(to, Sent{SID: sid, To: to, From: from, Body: body, MediaURL: r.PostForm.Get("MediaUrl"), StatusCallback: cb, Segments: seg, At: now})
	s.mu.Unlock()
	fakekit.WriteJSON(w, http.StatusCreated, map[string]any{
		"sid": sid, "account_sid": s.opt.AccountSID, "to": to, "from": from, "body": body,
		"status": "queued", "num_segments": strconv.Itoa(seg), "num_media": "0", "direction": "outbound-api",
		"api_version": "2010-04-01", "price": nil, "error_code": nil, "error_message": nil,
		"date_created": now.UTC().Format(time.RFC1123Z), "uri": "/2010-04-01/Accounts/" + s.opt.AccountSID + "/Messages/" + sid + ".json",
	})
	if has && cb != "" {
		s.schedule(cb, sid, to, from, plan)
	}
}

func (s *Server) schedule(cb, sid, to, from string, p Plan) {
	emit := func(status, code string) func() {
		return func() {
			s.HookFailed(s.Status(context.Background(), cb, sid, to, from, status, code))
		}
	}
	s.opt.After(0, emit("sent", ""))
	if p.ErrorCode != "" {
		s.opt.After(p.Delivered, emit("undelivered", p.ErrorCode))
	} else if p.Delivered > 0 {
		s.opt.After(p.Delivered, emit("delivered", ""))
	}
}

// Status posts a signed status callback for message sid to callbackURL.
func (s *Server) Status(ctx context.Context, callbackURL, sid, to, from, status, errorCode string) error {
	f := url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "AccountSid": {s.opt.AccountSID}, "From": {from}, "To": {to},
		"MessageStatus": {status}, "SmsStatus": {status}, "ApiVersion": {"2010-04-01"},
	}
	if errorCode != "" {
		f.Set("ErrorCode", errorCode)
	}
	if status == "delivered" || status == "undelivered" {
		f.Set("RawDlrDoneDate", s.opt.Now().UTC().Format("0601021504"))
	}
	return s.Post(ctx, callbackURL, f)
}

// Inbound posts a signed inbound message from a phone to the inbound URL; a
// STOP word also unsubscribes the number, as Twilio does.
func (s *Server) Inbound(ctx context.Context, from, body string) (string, error) {
	sid := fmt.Sprintf("SM%032x", s.NextID())
	s.mu.Lock()
	u := s.inbound
	if sms.IsOptOut(body) {
		s.unsub.Add(from)
	}
	s.mu.Unlock()
	if u == "" {
		return "", fmt.Errorf("smsfake: no inbound URL set")
	}
	f := url.Values{
		"MessageSid": {sid}, "SmsSid": {sid}, "SmsMessageSid": {sid}, "AccountSid": {s.opt.AccountSID},
		"From": {from}, "To": {s.opt.From}, "Body": {body}, "NumMedia": {"0"}, "NumSegments": {"1"},
		"SmsStatus": {"received"}, "ApiVersion": {"2010-04-01"},
	}
	if sms.IsOptOut(body) {
		f.Set("OptOutType", "STOP")
	}
	return sid, s.Post(ctx, u, f)
}

// Post signs form for target with the auth token and POSTs it.
func (s *Server) Post(ctx context.Context, target string, form url.Values) error {
	return fakekit.Deliver(ctx, s.opt.Client, "smsfake: callback", target, "application/x-www-form-urlencoded", []byte(form.Encode()), map[string]string{
		sms.SignatureHeader:          sms.Sign(s.opt.AuthToken, target, form),
		"I-Twilio-Idempotency-Token": fmt.Sprintf("fake-%d", time.Now().UnixNano()),
	})
}
