package web

import (
	"errors"
	"net/http"
	"strconv"

	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/users"
)

// CannedReplies are offered in the reply box.
var CannedReplies = []string{
	"Спасибо, что написали! Сейчас разберёмся.",
	"Нам очень жаль. Вернём деньги за блюдо в ближайшее время.",
	"Передали ваш отзыв повару, спасибо!",
	"Thank you for writing! We are looking into it.",
	"We are sorry. We will refund the dish shortly.",
}

type inboxView struct{ Name, Label string }

var inboxViews = []inboxView{{"all", "All open"}, {"mine", "Mine"}, {"unassigned", "Unassigned"}, {"overdue", "Overdue SLA"}, {"resolved", "Resolved"}}

// EnableInbox adds the inbox pages.
func (w *Web) EnableInbox(svc *inbox.Service) error {
	if err := w.enable(NavItem{Href: "/inbox", Label: "Inbox", About: "Conversations handed to managers", Role: users.Manager},
		"inbox", "conversation"); err != nil {
		return err
	}
	w.inbox = svc
	return nil
}

func (w *Web) registerInbox(mux *http.ServeMux) {
	if w.inbox == nil {
		return
	}
	m := w.handle(mux, users.Manager)
	m("GET /inbox", w.inboxList)
	m("GET /inbox/{id}", w.conversation)
	m("POST /inbox/{id}/reply", w.convAction)
	m("POST /inbox/{id}/claim", w.convAction)
	m("POST /inbox/{id}/note", w.convAction)
	m("POST /inbox/{id}/resolve", w.convAction)
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
	w.Render(rw, r, "inbox", "Inbox", map[string]any{"Views": views, "Conversations": list})
}

func convID(r *http.Request) (int64, bool) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	return id, err == nil && id > 0
}

func (w *Web) conversation(rw http.ResponseWriter, r *http.Request) {
	w.renderConversation(rw, r, "")
}

func (w *Web) renderConversation(rw http.ResponseWriter, r *http.Request, errMsg string) {
	id, ok := convID(r)
	if !ok {
		http.NotFound(rw, r)
		return
	}
	d, err := w.inbox.Get(r.Context(), id)
	if errors.Is(err, inbox.ErrNotFound) {
		http.NotFound(rw, r)
		return
	}
	if err != nil {
		w.log.ErrorContext(r.Context(), "conversation", "err", err)
		http.Error(rw, "unavailable", http.StatusInternalServerError)
		return
	}
	if errMsg != "" {
		rw.WriteHeader(http.StatusUnprocessableEntity)
	}
	w.Render(rw, r, "conversation", "Conversation", map[string]any{
		"C": d, "Canned": CannedReplies, "RequestID": users.RandomPassword(), "Error": errMsg})
}

func (w *Web) convAction(rw http.ResponseWriter, r *http.Request) {
	id, ok := convID(r)
	if !ok {
		http.NotFound(rw, r)
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
