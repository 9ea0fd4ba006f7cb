package fakekit

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestWindowForgetsOldEvents(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var w Window
	w.Add(t0)
	w.Add(t0.Add(500 * time.Millisecond))
	if !w.Full(t0.Add(900*time.Millisecond), time.Second, 2) {
		t.Fatal("two events within a second: want full at limit 2")
	}
	if w.Full(t0.Add(1200*time.Millisecond), time.Second, 2) {
		t.Fatal("the first event left the window: want room for one more")
	}
	if w.Full(t0.Add(1600*time.Millisecond), time.Second, 1) {
		t.Fatal("both events left the window: want empty")
	}
}

func TestWindowAdmitsUpToTheLimit(t *testing.T) {
	t0 := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	var w Window
	if !w.Admit(t0, time.Second, 2) || !w.Admit(t0, time.Second, 2) {
		t.Fatal("two events at limit 2: want both admitted")
	}
	if w.Admit(t0.Add(999*time.Millisecond), time.Second, 2) {
		t.Fatal("a third within the second: want refused")
	}
	if !w.Admit(t0.Add(time.Second), time.Second, 2) {
		t.Fatal("the first two left the window: want admitted")
	}
	var off Window
	for range 3 {
		if !off.Admit(t0, time.Second, 0) {
			t.Fatal("limit 0: want everything admitted")
		}
	}
	if off.Full(t0, time.Second, 1) {
		t.Fatal("limit 0 counted events")
	}
}

func TestPlansFallBackToDefault(t *testing.T) {
	var ps Plans[string, int]
	if _, ok := ps.For("a"); ok {
		t.Fatal("no plans: want none")
	}
	ps.Set("a", 1)
	ps.SetDefault(2)
	if p, ok := ps.For("a"); !ok || p != 1 {
		t.Errorf("own plan: %d %v", p, ok)
	}
	if p, ok := ps.For("b"); !ok || p != 2 {
		t.Errorf("default plan: %d %v", p, ok)
	}
}

func TestDeliverSendsHeadersAndReportsRefusals(t *testing.T) {
	var got http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Clone()
		if r.URL.Path == "/refuse" {
			w.WriteHeader(http.StatusForbidden)
		}
	}))
	defer srv.Close()
	ctx := context.Background()
	hdr := map[string]string{"X-Sig": "abc", "X-Empty": ""}
	if err := Deliver(ctx, NewClient(), "fake: webhook", srv.URL, "application/json", []byte(`{}`), hdr); err != nil {
		t.Fatal(err)
	}
	if got.Get("X-Sig") != "abc" || got.Get("Content-Type") != "application/json" || len(got.Values("X-Empty")) != 0 {
		t.Errorf("headers %v", got)
	}
	err := Deliver(ctx, NewClient(), "fake: webhook", srv.URL+"/refuse", "application/json", nil, nil)
	if err == nil || err.Error() != "fake: webhook answered 403" {
		t.Errorf("refused: %v", err)
	}
	srv.Close()
	err = Deliver(ctx, NewClient(), "fake: webhook", srv.URL, "application/json", nil, nil)
	if err == nil || !strings.HasPrefix(err.Error(), "fake: webhook: ") {
		t.Errorf("server gone: %v", err)
	}
}

func TestOncePlaysEachAnswerOnceInOrder(t *testing.T) {
	var o OnceBy[string, int]
	o.Add("a", 1)
	o.Add("a", 2)
	o.Add("b", 3)
	for _, want := range []int{1, 2} {
		if got, ok := o.Next("a"); !ok || got != want {
			t.Fatalf("a: %d %v, want %d", got, ok, want)
		}
	}
	if _, ok := o.Next("a"); ok {
		t.Fatal("a: played more than was queued")
	}
	if got, ok := o.Next("b"); !ok || got != 3 {
		t.Fatalf("b: %d %v", got, ok)
	}
}

func TestFailuresQueueBeforeStanding(t *testing.T) {
	var fs Failures[string, int]
	if _, ok := fs.For("a"); ok {
		t.Fatal("nothing scripted: want no failure")
	}
	fs.Put("a", 5)
	fs.Once("a", 12)
	fs.Once("a", 13)
	for i, want := range []int{12, 13, 5, 5} {
		if got, ok := fs.For("a"); !ok || got != want {
			t.Errorf("send %d: %d %v, want %d", i, got, ok, want)
		}
	}
	if _, ok := fs.For("b"); ok {
		t.Error("b has no failure scripted")
	}
	fs.Put("a", 0)
	if got, ok := fs.For("a"); ok {
		t.Errorf("cleared with 0: got %d", got)
	}
}

func TestPostWebhookWantsAWebhook(t *testing.T) {
	var got string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = r.Header.Get("Content-Type")
	}))
	defer srv.Close()
	var c Core[int, string]
	ctx := context.Background()
	if err := c.PostWebhook(ctx, NewClient(), "fake", "application/json", nil, nil); err == nil || err.Error() != "fake: no webhook set" {
		t.Fatalf("no webhook: %v", err)
	}
	c.SetWebhook(srv.URL)
	if err := c.PostWebhook(ctx, NewClient(), "fake", "application/json", []byte(`{}`), nil); err != nil || got != "application/json" {
		t.Fatalf("posted as %q: %v", got, err)
	}
}

func TestFilesKeepAndCount(t *testing.T) {
	var fs Files[string]
	if _, ok := fs.Get("a"); ok {
		t.Fatal("empty: want nothing")
	}
	fs.Put("a", "menu.pdf")
	if f, ok := fs.Get("a"); !ok || f != "menu.pdf" {
		t.Fatalf("got %q %v", f, ok)
	}
	fs.CountServed()
	fs.CountServed()
	if n := fs.Served(); n != 2 {
		t.Fatalf("served %d, want 2", n)
	}
}

func TestCoreIDsCountFromOne(t *testing.T) {
	var c Core[int, string]
	for want := 1; want <= 3; want++ {
		if got := c.NextID(); got != want {
			t.Fatalf("id %d, want %d", got, want)
		}
	}
}
