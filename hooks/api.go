package hooks

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// API serves /v1/webhooks to admins (users.Settings).
type API struct {
	Store *Store
	Log   *slog.Logger
}

// Register mounts the routes.
func (a *API) Register(mux *server.Mux) {
	mux.HandleFunc("GET /v1/webhooks/endpoints", users.Settings, a.list)
	mux.HandleFunc("POST /v1/webhooks/endpoints", users.Settings, httpx.Handle(http.StatusCreated, a.fail, httpx.JSONBody[EndpointInput](0), a.create))
	mux.HandleFunc("GET /v1/webhooks/endpoints/{id}", users.Settings, httpx.ByID(anID, http.StatusOK, a.fail, a.Store.Get))
	mux.HandleFunc("PUT /v1/webhooks/endpoints/{id}", users.Settings, a.update)
	mux.HandleFunc("DELETE /v1/webhooks/endpoints/{id}", users.Settings, a.delete)
	mux.HandleFunc("GET /v1/webhooks/deliveries", users.Settings, httpx.Handle(http.StatusOK, a.fail, queryDeliveryFilter, a.deliveries))
	mux.HandleFunc("GET /v1/webhooks/deliveries/{id}", users.Settings, httpx.ByID(anID, http.StatusOK, a.fail, a.Store.Delivery))
	mux.HandleFunc("POST /v1/webhooks/deliveries/{id}/replay", users.Settings, httpx.ByID(anID, http.StatusAccepted, a.fail, a.replay))
}

// anID is what an {id} in the API's paths must be.
const anID = "a positive integer"

// apiError maps the package's errors to the API's.
func apiError(err error) error {
	var inv *InvalidError
	switch {
	case errors.As(err, &inv):
		return httpx.Errorf(httpx.CodeInvalid, inv.Field, "%s", inv.Msg)
	case errors.Is(err, ErrNotFound):
		return httpx.Errorf(httpx.CodeNotFound, "", "no such webhook endpoint or delivery")
	}
	return err
}

func (a *API) fail(w http.ResponseWriter, r *http.Request, err error) {
	httpx.WriteError(w, r, a.Log, apiError(err))
}

func (a *API) list(w http.ResponseWriter, r *http.Request) {
	es, err := a.Store.List(r.Context())
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"endpoints": es})
}

// created is an endpoint as its creation returns it: the only time the
// secret is shown.
type created struct {
	Endpoint
	Secret string `json:"secret"`
}

func (a *API) create(ctx context.Context, in EndpointInput) (created, error) {
	e, err := a.Store.Create(ctx, in)
	return created{e, e.Secret}, err
}

func (a *API) update(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, anID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	var in EndpointInput
	if err := httpx.DecodeJSON(w, r, 0, &in); err != nil {
		a.fail(w, r, err)
		return
	}
	e, err := a.Store.Update(r.Context(), id, in)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, e)
}

func (a *API) delete(w http.ResponseWriter, r *http.Request) {
	id, err := httpx.PathID(r, anID)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	if err := a.Store.Delete(r.Context(), id); err != nil {
		a.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// ParseDeliveryFilter reads endpoint_id, state (pending, delivered), before
// and limit from a query (the API's and the page's).
func ParseDeliveryFilter(r *http.Request) (DeliveryFilter, error) {
	q := r.URL.Query()
	f := DeliveryFilter{State: q.Get("state")}
	if f.State != "" && f.State != "pending" && f.State != "delivered" {
		return f, httpx.Errorf(httpx.CodeInvalid, "state", "must be pending or delivered")
	}
	if err := httpx.QueryIDs(q, httpx.IDParam{Name: "endpoint_id", Dst: &f.EndpointID}, httpx.IDParam{Name: "before", Dst: &f.Before}); err != nil {
		return f, err
	}
	if err := httpx.QueryInt(q, "limit", 1, 500, "must be 1 to 500", &f.Limit); err != nil {
		return f, err
	}
	return f, nil
}

func queryDeliveryFilter(_ http.ResponseWriter, r *http.Request) (DeliveryFilter, error) {
	return ParseDeliveryFilter(r)
}

func (a *API) deliveries(ctx context.Context, f DeliveryFilter) (map[string]any, error) {
	ds, err := a.Store.Deliveries(ctx, f)
	if err != nil {
		return nil, err
	}
	body := map[string]any{"deliveries": ds}
	if n := len(ds); n > 0 && (f.Limit == 0 && n == 50 || n == f.Limit) {
		body["next_before"] = ds[n-1].ID
	}
	return body, nil
}

// replay queues the delivery id again and names the new delivery.
func (a *API) replay(ctx context.Context, id int64) (map[string]any, error) {
	nid, err := a.Store.Replay(ctx, id)
	return map[string]any{"delivery_id": nid}, err
}
