package consent

import (
	"errors"
	"net/http"
	"net/netip"
	"strings"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/httpx"
)

// ChangeRequest is the body of POST /v1/consent.
type ChangeRequest struct {
	ExternalID  string   `json:"external_id"`
	Action      string   `json:"action"`            // grant | revoke
	Channel     string   `json:"channel,omitempty"` // a channel or "*" (default)
	Topics      []string `json:"topics"`            // service, marketing
	TextVersion string   `json:"text_version,omitempty"`
	// The customer's IP and user agent when the shop collected consent; the
	// API caller's own are recorded when absent.
	IP        string `json:"ip,omitempty"`
	UserAgent string `json:"user_agent,omitempty"`
}

// StateResponse is the body of GET /v1/consent/{external_id}.
type StateResponse struct {
	ExternalID   string  `json:"external_id"`
	SubscriberID int64   `json:"subscriber_id"`
	Current      []State `json:"current"`
	History      []Event `json:"history"`
}

func (req *ChangeRequest) validate() (channels.Kind, []Topic, error) {
	if strings.TrimSpace(req.ExternalID) == "" || len(req.ExternalID) > 255 {
		return "", nil, httpx.Errorf(httpx.CodeInvalid, "external_id", "is required (1-255 bytes)")
	}
	if req.Action != "grant" && req.Action != "revoke" {
		return "", nil, httpx.Errorf(httpx.CodeInvalid, "action", "must be grant or revoke")
	}
	ch := channels.Kind(req.Channel)
	if ch == "" {
		ch = AllChannels
	}
	if ch != AllChannels && !ch.Valid() {
		return "", nil, httpx.Errorf(httpx.CodeInvalid, "channel", "must be * or one of telegram, viber, whatsapp, messenger, instagram, vk, sms, email, sandbox")
	}
	if len(req.Topics) == 0 {
		return "", nil, httpx.Errorf(httpx.CodeInvalid, "topics", "at least one of service, marketing is required")
	}
	topics, err := ParseTopics(strings.Join(req.Topics, ","))
	if err != nil || len(topics) != len(req.Topics) {
		return "", nil, httpx.Errorf(httpx.CodeInvalid, "topics", "must be distinct values of service, marketing")
	}
	if len(req.TextVersion) > 64 {
		return "", nil, httpx.Errorf(httpx.CodeInvalid, "text_version", "is longer than 64 bytes")
	}
	if req.IP != "" {
		if _, err := netip.ParseAddr(req.IP); err != nil {
			return "", nil, httpx.Errorf(httpx.CodeInvalid, "ip", "is not an IP address")
		}
	}
	if len(req.UserAgent) > 512 {
		return "", nil, httpx.Errorf(httpx.CodeInvalid, "user_agent", "is longer than 512 bytes")
	}
	return ch, topics, nil
}

// fail writes err as the API's JSON error; an unknown external id is a 404
// naming the field.
func (rt *Routes) fail(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, ErrSubscriberNotFound) {
		err = httpx.Errorf(httpx.CodeNotFound, "external_id", "no subscriber with this external id")
	}
	httpx.WriteError(w, r, rt.log, err)
}

// postConsent is POST /v1/consent: grants or revokes topics for a customer,
// source api, with the request's proof. All topics commit together.
func (rt *Routes) postConsent(w http.ResponseWriter, r *http.Request) {
	var req ChangeRequest
	if err := httpx.DecodeJSON(w, r, 16<<10, &req); err != nil {
		rt.fail(w, r, err)
		return
	}
	ch, topics, err := req.validate()
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	proof := Proof{IP: req.IP, UserAgent: req.UserAgent, TextVersion: req.TextVersion}
	if proof.IP == "" {
		proof.IP = clientIP(r, rt.cfg.TrustForwarded)
	}
	if proof.UserAgent == "" {
		proof.UserAgent = clip(r.UserAgent())
	}
	var sub int64
	err = db.WithTx(r.Context(), rt.db, func(tx *sqlx.Tx) error {
		var err error
		if sub, err = SubscriberByExternalID(r.Context(), tx, req.ExternalID); err != nil {
			return err
		}
		for _, t := range topics {
			if _, err := rt.ledger.Record(r.Context(), tx, Change{SubscriberID: sub, Channel: ch, Topic: t, Source: SourceAPI, Proof: proof}, req.Action == "grant"); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	rt.log.InfoContext(r.Context(), "consent changed by api", "subscriber_id", sub, "action", req.Action, "channel", ch)
	rt.writeState(w, r, req.ExternalID, sub, http.StatusOK)
}

// getConsent is GET /v1/consent/{external_id}: current state and history.
func (rt *Routes) getConsent(w http.ResponseWriter, r *http.Request) {
	ext := r.PathValue("external_id")
	sub, err := SubscriberByExternalID(r.Context(), rt.db, ext)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	rt.writeState(w, r, ext, sub, http.StatusOK)
}

func (rt *Routes) writeState(w http.ResponseWriter, r *http.Request, ext string, sub int64, status int) {
	st, err := rt.ledger.State(r.Context(), rt.db, sub)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	h, err := rt.ledger.History(r.Context(), rt.db, sub)
	if err != nil {
		rt.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, status, StateResponse{ExternalID: ext, SubscriberID: sub, Current: st, History: h})
}
