package users

import (
	"context"
	"crypto/subtle"
	"net/http"
	"net/url"
	"time"
)

// CookieName is the session cookie.
const CookieName = "nudge_session"

type ctxKey struct{}

// FromContext returns the signed-in session put there by Middleware.
func FromContext(ctx context.Context) (Session, bool) {
	s, ok := ctx.Value(ctxKey{}).(Session)
	return s, ok
}

// Middleware resolves the session cookie (if any) into the request context.
func (s *Store) Middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if c, err := r.Cookie(CookieName); err == nil {
			if sess, err := s.Session(r.Context(), c.Value); err == nil {
				r = r.WithContext(context.WithValue(r.Context(), ctxKey{}, sess))
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

// Require lets through only signed-in users whose role allows want; others
// are sent to the login page (GET) or refused. Every state-changing request
// must also carry the session's CSRF token (form field "csrf" or header
// X-CSRF-Token), or it is refused with 403.
func Require(want Role, forbidden http.Handler, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		sess, ok := FromContext(r.Context())
		if !ok {
			if r.Method == http.MethodGet || r.Method == http.MethodHead {
				http.Redirect(w, r, "/login?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			}
			http.Error(w, "sign in first", http.StatusUnauthorized)
			return
		}
		if !sess.User.Role.Allows(want) {
			w.WriteHeader(http.StatusForbidden)
			forbidden.ServeHTTP(w, r)
			return
		}
		if !safeMethod(r.Method) && !ValidCSRF(r, sess.CSRF) {
			http.Error(w, "missing or wrong CSRF token: reload the page and try again", http.StatusForbidden)
			return
		}
		next.ServeHTTP(w, r)
	})
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
