package scheduler

import (
	"context"
	"errors"
	"log/slog"
	"net/http"

	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// BroadcastAPI serves /v1/broadcasts.
type BroadcastAPI struct {
	B   *Broadcasts
	Log *slog.Logger
}

// Register mounts the routes on mux: reading and dry runs are campaigns.read,
// creating and steering are campaigns.write.
func (a *BroadcastAPI) Register(mux *server.Mux) {
	mux.HandleFunc("GET /v1/broadcasts", users.CampaignsRead, a.list)
	mux.HandleFunc("POST /v1/broadcasts", users.CampaignsWrite, a.create)
	mux.HandleFunc("POST /v1/broadcasts/dry-run", users.CampaignsRead, httpx.Handle(http.StatusOK, a.fail, httpx.JSONBody[BroadcastRequest](httpx.MaxBody), a.B.DryRun))
	mux.HandleFunc("GET /v1/broadcasts/{id}", users.CampaignsRead, a.steer((*Broadcasts).Get))
	mux.HandleFunc("POST /v1/broadcasts/{id}/cancel", users.CampaignsWrite, a.steer((*Broadcasts).Cancel))
	mux.HandleFunc("POST /v1/broadcasts/{id}/pause", users.CampaignsWrite, a.steer((*Broadcasts).Pause))
	mux.HandleFunc("POST /v1/broadcasts/{id}/resume", users.CampaignsWrite, a.steer((*Broadcasts).Resume))
}

func (a *BroadcastAPI) fail(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.Is(err, ErrBroadcastNotFound):
		err = httpx.Errorf(httpx.CodeNotFound, "id", "no such broadcast")
	case errors.Is(err, ErrIdempotencyConflict):
		err = httpx.Errorf(httpx.CodeConflict, IdempotencyHeader,
			"this Idempotency-Key was already used with a different request; use a new key for a new broadcast")
	}
	httpx.WriteError(w, r, a.Log, err)
}

func (a *BroadcastAPI) list(w http.ResponseWriter, r *http.Request) {
	var limit int
	if err := httpx.QueryInt(r.URL.Query(), "limit", 1, 1000, "must be 1 to 1000", &limit); err != nil {
		a.fail(w, r, err)
		return
	}
	list, err := a.B.List(r.Context(), limit)
	if err != nil {
		a.fail(w, r, err)
		return
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"broadcasts": list})
}

func (a *BroadcastAPI) create(w http.ResponseWriter, r *http.Request) {
	var req BroadcastRequest
	if err := httpx.DecodeJSON(w, r, httpx.MaxBody, &req); err != nil {
		a.fail(w, r, err)
		return
	}
	b, created, err := a.B.Create(r.Context(), req, r.Header.Get(IdempotencyHeader))
	if err != nil {
		a.fail(w, r, err)
		return
	}
	status := http.StatusCreated
	if !created {
		w.Header().Set("Idempotent-Replayed", "true")
		status = http.StatusOK
	}
	httpx.WriteJSON(w, status, b)
}

// steer answers op on the broadcast the path names (get, cancel, pause,
// resume) with the broadcast after it.
func (a *BroadcastAPI) steer(op func(*Broadcasts, context.Context, int64) (Broadcast, error)) http.HandlerFunc {
	return httpx.ByID("a broadcast id (a positive integer)", http.StatusOK, a.fail, func(ctx context.Context, id int64) (Broadcast, error) {
		return op(a.B, ctx, id)
	})
}
