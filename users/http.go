package users

import (
	"context"
	"crypto/subtle"
	"net/http"
	"time"

	"github.com/nudge-engine/nudge/internal/httpx"
)

// CookieName is the session cookie.
const CookieName = "nudge_session"

type ctxKey struct{}

// FromContext returns the signed-in session put there by Middleware.
func FromContext(ctx context.Context) (Session, bool) {
	s, ok := ctx.Value(ctxKey{}).(Session)
	return s, ok
}

// Middleware resolves the session cookie (if any) into the request
// context: the Session (FromContext) and its Actor (ActorFrom).
func (s *Store) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(CookieName); err == nil {
			if sess, err := s.Session(r.Context(), c.Value); err == nil {
				ctx := context.WithValue(r.Context(), ctxKey{}, sess)
				u := sess.User
				ctx = WithActor(ctx, Actor{Kind: "user", ID: u.ID, Name: u.Email, Role: u.Role,
					Queues: u.Queues, From: httpx.ClientIP(r), CSRF: sess.CSRF})
				r = r.WithContext(ctx)
			}
		}
		next.ServeHTTP(w, r)
	})
}

// SetCookie writes the session cookie: HttpOnly, SameSite=Lax, Secure when
// the install is served over https.
func SetCookie(w http.ResponseWriter, tok string, exp time.Time, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: tok, Path: "/", Expires: exp,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// ClearCookie removes the session cookie.
func ClearCookie(w http.ResponseWriter, secure bool) {
	http.SetCookie(w, &http.Cookie{Name: CookieName, Value: "", Path: "/", MaxAge: -1,
		HttpOnly: true, Secure: secure, SameSite: http.SameSiteLaxMode})
}

// Denied answers a request Require refuses: status is 401 (nobody signed
// in or no key) or 403 (the role may not, or a form without its CSRF token).
type Denied func(w http.ResponseWriter, r *http.Request, status int, msg string)

// DeniedHeader marks a response as Require's refusal (value: the action
// refused), so clients and tests tell it from a handler's own 401 or 403.
const DeniedHeader = "Nudge-Denied"

// Require is the one role check: it lets through only requests whose actor
// (a signed-in user or an API key, see ActorFrom) may do a, and refuses the
// others through deny. A state-changing request of a session must also
// carry the session's CSRF token (form field "csrf" or header
// X-CSRF-Token); API keys need none, since browsers do not send them.
func Require(a Action, deny Denied, next http.Handler) http.Handler {
	if a == Public {
		return next
	}
	deny = markDenied(a, deny)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		act, ok := ActorFrom(r.Context())
		if !ok {
			deny(w, r, http.StatusUnauthorized, "sign in first, or send an API key as Authorization: Bearer nk_…")
			return
		}
		if !act.Role.Can(a) {
			deny(w, r, http.StatusForbidden, "your role ("+string(act.Role)+") may not do this ("+string(a)+")")
			return
		}
		if act.Kind == "user" && !safeMethod(r.Method) && !ValidCSRF(r, act.CSRF) {
			deny(w, r, http.StatusForbidden, "missing or wrong CSRF token: reload the page and try again")
			return
		}
		next.ServeHTTP(w, r)
	})
}

func markDenied(a Action, deny Denied) Denied {
	return func(w http.ResponseWriter, r *http.Request, status int, msg string) {
		w.Header().Set(DeniedHeader, string(a))
		deny(w, r, status, msg)
	}
}

func safeMethod(m string) bool {
	return m == http.MethodGet || m == http.MethodHead || m == http.MethodOptions
}

// ValidCSRF compares the request's token with want in constant time.
func ValidCSRF(r *http.Request, want string) bool {
	got := r.Header.Get("X-CSRF-Token")
	if got == "" {
		got = r.PostFormValue("csrf")
	}
	return want != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}
