package web

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/internal/browsertest"
	"github.com/nudge-engine/nudge/internal/clock"
	"github.com/nudge-engine/nudge/internal/server"
	"github.com/nudge-engine/nudge/internal/testenv"
	"github.com/nudge-engine/nudge/scheduler"
	"github.com/nudge-engine/nudge/users"
)

// TestBrowserBroadcastDryRunConfirmCancel: a marketer picks a campaign and
// a time, reads the dry run (who would get it on which channel, whom policy
// skips and why), confirms, sees the broadcast scheduled and cancels it.
func TestBrowserBroadcastDryRunConfirmCancel(t *testing.T) {
	d, log, st, w := newWeb(t)
	clk := clock.NewManual(testNow)
	w.UseClock(clk)
	if err := w.EnableBroadcasts(scheduler.NewBroadcasts(d, clk.Now, log, "Europe/Moscow")); err != nil {
		t.Fatal(err)
	}
	mux := server.NewMux()
	w.Register(mux)
	srv := httptest.NewServer(w.Wrap(mux))
	t.Cleanup(srv.Close)
	if _, err := st.Add(context.Background(), "marketer@shop.example", users.Marketer, "marketer-password-1", nil); err != nil {
		t.Fatal(err)
	}
	def, _ := json.Marshal(campaigns.Definition{ID: "winter", Topic: campaigns.TopicMarketing,
		Trigger:  campaigns.Trigger{API: &campaigns.APITrigger{}},
		Settings: campaigns.Settings{Channels: []string{"telegram"}},
		Steps:    []campaigns.Step{{ID: "hi", Send: &campaigns.SendStep{Template: "hi"}}}})
	d.MustExec(`INSERT INTO campaigns (id, current_version) VALUES ('winter', 'v1')`)
	d.MustExec(`INSERT INTO campaign_versions (campaign_id, version, number, definition, source) VALUES ('winter', 'v1', 1, $1, '')`, def)
	for i, ext := range []string{"anna", "boris", "<script>vera</script>"} {
		var id int64
		if err := d.Get(&id, `INSERT INTO subscribers (external_id) VALUES ($1) RETURNING id`, ext); err != nil {
			t.Fatal(err)
		}
		d.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, 'telegram', $2)`, id, ext)
		topic := "marketing"
		if i == 2 {
			topic = "service" // no marketing consent: the dry run says so
		}
		d.MustExec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) VALUES ($1, 'telegram', $2, true, 'api')`, id, topic)
	}

	ctx := browsertest.New(t)
	browsertest.Login(t, ctx, srv.URL, "marketer@shop.example", "marketer-password-1")
	sendAt := testNow.Add(24 * time.Hour).Format("2006-01-02T15:04")
	var audience, send, channelsTable, skippedTable, state, row string
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Navigate(srv.URL+"/broadcasts"),
		chromedp.WaitVisible(`#broadcast-form`, chromedp.ByID),
		chromedp.SetValue(`#b-campaign`, "winter", chromedp.ByID),
		chromedp.SetValue(`#b-send-at`, sendAt, chromedp.ByID),
		chromedp.Click(`#b-dry-run`, chromedp.ByID),
		chromedp.WaitVisible(`#dry-run`, chromedp.ByID),
		chromedp.Text(`#dr-audience`, &audience, chromedp.ByID),
		chromedp.Text(`#dr-send`, &send, chromedp.ByID),
		chromedp.Text(`#dr-channels tbody`, &channelsTable, chromedp.ByQuery),
		chromedp.Text(`#dr-skipped tbody`, &skippedTable, chromedp.ByQuery),
	)
	if audience != "3" || send != "2" || !strings.Contains(channelsTable, "telegram\t2") || !strings.Contains(skippedTable, "no_consent\t1") {
		t.Fatalf("dry run: audience %q send %q channels %q skipped %q", audience, send, channelsTable, skippedTable)
	}
	if n := testenv.Count(t, context.Background(), d, `SELECT count(*) FROM broadcasts`); n != 0 {
		t.Fatalf("the dry run created %d broadcasts", n)
	}
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Click(`#b-confirm`, chromedp.ByID),
		chromedp.WaitVisible(`#broadcasts tbody tr[data-id] button.cancel`, chromedp.ByQuery),
		chromedp.Text(`#broadcasts tbody tr[data-id] .state`, &state, chromedp.ByQuery),
		chromedp.Text(`#broadcasts tbody tr[data-id]`, &row, chromedp.ByQuery),
	)
	if state != "scheduled" || !strings.Contains(row, sendAt+":00Z") || !strings.Contains(row, "user:marketer@shop.example") {
		t.Fatalf("after confirm: state %q row %q", state, row)
	}
	browsertest.Run(t, ctx, 30*time.Second,
		chromedp.Click(`#broadcasts tbody tr[data-id] button.cancel`, chromedp.ByQuery),
		chromedp.WaitNotPresent(`#broadcasts tbody tr[data-id] button.cancel`, chromedp.ByQuery),
		chromedp.Text(`#broadcasts tbody tr[data-id] .state`, &state, chromedp.ByQuery),
	)
	if state != "cancelled" {
		t.Fatalf("after cancel: %q", state)
	}
	var got struct {
		State  string    `db:"state"`
		SendAt time.Time `db:"send_at"`
		By     string    `db:"created_by"`
	}
	if err := d.Get(&got, `SELECT state, send_at, created_by FROM broadcasts`); err != nil {
		t.Fatal(err)
	}
	if got.State != "cancelled" || !got.SendAt.Equal(testNow.Add(24*time.Hour)) || got.By != "user:marketer@shop.example" {
		t.Fatalf("stored %+v", got)
	}
}
