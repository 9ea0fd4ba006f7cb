package fakes

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/email/emailfake"
	"github.com/nudge-engine/nudge/channels/instagram/instagramfake"
	"github.com/nudge-engine/nudge/channels/messenger/messengerfake"
	"github.com/nudge-engine/nudge/channels/sms/smsfake"
	"github.com/nudge-engine/nudge/channels/telegram/telegramfake"
	"github.com/nudge-engine/nudge/channels/viber/viberfake"
	"github.com/nudge-engine/nudge/channels/vk/vkfake"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
)

// Message is one message a fake accepted, in one shape for every channel.
type Message struct {
	Channel string    `json:"channel"`
	To      string    `json:"to"`
	ID      string    `json:"id"`
	Text    string    `json:"text"`
	Subject string    `json:"subject,omitempty"`
	Format  string    `json:"format,omitempty"`  // "html" when Text is Telegram HTML markup
	Buttons []string  `json:"buttons,omitempty"` // what a press sends back (callback data, action body, payload)
	Keys    []Key     `json:"keys,omitempty"`    // every button as the customer sees it, links included
	At      time.Time `json:"at"`
	Raw     any       `json:"raw,omitempty"` // the request body (WhatsApp, Messenger, Instagram)
}

// Key is one button of a message as the customer sees it: a label and
// either the data a press sends back or the link it opens.
type Key struct {
	Label string `json:"label"`
	Data  string `json:"data,omitempty"`
	URL   string `json:"url,omitempty"`
	Row   int    `json:"row,omitempty"` // the keyboard row, from 0, where the provider has rows
}

// Action is the body of the customer actions: POST /{channel}/start, /text,
// /press and /plan.
type Action struct {
	User      string `json:"user"`                 // chat id, Viber id, phone, PSID, IGSID, VK peer, email
	Code      string `json:"code,omitempty"`       // start: the opt-in code of the deep link
	Text      string `json:"text,omitempty"`       // text
	Data      string `json:"data,omitempty"`       // press: the button's callback data / payload
	MessageID string `json:"message_id,omitempty"` // press: the message (default the last one with buttons)
	Plan      string `json:"plan,omitempty"`       // plan: delivered | never_delivered | undelivered | blocked
}

// ActionResult is what a customer action answers: the HTTP status Nudge's
// webhook returned.
type ActionResult struct {
	Status int `json:"status"`
}

// Plans for POST /{channel}/plan.
const (
	PlanDelivered      = "delivered"       // the default receipts
	PlanNeverDelivered = "never_delivered" // accepted, no receipt ever (Telegram: the chat blocked the bot)
	PlanUndelivered    = "undelivered"     // accepted, then reported failed (Twilio 30003, Viber failed, WhatsApp 131026)
	PlanBlocked        = "blocked"         // refused at send: the customer blocked the bot
)

const usage = `nudge-fakes control API (JSON)
  GET  /env                     the NUDGE_* variables that point nudge at the fakes
  GET  /sent[?channel=telegram]  what the fakes accepted, oldest first
  GET  /chat                    every customer's chat as their messenger shows it (HTML)
  GET  /chat/{channel}/{user}   one conversation: press its buttons, write a reply
  POST /{channel}/start {"user","code"}        a customer opens a deep link and starts the bot
  POST /{channel}/text  {"user","text"}        a customer writes
  POST /{channel}/press {"user","data"[,"message_id"]} a customer presses a button
  POST /{channel}/plan  {"user","plan"}        delivered | never_delivered | undelivered | blocked
  POST /telegram/pay    {"user"[,"message_id"]} a customer pays an invoice (default the last one)
channels: telegram viber whatsapp messenger instagram vk sms email
POST bodies must be Content-Type: application/json.
`

