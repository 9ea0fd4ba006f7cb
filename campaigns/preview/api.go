package preview

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// API serves GET /v1/campaigns/{id}/preview?subscriber=EXT_ID[&channel=&step=&at=RFC3339&version=&payload=JSON].
type API struct {
	P   *Previewer
	Log *slog.Logger
}

// Register mounts the route.
func (a *API) Register(mux *server.Mux) {
	mux.HandleFunc("GET /v1/campaigns/{id}/preview", users.CampaignsRead, a.preview)
}

func (a *API) preview(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	req := Request{
		CampaignID: r.PathValue("id"), Version: q.Get("version"), Subscriber: q.Get("subscriber"),
		Channel: channels.Kind(q.Get("channel")), Step: q.Get("step"),
	}
	if req.Subscriber == "" {
		httpx.WriteError(w, r, a.Log, httpx.Errorf(httpx.CodeInvalid, "subscriber", "subscriber (external id) is required"))
		return
	}
	if req.Channel != "" && !req.Channel.Valid() {
		httpx.WriteError(w, r, a.Log, httpx.Errorf(httpx.CodeInvalid, "channel", "unknown channel %q", req.Channel))
		return
	}
	if s := q.Get("at"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			httpx.WriteError(w, r, a.Log, httpx.Errorf(httpx.CodeInvalid, "at", "must be an RFC 3339 time"))
			return
		}
		req.At = t
	}
	if s := q.Get("payload"); s != "" {
		if err := json.Unmarshal([]byte(s), &req.Payload); err != nil || req.Payload == nil {
			httpx.WriteError(w, r, a.Log, httpx.Errorf(httpx.CodeInvalid, "payload", "must be a JSON object"))
			return
		}
	}
	res, err := a.P.Preview(r.Context(), req)
	switch {
	case errors.Is(err, campaigns.ErrNotFound):
		err = httpx.Errorf(httpx.CodeNotFound, "", "campaign or version not found")
	case errors.Is(err, ErrNoSubscriber):
		err = httpx.Errorf(httpx.CodeNotFound, "subscriber", "no subscriber with that external id")
	case errors.Is(err, ErrNoStep):
		err = httpx.Errorf(httpx.CodeInvalid, "step", "%v", err)
	}
	if err != nil {
		httpx.WriteError(w, r, a.Log, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, res)
}
