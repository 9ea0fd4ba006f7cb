package web

import (
	"errors"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/users"
)

type inboxView struct{ Name, Label string }

var inboxViews = []inboxView{{"all", "All open"}, {"mine", "Mine"}, {"unassigned", "Unassigned"}, {"overdue", "Overdue SLA"}, {"resolved", "Resolved"}}

// EnableInbox adds the inbox pages; canned (NUDGE_INBOX_CANNED, may be nil)
// are the replies offered in each queue's reply box.
func (w *Web) EnableInbox(svc *inbox.Service, canned *inbox.Canned) error {
	var routes []route
	for p, h := range map[string]http.HandlerFunc{
		"GET /inbox":               w.inboxList,
		"GET /inbox/{id}":          w.conversation,
		"POST /inbox/{id}/reply":   w.convAction,
		"POST /inbox/{id}/claim":   w.convAction,
		"POST /inbox/{id}/note":    w.convAction,
		"POST /inbox/{id}/resolve": w.convAction,
		"GET /inbox/media/{id}":    w.media,
		"POST /inbox/shift":        w.shift,
	} {
		routes = append(routes, route{p, users.InboxWork, w.person(h)})
	}
	return w.enable(func() { w.inbox, w.canned = svc, canned },
		NavItem{Href: "/inbox", Label: "Inbox", About: "Conversations handed to managers", Action: users.InboxWork},
		[]string{"inbox", "conversation"}, routes...)
}

func (w *Web) inboxList(rw http.ResponseWriter, r *http.Request) {
	sess, _ := users.FromContext(r.Context())
	view := r.URL.Query().Get("view")
	if view == "" {
		view = inbox.ViewAll
	}
	list, err := w.inbox.List(r.Context(), view, sess.User.ID, r.URL.Query().Get("queue"), 200)
	if err != nil {
		http.Error(rw, "unknown view", http.StatusBadRequest)
		return
	}
	type v struct {
		Name, Label string
		Current     bool
	}
	var views []v
	for _, x := range inboxViews {
		views = append(views, v{x.Name, x.Label, x.Name == view})
	}
	shift, onShift, err := w.inbox.ShiftOf(r.Context(), sess.User.ID)
	if err != nil {
		w.unavailable(rw, r, "inbox shift", err)
		return
	}
	team, err := w.inbox.OnShift(r.Context())
	if err != nil {
		w.unavailable(rw, r, "inbox shifts", err)
		return
	}
	w.Render(rw, r, "inbox", "Inbox", map[string]any{"Views": views, "Conversations": list,
		"Shift": shift, "OnShift": onShift, "Team": team, "Queues": strings.Join(shift.Queues, ", ")})
}

// shift puts the signed-in manager on shift (for the queues given, comma
// separated; none: every queue) or, with off=1, takes them off.
func (w *Web) shift(rw http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(rw, r.Body, 16<<10)
	sess, _ := users.FromContext(r.Context())
	var err error
	if r.PostFormValue("off") == "1" {
		err = w.inbox.EndShift(r.Context(), sess.User.ID)
	} else {
		err = w.inbox.StartShift(r.Context(), sess.User.ID, strings.Split(r.PostFormValue("queues"), ","))
	}
	if err != nil {
		w.log.ErrorContext(r.Context(), "inbox shift", "user_id", sess.User.ID, "err", err)
		http.Error(rw, "could not change the shift", http.StatusInternalServerError)
		return
	}
	http.Redirect(rw, r, "/inbox", http.StatusSeeOther)
}

