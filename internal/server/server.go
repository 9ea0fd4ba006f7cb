// Package server runs the HTTP side of Nudge: one Mux onto which each domain
// package registers its routes, each with the action it lets its caller do
// (so none escapes the role check), health endpoints, request logging,
// panic recovery and graceful shutdown.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"sync"
	"time"

	"github.com/nudge-engine/nudge/internal/httpx"
	"github.com/nudge-engine/nudge/users"
)

// Routes is implemented by each package that serves HTTP: it mounts its
// routes, each with its action, on the mux.
type Routes interface {
	Register(mux *Mux)
}

// Check is a readiness probe (database ping, Redis ping).
type Check func(ctx context.Context) error

// Server is the HTTP server.
type Server struct {
	log    *slog.Logger
	mux    *Mux
	checks map[string]Check
	srv    *http.Server
	wrap   []func(http.Handler) http.Handler
	// stopping closes when a graceful shutdown begins: streams that would
	// otherwise never end (server-sent events) watch it through Stopping.
	stopping chan struct{}
	stopOnce sync.Once
}

type stoppingKey struct{}

// Stopping returns a channel that closes when the server serving the request
// begins to shut down (nil, never closing, outside a Server). A handler that
// streams until the client leaves selects on it too, or graceful shutdown
// waits for it until its timeout.
func Stopping(ctx context.Context) <-chan struct{} {
	ch, _ := ctx.Value(stoppingKey{}).(chan struct{})
	return ch
}

// New returns a server with /healthz and /readyz registered.
func New(log *slog.Logger, checks map[string]Check, routes ...Routes) *Server {
	s := &Server{log: log, mux: NewMux(), checks: checks, stopping: make(chan struct{})}
	s.mux.HandleFunc("GET /healthz", users.Public, func(w http.ResponseWriter, r *http.Request) {
		httpx.WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
	})
	s.mux.HandleFunc("GET /readyz", users.Public, s.ready)
	for _, r := range routes {
		r.Register(s.mux)
	}
	return s
}

// Mux exposes the mux for late registration (tests, optional components).
func (s *Server) Mux() *Mux { return s.mux }

// Routes lists every route with its action (TestEveryRouteChecksItsRole).
func (s *Server) Routes() []Route { return s.mux.Routes() }

// Use adds a middleware around the whole mux (sessions, request logging).
func (s *Server) Use(mw func(http.Handler) http.Handler) { s.wrap = append(s.wrap, mw) }

// Handler is the full handler chain.
func (s *Server) Handler() http.Handler {
	var h http.Handler = s.mux
	for i := len(s.wrap) - 1; i >= 0; i-- {
		h = s.wrap[i](h)
	}
	inner := s.recoverer(h)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		inner.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), stoppingKey{}, s.stopping)))
	})
}

func (s *Server) ready(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	res := map[string]string{}
	status := http.StatusOK
	for name, c := range s.checks {
		if err := c(ctx); err != nil {
			res[name] = err.Error()
			status = http.StatusServiceUnavailable
		} else {
			res[name] = "ok"
		}
	}
	httpx.WriteJSON(w, status, res)
}

func (s *Server) recoverer(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.log.ErrorContext(r.Context(), "handler panic", "method", r.Method, "path", r.URL.Path,
					"panic", fmt.Sprint(p), "stack", string(debug.Stack()))
				httpx.WriteError(w, r, nil, &httpx.Error{Code: httpx.CodeInternal, Message: "internal error"})
			}
		}()
		next.ServeHTTP(w, r)
	})
}

// Serve listens on addr until ctx ends, then shuts down gracefully. ready, if
// not nil, receives the bound address (useful with ":0").
func (s *Server) Serve(ctx context.Context, addr string, ready chan<- string) error {
	ln, err := listen(ctx, addr)
	if err != nil {
		return err
	}
	s.srv = &http.Server{
		Handler:           s.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       60 * time.Second,
		WriteTimeout:      0, // server-sent events stream for long
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.log.Info("http listening", "addr", ln.Addr().String())
	if ready != nil {
		ready <- ln.Addr().String()
	}
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	s.stopOnce.Do(func() { close(s.stopping) })
	sctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

type listenerKey struct{}

// WithListener hands Serve a listener bound already. A caller that must name
// its address before the engine starts (the demo prints links, names its
// store after the port) keeps the port bound from then on: closing it and
// letting Serve bind again would leave the port free for any other program
// in between.
func WithListener(ctx context.Context, ln net.Listener) context.Context {
	return context.WithValue(ctx, listenerKey{}, ln)
}

// listen is the listener WithListener put in ctx when it is bound to addr,
// else a new one on addr.
func listen(ctx context.Context, addr string) (net.Listener, error) {
	if ln, ok := ctx.Value(listenerKey{}).(net.Listener); ok && ln.Addr().String() == addr {
		return ln, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", addr, err)
	}
	return ln, nil
}
