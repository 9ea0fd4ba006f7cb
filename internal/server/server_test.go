package server

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"

	"github.com/nudge-engine/nudge/users"
)

type streamRoute struct{}

func (streamRoute) Register(mux *Mux) {
	mux.HandleFunc("GET /stream", users.Public, func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, ": connected\n\n")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-Stopping(r.Context()):
		}
	})
}

// A stream that lasts until its client leaves must not hold up a graceful
// shutdown: Serve closes Stopping first, and returns without error (a
// timed-out Shutdown returns one, and `nudge serve` would exit 1).
func TestShutdownEndsStreams(t *testing.T) {
	s := New(slog.New(slog.DiscardHandler), nil, streamRoute{})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, "127.0.0.1:0", ready) }()
	addr := <-ready
	resp, err := http.Get("http://" + addr + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if line, err := bufio.NewReader(resp.Body).ReadString('\n'); err != nil || line != ": connected\n" {
		t.Fatalf("stream: %q %v", line, err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
}

func TestStoppingOutsideAServerNeverCloses(t *testing.T) {
	if ch := Stopping(context.Background()); ch != nil {
		t.Fatalf("Stopping outside a server = %v, want nil", ch)
	}
}

// TestServeAdoptsTheListener: Serve on the address of a listener the context
// carries serves on that listener (binding the address again would fail:
// the listener holds it) and closes it at shutdown; on another address it
// binds its own.
func TestServeAdoptsTheListener(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	s := New(slog.New(slog.DiscardHandler), nil, streamRoute{})
	ctx, cancel := context.WithCancel(WithListener(context.Background(), ln))
	ready := make(chan string, 1)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln.Addr().String(), ready) }()
	select {
	case got := <-ready:
		if got != ln.Addr().String() {
			t.Fatalf("Serve bound %s, want the given listener's %s", got, ln.Addr())
		}
	case err := <-done:
		t.Fatalf("Serve did not take the given listener: %v", err)
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/stream")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
	again, err := net.Listen("tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("the adopted listener is still open after shutdown: %v", err)
	}
	again.Close()

	other := New(slog.New(slog.DiscardHandler), nil, streamRoute{})
	ctx, cancel = context.WithCancel(WithListener(context.Background(), ln))
	defer cancel()
	go func() { done <- other.Serve(ctx, "127.0.0.1:0", ready) }()
	if got := <-ready; got == ln.Addr().String() {
		t.Fatalf("Serve on another address took the context's listener")
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Serve after shutdown: %v", err)
	}
}