// Handler is the control API.
func (s *Set) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		fmt.Fprint(w, usage)
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, http.StatusOK, s.Env()) })
	mux.HandleFunc("GET /sent", func(w http.ResponseWriter, r *http.Request) {
		ch := channels.Kind(r.URL.Query().Get("channel"))
		if ch != "" && !ch.Valid() {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("channel %q: not one of telegram, viber, whatsapp, messenger, instagram, vk, sms, email", ch))
			return
		}
		out := []Message{}
		for _, m := range s.Sent() {
			if ch == "" || m.Channel == string(ch) {
				out = append(out, m)
			}
		}
		writeJSON(w, http.StatusOK, out)
	})
	s.chatRoutes(mux)
	mux.HandleFunc("POST /{channel}/{action}", func(w http.ResponseWriter, r *http.Request) {
		// A JSON content type is not one a cross-site form can send, nor
		// fetch without a preflight this API never answers: another web
		// page cannot play a customer (CSRF).
		if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
			writeErr(w, http.StatusUnsupportedMediaType, errors.New("Content-Type must be application/json"))
			return
		}
		var a Action
		r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
		dec := json.NewDecoder(r.Body)
		dec.DisallowUnknownFields()
		if err := dec.Decode(&a); err != nil {
			writeErr(w, http.StatusBadRequest, fmt.Errorf("body: %w", err))
			return
		}
		if a.User == "" {
			writeErr(w, http.StatusBadRequest, errors.New(`"user" is required`))
			return
		}
		status, err := s.Do(r.Context(), channels.Kind(r.PathValue("channel")), r.PathValue("action"), a)
		var bad *BadAction
		switch {
		case errors.As(err, &bad):
			writeErr(w, http.StatusBadRequest, err)
		case err != nil:
			writeErr(w, http.StatusBadGateway, err)
		default:
			writeJSON(w, http.StatusOK, ActionResult{Status: status})
		}
	})
	return hostGuard(mux)
}

// hostGuard answers only requests addressed to an IP address or localhost:
// a web page whose own name was re-pointed at this address (DNS rebinding)
// would otherwise be same-origin with the API and could play customers.
func hostGuard(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		host := r.Host
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		host = strings.Trim(host, "[]")
		if net.ParseIP(host) == nil && !strings.EqualFold(host, "localhost") {
			writeErr(w, http.StatusMisdirectedRequest, fmt.Errorf("host %q: the control API answers only an IP address or localhost", r.Host))
			return
		}
		next.ServeHTTP(w, r)
	})
}

// BadAction is a control request the fakes cannot play.
type BadAction struct{ Msg string }

func (e *BadAction) Error() string { return e.Msg }

func bad(format string, args ...any) error { return &BadAction{Msg: fmt.Sprintf(format, args...)} }

// Do plays a customer action (start, text, press, plan) on channel ch and
// returns the status Nudge's webhook answered (0 for plans).
func (s *Set) Do(ctx context.Context, ch channels.Kind, action string, a Action) (int, error) {
	switch action {
	case "start", "text", "press", "plan", "pay":
	default:
		return 0, bad("action %q: not one of start, text, press, plan, pay", action)
	}
	if action == "plan" {
		return 0, s.plan(ch, a)
	}
	if action == "pay" {
		return s.pay(ctx, ch, a)
	}
	st, err := s.play(ctx, ch, action, a)
	if err == nil {
		s.record(ch, action, a, st)
	}
	return st, err
}

// play posts the webhook of one customer action in the provider's format.
func (s *Set) play(ctx context.Context, ch channels.Kind, action string, a Action) (int, error) {
	switch ch {
	case channels.Telegram:
		return s.telegram(ctx, action, a)
	case channels.Viber:
		return s.viber(ctx, action, a)
	case channels.VK:
		return s.vk(ctx, action, a)
	case channels.WhatsApp, channels.Messenger, channels.Instagram, channels.SMS:
		if s.opt.BaseURL == "" {
			return 0, errNoBaseURL
		}
		return http.StatusOK, s.meta(ctx, ch, action, a)
	case channels.Email:
		return 0, bad("email: customers do not write back through the SMTP fake; only plan is supported")
	}
	return 0, bad("channel %q: not one of telegram, viber, whatsapp, messenger, instagram, vk, sms, email", ch)
}

