package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/users"
)

// Eraser is the subscriber store's erasure, the same one the CLI and the API
// call (subscribers.Store wired with every package's part).
type Eraser interface {
	GetByID(ctx context.Context, id int64) (subscribers.Subscriber, error)
	EraseByID(ctx context.Context, id int64) (string, error)
}

// EnablePrivacy adds the admins' erase page, reached from a conversation's
// customer: a confirmation, then the erasure.
func (w *Web) EnablePrivacy(e Eraser) error {
	return w.enable(func() { w.eraser = e }, NavItem{}, []string{"erase"},
		route{"GET /subscribers/{id}/erase", users.SubscribersErase, w.eraseForm},
		route{"POST /subscribers/{id}/erase", users.SubscribersErase, w.erase})
}

// eraseForm asks for confirmation, or says the customer is erased already.
func (w *Web) eraseForm(rw http.ResponseWriter, r *http.Request) {
	id, ok := pathID(rw, r)
	if !ok {
		return
	}
	sub, err := w.eraser.GetByID(r.Context(), id)
	if errors.Is(err, subscribers.ErrNotFound) {
		http.Error(rw, "no such customer", http.StatusNotFound)
		return
	}
	if err != nil {
		w.unavailable(rw, r, "erase form", err, "subscriber_id", id)
		return
	}
	w.Render(rw, r, "erase", "Erase customer data", sub)
}

// erase erases the customer after the confirmation; a form without it (an
// accidental or forged post) erases nothing.
func (w *Web) erase(rw http.ResponseWriter, r *http.Request) {
	id, ok := pathID(rw, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(rw, r.Body, 16<<10)
	if r.PostFormValue("confirm") != "erase" {
		http.Error(rw, "erasure not confirmed: tick the confirmation and submit again", http.StatusUnprocessableEntity)
		return
	}
	sess, _ := users.FromContext(r.Context())
	if _, err := w.eraser.EraseByID(r.Context(), id); err != nil {
		if errors.Is(err, subscribers.ErrNotFound) {
			http.Error(rw, "no such customer, or erased already", http.StatusNotFound)
			return
		}
		w.log.ErrorContext(r.Context(), "erase subscriber", "subscriber_id", id, "user_id", sess.User.ID, "err", err)
		http.Error(rw, "could not erase: "+err.Error(), http.StatusInternalServerError)
		return
	}
	w.log.InfoContext(r.Context(), "subscriber erased", "subscriber_id", id, "user_id", sess.User.ID)
	http.Redirect(rw, r, "/subscribers/"+strconv.FormatInt(id, 10)+"/erase", http.StatusSeeOther)
}
