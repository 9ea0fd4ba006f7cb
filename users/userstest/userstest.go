// Package userstest is the actor an API test's requests come as, so that
// handlers mounted on a server.Mux pass users.Require without a key or a
// session in the database.
package userstest

import (
	"net/http"

	"github.com/nudge-engine/nudge/users"
)

// As serves h to every request as actor a (a signed-in person has Kind
// "user" and an ID; routes that check the CSRF token refuse its changes).
func As(a users.Actor, h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h.ServeHTTP(w, r.WithContext(users.WithActor(r.Context(), a)))
	})
}

// AsAdmin serves h to every request as an admin API key named "test".
func AsAdmin(h http.Handler) http.Handler {
	return As(users.Actor{Kind: "key", Name: "test", Role: users.Admin}, h)
}
