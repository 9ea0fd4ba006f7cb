package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/nudge-engine/nudge/hooks"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// EnableWebhooks adds the admins' outgoing-webhooks page: endpoints (add,
// enable, disable), a notice for each endpoint disabled by failures, and the
// recent deliveries with their replay.
func (w *Web) EnableWebhooks(s *hooks.Store) error {
	if err := w.enable(NavItem{Href: "/settings/webhooks", Label: "Webhooks", About: "Events out to the shop's systems: endpoints, deliveries, replay", Action: users.Settings},
		"webhooks"); err != nil {
		return err
	}
	w.hooks = s
	return nil
}

func (w *Web) registerWebhooks(mux *server.Mux) {
	if w.hooks == nil {
		return
	}
	mux.HandleFunc("GET /settings/webhooks", users.Settings, w.webhooksPage)
	mux.HandleFunc("POST /settings/webhooks", users.Settings, w.webhookCreate)
	mux.HandleFunc("POST /settings/webhooks/{id}/enabled", users.Settings, w.webhookEnabled)
	mux.HandleFunc("POST /settings/webhooks/deliveries/{id}/replay", users.Settings, w.webhookReplay)
}

type webhooksData struct {
	Endpoints  []hooks.Endpoint
	Disabled   []hooks.Endpoint // by failures: the notice
	Deliveries []hooks.Delivery
	Types      []hooks.Type
	Secret     string // of the endpoint just added, shown once
	Added      int64
	Message    string
	Error      string
}

func (w *Web) webhooksPage(rw http.ResponseWriter, r *http.Request) {
	w.renderWebhooks(rw, r, http.StatusOK, webhooksData{Message: r.URL.Query().Get("done")})
}

func (w *Web) renderWebhooks(rw http.ResponseWriter, r *http.Request, status int, data webhooksData) {
	var err error
	if data.Endpoints, err = w.hooks.List(r.Context()); err != nil {
		w.fail(rw, r, err)
		return
	}
	for _, e := range data.Endpoints {
		if !e.Enabled && e.DisabledReason != "" && e.FailingSince != nil {
			data.Disabled = append(data.Disabled, e)
		}
	}
	if data.Deliveries, err = w.hooks.Deliveries(r.Context(), hooks.DeliveryFilter{Limit: 50}); err != nil {
		w.fail(rw, r, err)
		return
	}
	data.Types = hooks.Types
	if status != http.StatusOK {
		rw.WriteHeader(status)
	}
	w.Render(rw, r, "webhooks", "Webhooks", data)
}

func (w *Web) webhookCreate(rw http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(rw, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		http.Error(rw, "bad form", http.StatusBadRequest)
		return
	}
	in := hooks.EndpointInput{URL: r.PostForm.Get("url"), Events: r.PostForm["events"], Description: r.PostForm.Get("description")}
	e, err := w.hooks.Create(r.Context(), in)
	var inv *hooks.InvalidError
	switch {
	case errors.As(err, &inv):
		w.renderWebhooks(rw, r, http.StatusBadRequest, webhooksData{Error: inv.Error()})
		return
	case err != nil:
		w.fail(rw, r, err)
		return
	}
	w.renderWebhooks(rw, r, http.StatusOK, webhooksData{Secret: e.Secret, Added: e.ID})
}

func (w *Web) webhookEnabled(rw http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(rw, r)
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, 16<<10)
	on := r.PostFormValue("enabled") == "true"
	e, err := w.hooks.Get(r.Context(), id)
	if err == nil {
		_, err = w.hooks.Update(r.Context(), id, hooks.EndpointInput{URL: e.URL, Events: e.Events, Description: e.Description, Enabled: &on})
	}
	switch {
	case errors.Is(err, hooks.ErrNotFound):
		http.NotFound(rw, r)
		return
	case err != nil:
		w.fail(rw, r, err)
		return
	}
	done := "disabled"
	if on {
		done = "enabled"
	}
	http.Redirect(rw, r, "/settings/webhooks?done="+done, http.StatusSeeOther)
}

func (w *Web) webhookReplay(rw http.ResponseWriter, r *http.Request) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		http.NotFound(rw, r)
		return
	}
	_, err = w.hooks.Replay(r.Context(), id)
	switch {
	case errors.Is(err, hooks.ErrNotFound):
		http.NotFound(rw, r)
		return
	case err != nil:
		w.fail(rw, r, err)
		return
	}
	http.Redirect(rw, r, "/settings/webhooks?done=replayed", http.StatusSeeOther)
}
