package sms

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/channels"
)

// maxForm bounds a callback body; Twilio's are a few hundred bytes.
const maxForm = 64 << 10

// Webhook takes Twilio status callbacks and inbound messages for one account.
type Webhook struct {
	cfg  Config
	sink channels.Sink
	log  *slog.Logger
	now  func() time.Time
}

// NewWebhook returns the handler mounted at /webhooks/sms/<account>. It
// reads the form, checks X-Twilio-Signature against the public URL, and only
// then parses; it answers an empty TwiML <Response/> after the sink stored
// the events, 401/403 for unsigned or badly signed requests.
func NewWebhook(cfg Config, sink channels.Sink, log *slog.Logger) http.Handler {
	return &Webhook{cfg: cfg, sink: sink, log: channels.WebhookLog(log, channels.SMS, cfg.Account), now: time.Now}
}

// publicURL is the URL Twilio signed: the configured public URL (with the
// request's query, which carries the correlation) or the request's own.
func (h *Webhook) publicURL(r *http.Request) string {
	base := h.cfg.WebhookURL
	if base == "" && h.cfg.StatusCallbackURL != "" {
		base = h.cfg.StatusCallbackURL
		if i := strings.IndexByte(base, '?'); i >= 0 {
			base = base[:i]
		}
	}
	if base == "" {
		scheme := "http"
		if r.TLS != nil {
			scheme = "https"
		}
		return scheme + "://" + r.Host + r.URL.RequestURI()
	}
	if r.URL.RawQuery != "" {
		return base + "?" + r.URL.RawQuery
	}
	return base
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !channels.PostOnly(w, r) {
		return
	}
	sig := r.Header.Get(SignatureHeader)
	if sig == "" {
		http.Error(w, "missing "+SignatureHeader, http.StatusUnauthorized)
		return
	}
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxForm))
	if err != nil {
		http.Error(w, "body too large", http.StatusRequestEntityTooLarge)
		return
	}
	form, err := url.ParseQuery(string(raw))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	if !Verify(h.cfg.AuthToken, h.publicURL(r), form, sig) {
		h.log.WarnContext(r.Context(), "sms webhook refused", "account", h.cfg.Account, "reason", "bad signature")
		http.Error(w, "bad "+SignatureHeader, http.StatusForbidden)
		return
	}
	events := Parse(form, r.URL.Query().Get("c"), h.cfg.Account, h.now())
	for i := range events {
		events[i].Raw = raw
	}
	if len(events) > 0 {
		if _, err := h.sink.Accept(r.Context(), events); err != nil {
			h.log.ErrorContext(r.Context(), "sms events not stored", "account", h.cfg.Account, "err", err)
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
	}
	w.Header().Set("Content-Type", "text/xml; charset=utf-8")
	_, _ = io.WriteString(w, `<?xml version="1.0" encoding="UTF-8"?><Response></Response>`)
}

// OptOutKeywords are Twilio's default opt-out words; a message that is just
// one of them (any case, surrounding space and punctuation ignored) opts out.
var OptOutKeywords = map[string]bool{"STOP": true, "STOPALL": true, "UNSUBSCRIBE": true, "CANCEL": true, "END": true, "QUIT": true}

// IsOptOut reports whether an inbound body is a Twilio opt-out keyword.
func IsOptOut(body string) bool {
	w := strings.ToUpper(strings.Trim(body, " \t\r\n.!"))
	return OptOutKeywords[w]
}

// Parse turns a verified callback form into events. correlation is the c
// query parameter the adapter put on the StatusCallback URL.
//   - MessageStatus delivered → EventDelivered, read → EventRead,
//     undelivered/failed → EventFailed with ErrorCode and its kind;
//     queued/sending/sent/accepted/… say nothing new and are skipped.
//   - an inbound message (SmsStatus/MessageStatus received, or a Body with no
//     status) → EventOptOut for STOP words or OptOutType=STOP, else EventText.
func Parse(form url.Values, correlation, account string, now time.Time) []channels.Event {
	sid := form.Get("MessageSid")
	if sid == "" {
		sid = form.Get("SmsSid")
	}
	if sid == "" {
		return nil
	}
	status := form.Get("MessageStatus")
	if status == "" {
		status = form.Get("SmsStatus")
	}
	ev := channels.Event{Channel: channels.SMS, Account: account, At: now}
	if status == "received" || (status == "" && form.Has("Body")) {
		ev.ProviderEventID, ev.From, ev.Text = sid, form.Get("From"), form.Get("Body")
		ev.Type = channels.EventText
		if strings.EqualFold(form.Get("OptOutType"), "STOP") || IsOptOut(ev.Text) {
			ev.Type = channels.EventOptOut
		}
		return []channels.Event{ev}
	}
	ev.ProviderEventID, ev.ProviderMessageID, ev.From, ev.Correlation = sid+":"+status, sid, form.Get("To"), correlation
	switch status {
	case "delivered":
		ev.Type = channels.EventDelivered
	case "read":
		ev.Type = channels.EventRead
	case "undelivered", "failed":
		ev.Type = channels.EventFailed
		ev.ErrorCode = form.Get("ErrorCode")
		ev.ErrorKind = ClassifyDelivery(ev.ErrorCode)
		ev.ErrorMessage = form.Get("ErrorMessage")
		if ev.ErrorMessage == "" {
			ev.ErrorMessage = status
		}
	default:
		return nil
	}
	return []channels.Event{ev}
}
