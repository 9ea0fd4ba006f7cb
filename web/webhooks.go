package web

import (
	"context"
	"errors"
	"net/http"

	"github.com/nudge-engine/nudge/hooks"
	"github.com/nudge-engine/nudge/users"
)

// EnableWebhooks adds the admins' outgoing-webhooks page: endpoints (add,
// enable, disable), a notice for each endpoint disabled by failures, and the
// recent deliveries with their replay.
func (w *Web) EnableWebhooks(s *hooks.Store) error {
	return w.enable(func() { w.hooks = s },
		NavItem{Href: "/settings/webhooks", Label: "Webhooks", About: "Events out to the shop's systems: endpoints, deliveries, replay", Action: users.Settings},
		[]string{"webhooks"},
		route{"GET /settings/webhooks", users.Settings, w.webhooksPage},
		route{"POST /settings/webhooks", users.Settings, w.webhookCreate},
		route{"POST /settings/webhooks/{id}/enabled", users.Settings, w.webhookEnabled},
		route{"POST /settings/webhooks/deliveries/{id}/replay", users.Settings, w.webhookReplay})
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
	w.webhookAction(rw, r, func(ctx context.Context, id int64) (string, error) {
		r.Body = http.MaxBytesReader(rw, r.Body, 16<<10)
		on := r.PostFormValue("enabled") == "true"
		e, err := w.hooks.Get(ctx, id)
		if err == nil {
			_, err = w.hooks.Update(ctx, id, hooks.EndpointInput{URL: e.URL, Events: e.Events, Description: e.Description, Enabled: &on})
		}
		if on {
			return "enabled", err
		}
		return "disabled", err
	})
}

func (w *Web) webhookReplay(rw http.ResponseWriter, r *http.Request) {
	w.webhookAction(rw, r, func(ctx context.Context, id int64) (string, error) {
		_, err := w.hooks.Replay(ctx, id)
		return "replayed", err
	})
}

// webhookAction runs act on the endpoint or delivery the path's id names
// and redirects to the page with the notice act returns; an id that is not
// a number or names nothing is a 404.
func (w *Web) webhookAction(rw http.ResponseWriter, r *http.Request, act func(ctx context.Context, id int64) (string, error)) {
	id, ok := pathID(rw, r)
	if !ok {
		return
	}
	done, err := act(r.Context(), id)
	switch {
	case errors.Is(err, hooks.ErrNotFound):
		http.NotFound(rw, r)
		return
	case err != nil:
		w.fail(rw, r, err)
		return
	}
	http.Redirect(rw, r, "/settings/webhooks?done="+done, http.StatusSeeOther)
}