// media serves a file a customer sent. Only types a browser renders safely
// are served inline; everything else is a download, never sniffed, and the
// sandbox keeps a hostile file from running as a page of this site.
func (w *Web) media(rw http.ResponseWriter, r *http.Request) {
	id, ok := pathID(rw, r)
	if !ok {
		return
	}
	m, err := w.inbox.Media(r.Context(), id)
	if errors.Is(err, inbox.ErrNotFound) || (err == nil && m.Data == nil) {
		http.Error(rw, "no such file", http.StatusNotFound)
		return
	}
	if err != nil {
		w.unavailable(rw, r, "inbox media", err, "media_id", id)
		return
	}
	ct, disp := m.MIME, "inline"
	if !m.Inline() {
		ct, disp = "application/octet-stream", "attachment"
	}
	name := m.Name
	if name == "" {
		name = m.Kind + "-" + strconv.FormatInt(m.ID, 10)
	}
	h := rw.Header()
	h.Set("Content-Type", ct)
	h.Set("Content-Disposition", mime.FormatMediaType(disp, map[string]string{"filename": name}))
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Security-Policy", "default-src 'none'; sandbox")
	h.Set("Cache-Control", "private, max-age=3600")
	h.Set("Content-Length", strconv.Itoa(len(m.Data)))
	_, _ = rw.Write(m.Data)
}

// pathID is the positive id the path names ({id}); for anything else it
// answers 404 and reports false.
func pathID(rw http.ResponseWriter, r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id <= 0 {
		http.NotFound(rw, r)
		return 0, false
	}
	return id, true
}

func (w *Web) conversation(rw http.ResponseWriter, r *http.Request) {
	w.renderConversation(rw, r, "")
}

func (w *Web) renderConversation(rw http.ResponseWriter, r *http.Request, errMsg string) {
	id, ok := pathID(rw, r)
	if !ok {
		return
	}
	d, err := w.inbox.Get(r.Context(), id)
	if errors.Is(err, inbox.ErrNotFound) {
		http.NotFound(rw, r)
		return
	}
	if err != nil {
		w.unavailable(rw, r, "conversation", err)
		return
	}
	if errMsg != "" {
		rw.WriteHeader(http.StatusUnprocessableEntity)
	}
	sess, _ := users.FromContext(r.Context())
	w.Render(rw, r, "conversation", "Conversation", map[string]any{
		"C": d, "Canned": w.canned.For(d.Queue), "RequestID": users.RandomPassword(), "Error": errMsg,
		"CanErase": w.eraser != nil && sess.User.Role.Can(users.SubscribersErase)})
}

func (w *Web) convAction(rw http.ResponseWriter, r *http.Request) {
	id, ok := pathID(rw, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, 64<<10)
	sess, _ := users.FromContext(r.Context())
	uid := sess.User.ID
	var err error
	switch lastSegment(r.URL.Path) {
	case "reply":
		err = w.inbox.Reply(r.Context(), id, uid, inbox.ReplyRequest{Text: r.PostFormValue("text"),
			UseTemplate: r.PostFormValue("use_template") == "1", RequestID: r.PostFormValue("request_id")})
	case "claim":
		err = w.inbox.Claim(r.Context(), id, uid)
	case "note":
		err = w.inbox.Note(r.Context(), id, uid, r.PostFormValue("text"))
	case "resolve":
		err = w.inbox.Resolve(r.Context(), id, uid, r.PostFormValue("end") == "1")
	}
	if err != nil {
		var we *inbox.WindowError
		msg := "Could not do that: " + err.Error()
		switch {
		case errors.As(err, &we):
			msg = we.Reason
		case errors.Is(err, inbox.ErrTaken):
			msg = "Someone else has claimed this conversation."
		case errors.Is(err, inbox.ErrEmpty):
			msg = "Write something first."
		}
		w.log.WarnContext(r.Context(), "inbox action failed", "conversation_id", id, "err", err)
		w.renderConversation(rw, r, msg)
		return
	}
	http.Redirect(rw, r, "/inbox/"+r.PathValue("id"), http.StatusSeeOther)
}

func lastSegment(p string) string {
	for i := len(p) - 1; i >= 0; i-- {
		if p[i] == '/' {
			return p[i+1:]
		}
	}
	return p
}
