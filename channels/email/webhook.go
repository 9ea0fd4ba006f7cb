package email

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"strings"
	"time"

	"github.com/nudge-engine/nudge/channels"
)

// Webhook accepts raw bounce messages for one account.
type Webhook struct {
	cfg  Config
	sink channels.Sink
	log  *slog.Logger
	now  func() time.Time
}

// NewWebhook returns the handler mounted at /webhooks/email/<account>: POST
// a raw RFC 5322 bounce (as an inbound-mail relay forwards it; or
// multipart/form-data with the message in one of FormFields) with
// "Authorization: Bearer <NUDGE_EMAIL_BOUNCE_TOKEN>" or ?token=…. The token
// is checked before the body is read (401 missing, 403 wrong; no token
// configured refuses everything). A DSN becomes failed/delivered events; any
// other mail (auto-replies) is accepted and ignored so relays do not retry.
func NewWebhook(cfg Config, sink channels.Sink, log *slog.Logger) http.Handler {
	return &Webhook{cfg: cfg, sink: sink, log: channels.WebhookLog(log, channels.Email, cfg.Account), now: time.Now}
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !channels.PostOnly(w, r) {
		return
	}
	tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok {
		tok = r.URL.Query().Get("token")
	}
	if tok == "" {
		http.Error(w, "missing token", http.StatusUnauthorized)
		return
	}
	if h.cfg.BounceToken == "" || subtle.ConstantTimeCompare([]byte(tok), []byte(h.cfg.BounceToken)) != 1 {
		h.log.WarnContext(r.Context(), "email bounce webhook refused", "account", h.cfg.Account)
		http.Error(w, "bad token", http.StatusForbidden)
		return
	}
	raw, err := readBounce(w, r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	d, err := ParseDSN(raw)
	if err != nil {
		if !errors.Is(err, ErrNotDSN) {
			h.log.WarnContext(r.Context(), "email bounce unparsable", "account", h.cfg.Account, "err", err)
		}
		writeCount(w, 0)
		return
	}
	events := d.Events(h.cfg.Account, h.now(), raw)
	if len(events) > 0 {
		if _, err := h.sink.Accept(r.Context(), events); err != nil {
			h.log.ErrorContext(r.Context(), "email bounce events not stored", "account", h.cfg.Account, "err", err)
			http.Error(w, "try again", http.StatusInternalServerError)
			return
		}
	}
	writeCount(w, len(events))
}

// FormFields are the multipart/form-data fields that carry the raw message
// in inbound-mail relays: "email" (SendGrid Inbound Parse, raw mode),
// "body-mime" (Mailgun routes with a MIME URL), "message" (generic).
var FormFields = []string{"email", "body-mime", "message"}

// readBounce returns the raw message: the body itself, or for
// multipart/form-data the first of FormFields.
func readBounce(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	r.Body = http.MaxBytesReader(w, r.Body, MaxBounce)
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt == "multipart/form-data" {
		if err := r.ParseMultipartForm(MaxBounce); err != nil {
			return nil, errors.New("unreadable form")
		}
		for _, f := range FormFields {
			if v := r.MultipartForm.Value[f]; len(v) > 0 && v[0] != "" {
				return []byte(v[0]), nil
			}
			if fh := r.MultipartForm.File[f]; len(fh) > 0 {
				file, err := fh[0].Open()
				if err != nil {
					return nil, errors.New("unreadable form file")
				}
				defer file.Close()
				return io.ReadAll(io.LimitReader(file, MaxBounce))
			}
		}
		return nil, errors.New("form holds none of the fields " + strings.Join(FormFields, ", "))
	}
	raw, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, errors.New("bounce too large or unreadable")
	}
	return raw, nil
}

func writeCount(w http.ResponseWriter, n int) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]int{"events": n})
}