// numericIDs parses a.User as the number Telegram and VK know users by
// (what names it in errors: "chat id", "peer id") and, for a press, the id
// of the message it answers.
func (s *Set) numericIDs(ch channels.Kind, what, action string, a Action) (user, msg int64, err error) {
	user, err = strconv.ParseInt(a.User, 10, 64)
	if err != nil {
		return 0, 0, bad("%s user %q: not a numeric %s", ch, a.User, what)
	}
	if action == "press" {
		id, err := s.pressTarget(ch, a)
		if err != nil {
			return 0, 0, err
		}
		msg, _ = strconv.ParseInt(id, 10, 64)
	}
	return user, msg, nil
}

func (s *Set) telegram(ctx context.Context, action string, a Action) (int, error) {
	chat, msg, err := s.numericIDs(channels.Telegram, "chat id", action, a)
	if err != nil {
		return 0, err
	}
	var body []byte
	switch action {
	case "start":
		body = s.Telegram.TextUpdate(chat, strings.TrimSpace("/start "+a.Code))
	case "text":
		body = s.Telegram.TextUpdate(chat, a.Text)
	case "press":
		body = s.Telegram.CallbackUpdate(chat, msg, a.Data)
	}
	return s.Telegram.Post(ctx, body)
}

func (s *Set) viber(ctx context.Context, action string, a Action) (int, error) {
	var st int
	var err error
	switch action {
	case "start":
		if st, _, err = s.Viber.Post(ctx, s.Viber.ConversationStarted(a.User, a.Code)); err != nil || st != http.StatusOK {
			return st, err
		}
		st, _, err = s.Viber.Post(ctx, s.Viber.Subscribed(a.User))
	case "text":
		st, _, err = s.Viber.Post(ctx, s.Viber.Message(a.User, a.Text, ""))
	case "press":
		// A keyboard reply arrives as text = ActionBody with the message's
		// tracking data echoed.
		var tracking string
		for _, m := range s.Viber.SentTo(a.User) {
			if a.MessageID == "" || strconv.FormatInt(m.MessageToken, 10) == a.MessageID {
				tracking = m.TrackingData
			}
		}
		st, _, err = s.Viber.Post(ctx, s.Viber.Message(a.User, a.Data, tracking))
	}
	return st, err
}

func (s *Set) vk(ctx context.Context, action string, a Action) (int, error) {
	if s.opt.BaseURL == "" {
		return 0, errNoBaseURL
	}
	peer, msg, err := s.numericIDs(channels.VK, "peer id", action, a)
	if err != nil {
		return 0, err
	}
	var body []byte
	switch action {
	case "start":
		body = s.VK.MessageNew(peer, "Start", "", a.Code)
	case "text":
		body = s.VK.MessageNew(peer, a.Text, "", "")
	case "press":
		body = s.VK.MessageEvent(peer, a.Data, msg)
	}
	st, _, err := s.VK.Post(ctx, body)
	return st, err
}

