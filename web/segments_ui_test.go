package web

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/browsertest"
)

// TestBrowserSegmentsPage: the segments page lists each applied segment with
// its live count and the split by first reachable channel, as the count
// query computes them; a name in a segment is escaped.
func TestBrowserSegmentsPage(t *testing.T) {
	s := newFullSite(t)
	ctx := browsertest.New(t)
	st := campaigns.NewStore(s.db)
	for _, src := range []string{
		"kind: segment\nid: tg-or-sms\nname: \"<i>Telegram</i> or SMS\"\nchannels: [telegram, sms]\n",
		"kind: segment\nid: families\nname: Families\nconsent: service\nwhere:\n  - {attr: plan, op: eq, value: family}\n",
	} {
		f, err := campaigns.Parse("s.yaml", []byte(src))
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := st.ApplySegment(context.Background(), f); err != nil {
			t.Fatal(err)
		}
	}
	// Five on telegram (two with sms too), three on sms only, one with
	// consent but no identity; two families with service consent.
	for i := 0; i < 11; i++ {
		var id int64
		plan := "solo"
		if i >= 9 {
			plan = "family"
		}
		if err := s.db.QueryRow(`INSERT INTO subscribers (external_id, attributes) VALUES ($1, jsonb_build_object('plan', $2::text)) RETURNING id`,
			fmt.Sprint("seg", i), plan).Scan(&id); err != nil {
			t.Fatal(err)
		}
		topic := "marketing"
		if i >= 9 {
			topic = "service"
		}
		s.db.MustExec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) VALUES ($1, '*', $2, true, 'widget')`, id, topic)
		if i < 5 || i >= 9 {
			s.db.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, 'telegram', $2)`, id, fmt.Sprint("tg", i))
		}
		if (i >= 3 && i < 8) || i == 10 {
			s.db.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, 'sms', $2)`, id, fmt.Sprint("+7", i))
		}
	}
	browsertest.Login(t, ctx, s.srv.URL, "marketer@shop.example", "marketer-password-1")
	var rows [][]string
	var nav bool
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Navigate(s.srv.URL+"/segments"),
		chromedp.WaitVisible(`table#segments tbody tr[data-id]`, chromedp.ByQuery),
		chromedp.Evaluate(`Array.from(document.querySelectorAll('table#segments tbody tr')).map(tr => Array.from(tr.cells).slice(0, 4).map(td => td.textContent.trim()))`, &rows),
		chromedp.Evaluate(`!!document.querySelector('header.top a[href="/segments"]')`, &nav),
	)
	want := [][]string{
		{"Families families", "service", "2", "telegram 2"},
		{"<i>Telegram</i> or SMS tg-or-sms", "marketing", "9", "telegram 5, sms 3, none reachable 1"},
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Fatalf("segments table shows\n%q\nwant\n%q", rows, want)
	}
	if !nav {
		t.Error("no Segments link in the marketer's navigation")
	}
}
