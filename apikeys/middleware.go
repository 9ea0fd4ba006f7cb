package apikeys

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/nudge-engine/nudge/internal/httpx"
)

type ctxKey struct{}

// FromContext returns the key that authenticated the request.
func FromContext(ctx context.Context) (Key, bool) {
	k, ok := ctx.Value(ctxKey{}).(Key)
	return k, ok
}

// Middleware lets through requests with "Authorization: Bearer nk_…" naming a
// live key (the key is then in the request context, see FromContext) and
// answers every other request 401 with the JSON error shape.
func Middleware(s *Store, log *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			secret, ok := bearer(r.Header.Get("Authorization"))
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
			next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), ctxKey{}, k)))
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
