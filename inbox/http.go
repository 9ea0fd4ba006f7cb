package inbox

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/lib/pq"

	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/users"
)

// API is the managers' JSON API under /v1/inbox.
type API struct {
	Svc *Service
	Log *slog.Logger
	// Live, if set, serves GET /v1/inbox/events.
	Live *Live
}

// Register mounts the routes; each needs users.InboxWork.
func (a *API) Register(mux *server.Mux) {
	h := func(pattern string, f func(http.ResponseWriter, *http.Request, int64) error) {
		mux.HandleFunc(pattern, users.InboxWork, func(w http.ResponseWriter, r *http.Request) {
			act, ok := users.ActorFrom(r.Context())
			if !ok || act.Kind != "user" {
				httpx.WriteError(w, r, a.Log, httpx.Errorf(httpx.CodeForbidden, "", "the inbox is for signed-in people, not API keys"))
				return
			}
			if err := f(w, r, act.ID); err != nil {
				httpx.WriteError(w, r, a.Log, apiError(err))
			}
		})
	}
	h("GET /v1/inbox/conversations", a.list)
	h("GET /v1/inbox/conversations/{id}", a.get)
	h("POST /v1/inbox/conversations/{id}/claim", change(a.claim))
	h("POST /v1/inbox/conversations/{id}/assign", change(a.assign))
	h("POST /v1/inbox/conversations/{id}/reply", change(a.reply))
	h("POST /v1/inbox/conversations/{id}/notes", change(a.note))
	h("POST /v1/inbox/conversations/{id}/resolve", change(a.resolve))
	h("GET /v1/inbox/stats", a.stats)
	if a.Live != nil {
		mux.Handle("GET /v1/inbox/events", users.InboxWork, a.Live)
	}
}

func apiError(err error) error {
	var we *WindowError
	switch {
	case errors.Is(err, ErrNotFound):
		return httpx.Errorf(httpx.CodeNotFound, "id", "no such conversation")
	case errors.Is(err, ErrClosed):
		return httpx.Errorf(httpx.CodeConflict, "", "the conversation is resolved")
	case errors.Is(err, ErrTaken):
		return httpx.Errorf(httpx.CodeConflict, "", "the conversation is assigned to someone else")
	case errors.Is(err, ErrEmpty):
		return httpx.Errorf(httpx.CodeInvalid, "text", "must not be empty")
	case errors.As(err, &we):
		return httpx.Errorf(httpx.CodeConflict, "text", "%s; allowed: %s", we.Error(), orNothing(we.Allowed))
	}
	return err
}

func orNothing(s string) string {
	if s == "" {
		return "nothing"
	}
	return s
}

func (a *API) list(w http.ResponseWriter, r *http.Request, uid int64) error {
	view := r.URL.Query().Get("view")
	if view == "" {
		view = ViewAll
	}
	var limit int
	if err := httpx.QueryInt(r.URL.Query(), "limit", 1, 500, "must be 1 to 500", &limit); err != nil {
		return err
	}
	list, err := a.Svc.List(r.Context(), view, uid, r.URL.Query().Get("queue"), limit)
	if errors.Is(err, ErrUnknownView) {
		return httpx.Errorf(httpx.CodeInvalid, "view", "must be one of all, mine, unassigned, overdue, resolved")
	} else if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, map[string]any{"conversations": list})
	return nil
}

func (a *API) get(w http.ResponseWriter, r *http.Request, _ int64) error {
	id, err := httpx.PathID(r, "a positive integer")
	if err != nil {
		return err
	}
	d, err := a.Svc.Get(r.Context(), id)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, d)
	return nil
}

// change serves a POST that changes the conversation the path's id names:
// 204 once f has made the change.
func change(f func(w http.ResponseWriter, r *http.Request, id, uid int64) error) func(http.ResponseWriter, *http.Request, int64) error {
	return func(w http.ResponseWriter, r *http.Request, uid int64) error {
		id, err := httpx.PathID(r, "a positive integer")
		if err != nil {
			return err
		}
		if err := f(w, r, id, uid); err != nil {
			return err
		}
		w.WriteHeader(http.StatusNoContent)
		return nil
	}
}

func (a *API) claim(_ http.ResponseWriter, r *http.Request, id, uid int64) error {
	return a.Svc.Claim(r.Context(), id, uid)
}

