package web

import (
	"bufio"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/users"
)

// A manager given the care queue sees only care's conversations: the
// others answer 404 on the pages, the API, their media and never reach
// the live stream; a manager without queues sees both.
func TestManagerSeesOnlyTheirQueuesOverHTTP(t *testing.T) {
	s := newFullSite(t)
	ctx := context.Background()
	if _, err := users.NewStore(s.db, nil).Add(ctx, "care@shop.example", users.Manager, "care-password-1", []string{"care"}); err != nil {
		t.Fatal(err)
	}
	conv, media := map[string]int64{}, map[string]int64{}
	for i, q := range []string{"care", "billing"} {
		var sub, m int64
		s.db.QueryRow(`INSERT INTO subscribers (name) VALUES ('Ольга') RETURNING id`).Scan(&sub)
		id, err := inbox.Open(ctx, s.db, inbox.Handoff{SubscriberID: sub, Channel: channels.Telegram, Queue: q, Reason: "handoff",
			At: time.Now().Add(time.Duration(i) * time.Second)})
		if err != nil {
			t.Fatal(err)
		}
		s.db.QueryRow(`INSERT INTO reply_media (subscriber_id, channel, provider_event_id, idx, kind, mime, size, data, created_at)
			VALUES ($1, 'telegram', $2, 0, 'photo', 'image/png', 3, '\x010203', now()) RETURNING id`, sub, "ev-"+q).Scan(&m)
		conv[q], media[q] = id, m
	}
	care := httpLogin(t, s.srv.URL, "care@shop.example", "care-password-1")
	all := httpLogin(t, s.srv.URL, "manager@shop.example", "manager-password-1")
	status := func(c *http.Client, method, path string) int {
		t.Helper()
		req, _ := http.NewRequest(method, s.srv.URL+path, nil)
		req.Header.Set("X-CSRF-Token", csrfOf(t, c, s.srv.URL+"/inbox"))
		res, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	for _, tc := range []struct {
		method, path string
		care, all    int
	}{
		{"GET", "/inbox/" + itoa(conv["care"]), 200, 200},
		{"GET", "/inbox/" + itoa(conv["billing"]), 404, 200},
		{"GET", "/inbox/media/" + itoa(media["care"]), 200, 200},
		{"GET", "/inbox/media/" + itoa(media["billing"]), 404, 200},
		{"GET", "/v1/inbox/conversations/" + itoa(conv["care"]), 200, 200},
		{"GET", "/v1/inbox/conversations/" + itoa(conv["billing"]), 404, 200},
		{"POST", "/v1/inbox/conversations/" + itoa(conv["billing"]) + "/claim", 404, 204},
		{"POST", "/v1/inbox/conversations/" + itoa(conv["care"]) + "/claim", 204, 409},
	} {
		if got := status(care, tc.method, tc.path); got != tc.care {
			t.Errorf("care manager %s %s: %d, want %d", tc.method, tc.path, got, tc.care)
		}
		if got := status(all, tc.method, tc.path); got != tc.all {
			t.Errorf("manager of every queue %s %s: %d, want %d", tc.method, tc.path, got, tc.all)
		}
	}
	list := getBody(t, care, s.srv.URL+"/v1/inbox/conversations")
	if !strings.Contains(list, `"id":`+itoa(conv["care"])) || strings.Contains(list, `"id":`+itoa(conv["billing"])) {
		t.Errorf("care manager's list: %s", list)
	}
	page := getBody(t, care, s.srv.URL+"/inbox")
	if !strings.Contains(page, `href="/inbox/`+itoa(conv["care"])+`"`) || strings.Contains(page, `href="/inbox/`+itoa(conv["billing"])+`"`) {
		t.Errorf("care manager's inbox page lists the wrong conversations")
	}

	// On shift, the care manager is given only care's new conversations,
	// whatever queues the form names.
	for _, asked := range []string{"billing", ""} {
		form := url.Values{"queues": {asked}, "csrf": {csrfOf(t, care, s.srv.URL+"/inbox")}}
		if res, err := care.PostForm(s.srv.URL+"/inbox/shift", form); err != nil || res.StatusCode != 200 {
			t.Fatalf("shift: %v %v", res, err)
		}
		var qs string
		if err := s.db.QueryRow(`SELECT array_to_string(sh.queues, ',') FROM inbox_shifts sh JOIN users u ON u.id = sh.user_id
			WHERE u.email = 'care@shop.example'`).Scan(&qs); err != nil || qs != "care" {
			t.Errorf("shift for %q: queues %q (%v), want care", asked, qs, err)
		}
	}

	// The live stream: a note on billing, then one on care; the care
	// manager hears only of care.
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(sctx, "GET", s.srv.URL+"/v1/inbox/events", nil)
	res, err := care.Do(req)
	if err != nil || res.StatusCode != 200 {
		t.Fatalf("events: %v %v", res, err)
	}
	defer res.Body.Close()
	lines := bufio.NewScanner(res.Body)
	lines.Scan() // ": connected"
	for _, q := range []string{"billing", "care"} {
		req, _ := http.NewRequest("POST", s.srv.URL+"/v1/inbox/conversations/"+itoa(conv[q])+"/notes", strings.NewReader(`{"text":"call back"}`))
		req.Header.Set("X-CSRF-Token", csrfOf(t, all, s.srv.URL+"/inbox"))
		req.Header.Set("Content-Type", "application/json")
		if res, err := all.Do(req); err != nil || res.StatusCode != 204 {
			t.Fatalf("note on %s: %v %v", q, res, err)
		}
	}
	var heard []string
	for lines.Scan() {
		if l := lines.Text(); strings.HasPrefix(l, "data: ") {
			heard = append(heard, l)
			if strings.Contains(l, `"note"`) {
				break
			}
		}
	}
	if len(heard) == 0 || strings.Contains(strings.Join(heard, "\n"), `"conversation_id":`+itoa(conv["billing"])+`,`) ||
		!strings.Contains(heard[len(heard)-1], `"conversation_id":`+itoa(conv["care"])+`,`) {
		t.Errorf("care manager's stream: %q", heard)
	}
}