// meta plays WhatsApp, Messenger, Instagram and inbound SMS, whose fakes answer with
// an error for a non-2xx webhook answer.
func (s *Set) meta(ctx context.Context, ch channels.Kind, action string, a Action) error {
	var err error
	switch {
	case ch == channels.WhatsApp && action == "start":
		_, err = s.WhatsApp.Text(ctx, a.User, "", "Subscribe me: "+a.Code)
	case ch == channels.WhatsApp && action == "text":
		_, err = s.WhatsApp.Text(ctx, a.User, "", a.Text)
	case ch == channels.WhatsApp && action == "press":
		id, perr := s.pressTarget(ch, a)
		if perr != nil {
			return perr
		}
		_, err = s.WhatsApp.PressButton(ctx, a.User, id, a.Data, s.label(ch, a))
	case ch == channels.Messenger && action == "start":
		err = s.Messenger.Referral(ctx, a.User, a.Code)
	case ch == channels.Messenger && action == "text":
		_, err = s.Messenger.Text(ctx, a.User, a.Text)
	case ch == channels.Messenger && action == "press":
		_, err = s.Messenger.Postback(ctx, a.User, s.label(ch, a), a.Data, "")
	case ch == channels.Instagram && action == "start":
		err = s.Instagram.OpenLink(ctx, a.User, a.Code, false)
	case ch == channels.Instagram && action == "text":
		_, err = s.Instagram.Text(ctx, a.User, a.Text)
	case ch == channels.Instagram && action == "press":
		_, err = s.Instagram.QuickReply(ctx, a.User, s.label(ch, a), a.Data)
	case ch == channels.SMS && action == "text":
		_, err = s.SMS.Inbound(ctx, a.User, a.Text)
	case ch == channels.SMS:
		return bad("sms: only text and plan are supported (SMS has no start or buttons)")
	}
	return err
}

// pressTarget is the message a press answers: the one named, or the last
// one sent to the user with buttons.
func (s *Set) pressTarget(ch channels.Kind, a Action) (string, error) {
	if a.MessageID != "" {
		return a.MessageID, nil
	}
	id := ""
	for _, m := range s.Sent() {
		if m.Channel == string(ch) && m.To == a.User && len(m.Buttons) > 0 {
			id = m.ID
		}
	}
	if id == "" {
		return "", bad("%s: no message with buttons was sent to %s", ch, a.User)
	}
	return id, nil
}

// plan sets what happens to messages sent to a.User.
func (s *Set) plan(ch channels.Kind, a Action) error {
	plans, err := s.plans(ch, a.User)
	if err != nil {
		return err
	}
	set, ok := plans[a.Plan]
	if !ok {
		return badPlan(ch, a.Plan)
	}
	set()
	return nil
}