func (a *API) assign(w http.ResponseWriter, r *http.Request, id, _ int64) error {
	var body struct {
		UserID int64 `json:"user_id"`
	}
	if err := httpx.DecodeJSON(w, r, 4<<10, &body); err != nil {
		return err
	}
	if body.UserID <= 0 {
		return httpx.Errorf(httpx.CodeInvalid, "user_id", "must be a user id")
	}
	return a.Svc.Assign(r.Context(), id, body.UserID)
}

func (a *API) reply(w http.ResponseWriter, r *http.Request, id, uid int64) error {
	var body struct {
		Text        string `json:"text"`
		UseTemplate bool   `json:"use_template"`
		RequestID   string `json:"request_id"`
	}
	if err := httpx.DecodeJSON(w, r, 16<<10, &body); err != nil {
		return err
	}
	return a.Svc.Reply(r.Context(), id, uid, ReplyRequest{Text: body.Text, UseTemplate: body.UseTemplate, RequestID: body.RequestID})
}

func (a *API) note(w http.ResponseWriter, r *http.Request, id, uid int64) error {
	var body struct {
		Text string `json:"text"`
	}
	if err := httpx.DecodeJSON(w, r, 16<<10, &body); err != nil {
		return err
	}
	return a.Svc.Note(r.Context(), id, uid, body.Text)
}

func (a *API) resolve(w http.ResponseWriter, r *http.Request, id, uid int64) error {
	var body struct {
		End bool `json:"end"`
	}
	if r.ContentLength != 0 {
		if err := httpx.DecodeJSON(w, r, 4<<10, &body); err != nil {
			return err
		}
	}
	return a.Svc.Resolve(r.Context(), id, uid, body.End)
}

func (a *API) stats(w http.ResponseWriter, r *http.Request, _ int64) error {
	since := a.Svc.now().Add(-30 * 24 * time.Hour) // the flow clock, as every inbox figure
	if s := r.URL.Query().Get("since"); s != "" {
		t, err := time.Parse(time.RFC3339, s)
		if err != nil {
			return httpx.Errorf(httpx.CodeInvalid, "since", "must be an RFC 3339 time")
		}
		since = t
	}
	f, err := a.Svc.Stats(r.Context(), since)
	if err != nil {
		return err
	}
	httpx.WriteJSON(w, http.StatusOK, f)
	return nil
}

// Live streams inbox changes (Postgres NOTIFY on channel nudge_inbox) to
// browsers as server-sent events, so new hand-offs and replies appear
// without a reload.
type Live struct {
	DatabaseURL string
	Log         *slog.Logger
	// Svc, when set, keeps a manager given queues from hearing of
	// conversations outside them (Service.Visible).
	Svc *Service
}

func (l *Live) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fl, ok := w.(http.Flusher)
	if !ok {
		http.Error(w, "streaming unsupported", http.StatusInternalServerError)
		return
	}
	ln := pq.NewListener(l.DatabaseURL, time.Second, 10*time.Second, nil)
	defer ln.Close()
	if err := ln.Listen("nudge_inbox"); err != nil {
		http.Error(w, "live updates unavailable", http.StatusServiceUnavailable)
		l.Log.ErrorContext(r.Context(), "inbox listen", "err", err)
		return
	}
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("Cache-Control", "no-cache")
	w.Header().Set("X-Accel-Buffering", "no")
	fmt.Fprint(w, ": connected\n\n")
	fl.Flush()
	ping := time.NewTicker(20 * time.Second)
	defer ping.Stop()
	stopping := server.Stopping(r.Context())
	for {
		select {
		case <-r.Context().Done():
			return
		case <-stopping: // the page reconnects to another server or after the restart
			return
		case n := <-ln.Notify:
			if n == nil { // reconnected: tell the page to refresh what it shows
				fmt.Fprint(w, "event: inbox\ndata: {\"kind\":\"resync\"}\n\n")
			} else if !l.visible(r.Context(), n.Extra) {
				continue
			} else {
				fmt.Fprintf(w, "event: inbox\ndata: %s\n\n", n.Extra)
			}
			fl.Flush()
		case <-ping.C:
			fmt.Fprint(w, ": ping\n\n")
			fl.Flush()
		}
	}
}

// visible reports whether the event payload (notify's JSON) is about a
// conversation the request's actor may see.
func (l *Live) visible(ctx context.Context, payload string) bool {
	if l.Svc == nil || queueLimit(ctx) == nil {
		return true
	}
	var ev struct {
		ConversationID int64 `json:"conversation_id"`
	}
	if err := json.Unmarshal([]byte(payload), &ev); err != nil {
		return false
	}
	return l.Svc.Visible(ctx, ev.ConversationID)
}
