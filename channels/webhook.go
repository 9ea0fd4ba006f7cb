package channels

import (
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
)

// WebhookPath is where `nudge serve` mounts the webhook of channel k's
// account: /webhooks/<channel>/<account>. It is the only place that names
// the path: serve mounts it, `nudge channels setup` registers it, the SMS
// adapter derives its status callback from it and the settings page shows it.
// An empty account is DefaultAccount.
func WebhookPath(k Kind, account string) string {
	account = Account(account)
	return "/webhooks/" + url.PathEscape(string(k)) + "/" + url.PathEscape(account)
}

// WebhookURL is the public address of a webhook: the install's base URL
// (NUDGE_BASE_URL) followed by WebhookPath.
func WebhookURL(baseURL string, k Kind, account string) string {
	return strings.TrimRight(baseURL, "/") + WebhookPath(k, account)
}

// PostOnly answers anything but a POST with 405, naming POST as the method
// allowed, and reports whether r is a POST.
func PostOnly(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return false
	}
	return true
}

// ReadPost reads the body of a provider's webhook POST, up to limit bytes.
// It answers anything but a POST with 405 and a larger or unreadable body
// with 413; ok is false when it has answered.
func ReadPost(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, ok bool) {
	if !PostOnly(w, r) {
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, limit))
	if err != nil {
		http.Error(w, "body too large or unreadable", http.StatusRequestEntityTooLarge)
		return nil, false
	}
	return body, true
}

// Refuse answers status to a webhook request that failed its check (a
// signature, a secret) and logs it as msg.
func Refuse(w http.ResponseWriter, r *http.Request, log *slog.Logger, msg string, status int) {
	log.WarnContext(r.Context(), msg, "status", status, "remote_addr", r.RemoteAddr)
	http.Error(w, http.StatusText(status), status)
}

// Unreadable answers 400 with answer to a webhook request that passed its
// check but did not parse, and logs err as msg with attrs.
func Unreadable(w http.ResponseWriter, r *http.Request, log *slog.Logger, msg, answer string, err error, attrs ...any) {
	log.WarnContext(r.Context(), msg, append([]any{"err", err}, attrs...)...)
	http.Error(w, answer, http.StatusBadRequest)
}

// Store hands a webhook's events to sink. When the sink fails it logs msg
// with attrs and answers 500, so the provider delivers again; ok is false
// then. No events is a success with an empty Ack.
func Store(w http.ResponseWriter, r *http.Request, sink Sink, log *slog.Logger, events []Event, msg string, attrs ...any) (Ack, bool) {
	if len(events) == 0 {
		return Ack{}, true
	}
	ack, err := sink.Accept(r.Context(), events)
	if err != nil {
		log.ErrorContext(r.Context(), msg, append([]any{"err", err}, attrs...)...)
		http.Error(w, "not stored, retry", http.StatusInternalServerError)
		return Ack{}, false
	}
	return ack, true
}

// WebhookLog is the logger of a webhook handler: log (nil discards) with
// the channel and account attached.
func WebhookLog(log *slog.Logger, ch Kind, account string) *slog.Logger {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return log.With("channel", string(ch), "account", account)
}