// plans are what each plan a channel supports does to messages sent to user.
func (s *Set) plans(ch channels.Kind, user string) (map[string]func(), error) {
	switch ch {
	case channels.Telegram:
		chat, err := strconv.ParseInt(user, 10, 64)
		if err != nil {
			return nil, bad("telegram user %q: not a numeric chat id", user)
		}
		// Telegram reports no delivery: a message that never arrives is one
		// refused because the customer blocked the bot.
		blocked := func() { s.Telegram.SetChat(chat, telegramfake.Blocked) }
		return map[string]func(){
			PlanDelivered:      func() { s.Telegram.ClearChat(chat) },
			PlanNeverDelivered: blocked,
			PlanBlocked:        blocked,
		}, nil
	case channels.Viber:
		plan := func(p viberfake.Plan) func() { return func() { s.Viber.SetReceiverPlan(user, p) } }
		return map[string]func(){
			PlanDelivered:      plan(viberfake.Plan{DeliveredAfter: deliveredAfter, SeenAfter: readAfter}),
			PlanNeverDelivered: plan(viberfake.Plan{DeliveredAfter: 1000 * time.Hour}),
			PlanUndelivered:    plan(viberfake.Plan{DeliveredAfter: time.Minute, Fail: "undeliverable"}),
			PlanBlocked:        func() { s.Viber.Subscribe(user, false) },
		}, nil
	case channels.SMS:
		plan := func(p smsfake.Plan) func() { return func() { s.SMS.SetPlan(user, p) } }
		return map[string]func(){
			PlanDelivered:      plan(smsfake.Plan{Delivered: time.Minute}),
			PlanNeverDelivered: plan(smsfake.Plan{}),
			PlanUndelivered:    plan(smsfake.Plan{Delivered: time.Minute, ErrorCode: "30003"}),
			PlanBlocked:        func() { s.SMS.Unsubscribe(user) },
		}, nil
	case channels.WhatsApp:
		plan := func(p whatsappfake.Plan) func() { return func() { s.WhatsApp.SetPlan(user, p) } }
		return map[string]func(){
			PlanDelivered:      plan(whatsappfake.Plan{Delivered: deliveredAfter, Read: readAfter}),
			PlanNeverDelivered: plan(whatsappfake.Plan{}),
			PlanUndelivered:    plan(whatsappfake.Plan{Delivered: time.Minute, FailCode: 131026}),
			PlanBlocked:        func() { s.WhatsApp.Block(user) },
		}, nil
	case channels.Messenger:
		plan := func(p messengerfake.Plan) func() { return func() { s.Messenger.SetPlan(user, p) } }
		return map[string]func(){
			PlanDelivered:      plan(messengerfake.Plan{Delivered: deliveredAfter, Read: readAfter}),
			PlanNeverDelivered: plan(messengerfake.Plan{}),
			PlanBlocked:        func() { s.Messenger.Block(user) },
		}, nil
	case channels.Instagram:
		plan := func(p instagramfake.Plan) func() { return func() { s.Instagram.SetPlan(user, p) } }
		return map[string]func(){
			PlanDelivered:      plan(instagramfake.Plan{Read: readAfter}),
			PlanNeverDelivered: plan(instagramfake.Plan{}),
			PlanBlocked:        func() { s.Instagram.Block(user) },
		}, nil
	case channels.VK:
		peer, err := strconv.ParseInt(user, 10, 64)
		if err != nil {
			return nil, bad("vk user %q: not a numeric peer id", user)
		}
		refused := func() { s.VK.Allow(peer, false) }
		return map[string]func(){
			PlanDelivered:      func() { s.VK.Allow(peer, true) },
			PlanNeverDelivered: refused,
			PlanBlocked:        refused,
		}, nil
	case channels.Email:
		reject := func() {
			s.Email.Reject(user, emailfake.Reply{Code: 550, Enhanced: [3]int{5, 1, 1}, Message: "mailbox unavailable"})
		}
		return map[string]func(){PlanUndelivered: reject, PlanBlocked: reject}, nil
	}
	return nil, bad("channel %q: not one of telegram, viber, whatsapp, messenger, instagram, vk, sms, email", ch)
}

func badPlan(ch channels.Kind, p string) error {
	return bad("%s: plan %q is not supported (delivered, never_delivered, undelivered, blocked as the channel allows)", ch, p)
}

// Sent lists what every fake accepted, channel by channel, oldest first.
func (s *Set) Sent() []Message {
	var out []Message
	for _, m := range s.Telegram.Sent() {
		msg := Message{Channel: string(channels.Telegram), To: strconv.FormatInt(m.ChatID, 10), ID: strconv.FormatInt(m.MessageID, 10), Text: m.Text, At: m.At}
		if strings.EqualFold(m.ParseMode, "HTML") {
			msg.Format = "html"
		}
		addRows(&msg, m.Keyboard, func(b telegramfake.Button) Key { return Key{Label: b.Text, Data: b.CallbackData, URL: b.URL} })
		out = append(out, msg)
	}
	for _, m := range s.Viber.Sent() {
		msg := Message{Channel: string(channels.Viber), To: m.Receiver, ID: strconv.FormatInt(m.MessageToken, 10), Text: m.Text, At: m.At}
		for _, b := range m.Keyboard {
			msg.Buttons = append(msg.Buttons, b.ActionBody)
			if b.ActionType == "open-url" {
				msg.Keys = append(msg.Keys, Key{Label: b.Text, URL: b.ActionBody})
			} else {
				msg.Keys = append(msg.Keys, Key{Label: b.Text, Data: b.ActionBody})
			}
		}
		out = append(out, msg)
	}
	for _, m := range s.VK.Sent() {
		msg := Message{Channel: string(channels.VK), To: strconv.FormatInt(m.PeerID, 10), ID: strconv.FormatInt(m.MessageID, 10), Text: m.Text, At: m.At}
		addRows(&msg, m.Keyboard, func(b vkfake.Button) Key { return Key{Label: b.Label, Data: b.Payload, URL: b.Link} })
		out = append(out, msg)
	}
	for _, m := range s.WhatsApp.Sent() {
		out = append(out, Message{Channel: string(channels.WhatsApp), To: m.To, ID: m.ID, Text: bodyText(m.Body), Keys: graphKeys(m.Body), At: m.At, Raw: m.Body})
	}
	for _, m := range s.Messenger.Sent() {
		out = append(out, Message{Channel: string(channels.Messenger), To: m.To, ID: m.MID, Text: bodyText(m.Body), Keys: graphKeys(m.Body), At: m.At, Raw: m.Body})
	}
	for _, m := range s.Instagram.Sent() {
		out = append(out, Message{Channel: string(channels.Instagram), To: m.To, ID: m.MID, Text: bodyText(m.Body), Keys: graphKeys(m.Body), At: m.At, Raw: m.Body})
	}
	for _, m := range s.SMS.Sent() {
		out = append(out, Message{Channel: string(channels.SMS), To: m.To, ID: m.SID, Text: m.Body, At: m.At})
	}
	for i, m := range s.Email.Messages() {
		to := make([]string, len(m.To))
		for j, rcpt := range m.To {
			to[j] = strings.ToLower(strings.Trim(rcpt, "<>"))
		}
		msg := Message{Channel: string(channels.Email), To: strings.Join(to, ","), ID: strconv.Itoa(i + 1), At: m.At}
		if p, err := m.Parse(); err == nil {
			msg.Subject, msg.Text = p.Header.Get("Subject"), p.Text
		}
		out = append(out, msg)
	}
	return out
}

