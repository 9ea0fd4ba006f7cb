package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/scheduler"
	"github.com/nudge-engine/nudge/users"
)

// Broadcasts is the scheduler's broadcasts service (scheduler.Broadcasts),
// the same one the API and the CLI call.
type Broadcasts interface {
	Campaigns(ctx context.Context) ([]string, error)
	List(ctx context.Context, limit int) ([]scheduler.Broadcast, error)
	DryRun(ctx context.Context, req scheduler.BroadcastRequest) (scheduler.DryRun, error)
	Create(ctx context.Context, req scheduler.BroadcastRequest, key string) (scheduler.Broadcast, bool, error)
	Cancel(ctx context.Context, id int64) (scheduler.Broadcast, error)
	Pause(ctx context.Context, id int64) (scheduler.Broadcast, error)
	Resume(ctx context.Context, id int64) (scheduler.Broadcast, error)
}

// EnableBroadcasts adds the broadcasts page: the list with its buttons, a
// dry run, and the creation the dry run's confirmation posts.
func (w *Web) EnableBroadcasts(b Broadcasts) error {
	return w.enable(func() { w.casts = b },
		NavItem{Href: "/broadcasts", Label: "Broadcasts", About: "Send a campaign once, after a dry run", Action: users.CampaignsRead}, []string{"broadcasts"},
		route{"GET /broadcasts", users.CampaignsRead, w.broadcastsPage},
		route{"POST /broadcasts/dry-run", users.CampaignsRead, w.broadcastDryRun},
		route{"POST /broadcasts", users.CampaignsWrite, w.broadcastCreate},
		route{"POST /broadcasts/{id}/cancel", users.CampaignsWrite, w.broadcastSteer(Broadcasts.Cancel)},
		route{"POST /broadcasts/{id}/pause", users.CampaignsWrite, w.broadcastSteer(Broadcasts.Pause)},
		route{"POST /broadcasts/{id}/resume", users.CampaignsWrite, w.broadcastSteer(Broadcasts.Resume)})
}

type broadcastsData struct {
	Campaigns []string
	List      []scheduler.Broadcast
	Form      broadcastForm
	DryRun    *scheduler.DryRun
	Key       string // the Idempotency-Key the confirmation posts
	Error     string
	CanWrite  bool
}

// broadcastForm is the page's form as typed: send_at from a datetime-local
// input, read in UTC unless local_time is ticked.
type broadcastForm struct {
	Campaign, SendAt string
	LocalTime        bool
}

func readBroadcastForm(rw http.ResponseWriter, r *http.Request) broadcastForm {
	r.Body = http.MaxBytesReader(rw, r.Body, 16<<10)
	return broadcastForm{Campaign: r.PostFormValue("campaign"), SendAt: r.PostFormValue("send_at"), LocalTime: r.PostFormValue("local_time") == "on"}
}

// request turns the form into the API's request.
func (f broadcastForm) request() scheduler.BroadcastRequest {
	req := scheduler.BroadcastRequest{Campaign: f.Campaign, SendAt: f.SendAt, LocalTime: f.LocalTime}
	if f.SendAt != "" && len(f.SendAt) > 16 {
		req.SendAt = f.SendAt[:16] // seconds from some browsers' pickers
	}
	if req.SendAt != "" && !f.LocalTime {
		req.SendAt += ":00Z"
	}
	return req
}

func (w *Web) renderBroadcasts(rw http.ResponseWriter, r *http.Request, status int, data broadcastsData) {
	var err error
	if data.Campaigns, err = w.casts.Campaigns(r.Context()); err == nil {
		data.List, err = w.casts.List(r.Context(), 100)
	}
	if err != nil {
		w.fail(rw, r, err)
		return
	}
	if s, ok := users.FromContext(r.Context()); ok {
		data.CanWrite = s.User.Role.Can(users.CampaignsWrite)
	}
	if status != http.StatusOK {
		rw.WriteHeader(status)
	}
	w.Render(rw, r, "broadcasts", "Broadcasts", data)
}

func (w *Web) broadcastsPage(rw http.ResponseWriter, r *http.Request) {
	w.renderBroadcasts(rw, r, http.StatusOK, broadcastsData{Error: r.URL.Query().Get("error")})
}

// problem is err as the page shows it, with the status to answer: a
// request's mistakes (naming their field) are the user's to fix.
func problem(err error) (string, int, bool) {
	var he *httpx.Error
	switch {
	case errors.As(err, &he):
		msg := he.Message
		if he.Field != "" {
			msg = he.Field + ": " + msg
		}
		return msg, httpx.Status(he.Code), true
	case errors.Is(err, scheduler.ErrBroadcastNotFound):
		return "no such broadcast", http.StatusNotFound, true
	case errors.Is(err, scheduler.ErrIdempotencyConflict):
		return "this confirmation was already used for another broadcast: run the dry run again", http.StatusConflict, true
	}
	return "", 0, false
}

// refuseBroadcast shows err on the page beside data, with the status
// problem gives it, or fails the request when err is not the user's to fix.
func (w *Web) refuseBroadcast(rw http.ResponseWriter, r *http.Request, err error, data broadcastsData) {
	msg, status, ok := problem(err)
	if !ok {
		w.fail(rw, r, err)
		return
	}
	data.Error = msg
	w.renderBroadcasts(rw, r, status, data)
}

func (w *Web) broadcastDryRun(rw http.ResponseWriter, r *http.Request) {
	f := readBroadcastForm(rw, r)
	data := broadcastsData{Form: f}
	d, err := w.casts.DryRun(r.Context(), f.request())
	if err != nil {
		w.refuseBroadcast(rw, r, err, data)
		return
	}
	data.DryRun, data.Key = &d, "web-"+users.RandomPassword()
	w.renderBroadcasts(rw, r, http.StatusOK, data)
}

func (w *Web) broadcastCreate(rw http.ResponseWriter, r *http.Request) {
	f := readBroadcastForm(rw, r)
	if r.PostFormValue("confirm") != "yes" {
		w.renderBroadcasts(rw, r, http.StatusUnprocessableEntity, broadcastsData{Form: f, Error: "not confirmed: run the dry run, then confirm"})
		return
	}
	// The key comes from the dry run, so a second click creates nothing new.
	if _, _, err := w.casts.Create(r.Context(), f.request(), r.PostFormValue("key")); err != nil {
		w.refuseBroadcast(rw, r, err, broadcastsData{Form: f})
		return
	}
	http.Redirect(rw, r, "/broadcasts", http.StatusSeeOther)
}

func (w *Web) broadcastSteer(op func(Broadcasts, context.Context, int64) (scheduler.Broadcast, error)) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
		if err != nil {
			http.NotFound(rw, r)
			return
		}
		if _, err := op(w.casts, r.Context(), id); err != nil {
			w.refuseBroadcast(rw, r, err, broadcastsData{})
			return
		}
		http.Redirect(rw, r, "/broadcasts", http.StatusSeeOther)
	}
}
