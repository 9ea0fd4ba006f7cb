package apikeys

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/users"
)

// Middleware identifies requests that carry "Authorization: Bearer nk_…":
// a live key becomes the request's actor (users.ActorFrom) with the key's
// role; an unknown or revoked key is answered 401 with the JSON error
// shape. Requests without the header pass on unidentified (a session may
// identify them); whether a route needs an actor is users.Require's call.
func Middleware(s *Store, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h := r.Header.Get("Authorization")
			if h == "" {
				next.ServeHTTP(w, r)
				return
			}
			secret, ok := bearer(h)
			if !ok {
				unauthorized(w, r, log, "send the API key as Authorization: Bearer nk_…")
				return
			}
			k, err := s.Verify(r.Context(), secret)
			if err != nil {
				if !errors.Is(err, ErrInvalid) {
					httpx.WriteError(w, r, log, err) // database trouble: 500, logged
					return
				}
				if log != nil {
					log.WarnContext(r.Context(), "api key rejected", "method", r.Method, "path", r.URL.Path, "remote", r.RemoteAddr)
				}
				unauthorized(w, r, log, "the API key is unknown or revoked")
				return
			}
			act := users.Actor{Kind: "key", ID: k.ID, Name: k.Name, Role: k.Role, From: httpx.ClientIP(r)}
			next.ServeHTTP(w, r.WithContext(users.WithActor(r.Context(), act)))
		})
	}
}

func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", false
	}
	token = strings.TrimSpace(token)
	return token, token != ""
}

func unauthorized(w http.ResponseWriter, r *http.Request, log *slog.Logger, msg string) {
	w.Header().Set("WWW-Authenticate", `Bearer realm="nudge"`)
	httpx.WriteError(w, r, log, httpx.Errorf(httpx.CodeUnauthorized, "", "%s", msg))
}