// bodyText finds the visible text of a Graph API message body.
// addRows adds a keyboard of rows of B to msg: each button a Key on its row
// (key gives the rest), and the data of those that carry any to Buttons.
func addRows[B any](msg *Message, rows [][]B, key func(B) Key) {
	for i, row := range rows {
		for _, b := range row {
			k := key(b)
			k.Row = i
			if k.Data != "" {
				msg.Buttons = append(msg.Buttons, k.Data)
			}
			msg.Keys = append(msg.Keys, k)
		}
	}
}

func bodyText(b map[string]any) string {
	for _, path := range [][]string{{"text", "body"}, {"interactive", "body", "text"}, {"message", "text"}, {"message", "attachment", "payload", "text"}} {
		var cur any = b
		for _, k := range path {
			m, ok := cur.(map[string]any)
			if !ok {
				cur = nil
				break
			}
			cur = m[k]
		}
		if s, ok := cur.(string); ok {
			return s
		}
	}
	return ""
}

// graphKeys finds the buttons of a Graph API message body: WhatsApp reply
// buttons, Messenger quick replies and button-template buttons.
func graphKeys(b map[string]any) []Key {
	var out []Key
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	each := func(v any, f func(map[string]any)) {
		list, _ := v.([]any)
		for _, x := range list {
			if m, ok := x.(map[string]any); ok {
				f(m)
			}
		}
	}
	obj := func(m map[string]any, k string) map[string]any { o, _ := m[k].(map[string]any); return o }
	if act := obj(obj(b, "interactive"), "action"); act != nil {
		each(act["buttons"], func(m map[string]any) {
			if r := obj(m, "reply"); r != nil {
				out = append(out, Key{Label: str(r, "title"), Data: str(r, "id")})
			}
		})
	}
	if msg := obj(b, "message"); msg != nil {
		each(msg["quick_replies"], func(m map[string]any) {
			out = append(out, Key{Label: str(m, "title"), Data: str(m, "payload")})
		})
		each(obj(obj(msg, "attachment"), "payload")["buttons"], func(m map[string]any) {
			out = append(out, Key{Label: str(m, "title"), Data: str(m, "payload"), URL: str(m, "url")})
		})
	}
	return out
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func writeErr(w http.ResponseWriter, status int, err error) {
	writeJSON(w, status, map[string]string{"error": err.Error()})
}
