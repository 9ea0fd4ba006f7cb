package meta

import (
	"cmp"
	"log/slog"
	"net/http"

	"github.com/nudge-engine/nudge/channels"
)

// Webhook is the inbound side of one Meta product account (WhatsApp number,
// Messenger page): GET answers the subscription handshake; POST verifies
// X-Hub-Signature-256 before parsing and answers 200 only after the sink has
// stored the events (Meta redelivers otherwise).
type Webhook struct {
	Name        string // "whatsapp" | "messenger", for logs
	Account     string
	AppSecret   string
	VerifyToken string
	Parse       func(body []byte) ([]channels.Event, error)
	Sink        channels.Sink
	Log         *slog.Logger
}

func (h *Webhook) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	log := cmp.Or(h.Log, slog.Default())
	switch r.Method {
	case http.MethodGet:
		Handshake(w, r, h.VerifyToken)
	case http.MethodPost:
		body, err := ReadVerified(w, r, h.AppSecret)
		if err != nil {
			log.WarnContext(r.Context(), h.Name+" webhook refused", "account", h.Account, "err", err)
			return
		}
		events, err := h.Parse(body)
		if err != nil {
			// Signed by Meta but not understood: answer 200 so Meta does not
			// retry a payload that will never parse, and keep a trace.
			log.ErrorContext(r.Context(), h.Name+" webhook unparsable", "account", h.Account, "err", err)
			w.WriteHeader(http.StatusOK)
			return
		}
		if len(events) > 0 {
			if _, err := h.Sink.Accept(r.Context(), events); err != nil {
				log.ErrorContext(r.Context(), h.Name+" events not stored", "account", h.Account, "events", len(events), "err", err)
				http.Error(w, "try again", http.StatusInternalServerError)
				return
			}
		}
		w.WriteHeader(http.StatusOK)
	default:
		w.Header().Set("Allow", "GET, POST")
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
	}
}

// Handler is the Webhook of a Messenger Platform account: its events are
// parsed by p and attributed by routes, falling back to account.
func (p Messaging) Handler(account, appSecret, verifyToken string, routes Routes, sink channels.Sink, log *slog.Logger) http.Handler {
	return &Webhook{Name: string(p.Kind), Account: account, AppSecret: appSecret, VerifyToken: verifyToken,
		Parse: func(body []byte) ([]channels.Event, error) { return p.ParseRouted(body, account, routes) }, Sink: sink, Log: log}
}
