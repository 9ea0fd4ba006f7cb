package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/jmoiron/sqlx"

	"github.com/nudge-engine/nudge/internal/testenv"
)

// TestSegmentCLI: nudge campaign apply stores a segment file and a campaign
// naming it (segments first), refuses a campaign naming an unknown segment,
// and nudge segment count / list give the live size, the split by first
// reachable channel and a sample with masked names.
func TestSegmentCLI(t *testing.T) {
	url := testenv.DBURL(t)
	// The commands run on a clock set to the test's start, and the events
	// below are days before it: "within 30d" holds on any calendar date
	// (before, NUDGE_CLOCK_START alone was ignored and the count ran on the
	// wall clock against events of 2026-11-18, a month from failing).
	now := testenv.ClockStart(t).UTC().Truncate(time.Second)
	env := map[string]string{"NUDGE_DATABASE_URL": url, "NUDGE_CLOCK_START": now.Format(time.RFC3339)}
	dir := t.TempDir()
	seg, err := os.ReadFile("../../examples/segments/weekly-eaters.yaml")
	if err != nil {
		t.Fatal(err)
	}
	campaign := `id: renew
name: Renewal for weekly eaters
topic: marketing
audience:
  segment: weekly-eaters
trigger:
  api: {}
settings:
  channels: [telegram, sms]
steps:
  - id: s
    send: {template: t}
templates:
  t:
    default:
      ru: {text: Продлите подписку}
      en: {text: Renew}
`
	// The campaign sorts before the segment: apply still stores the segment first.
	for name, src := range map[string]string{"a-renew.yaml": campaign, "z-weekly-eaters.yaml": string(seg)} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	orphan := filepath.Join(t.TempDir(), "orphan.yaml")
	if err := os.WriteFile(orphan, []byte(strings.Replace(campaign, "segment: weekly-eaters", "segment: nobody", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, errOut := runCLI(t, env, "campaign", "apply", orphan); code == 0 || !strings.Contains(errOut, `unknown-segment: no segment "nobody" has been applied`) {
		t.Fatalf("orphan apply: %d %s %s", code, out, errOut)
	}
	code, out, errOut := runCLI(t, env, "campaign", "apply", dir)
	if code != 0 || !strings.Contains(out, "segment weekly-eaters v1") || !strings.Contains(out, "renew v1") ||
		strings.Index(out, "segment weekly-eaters") > strings.Index(out, "renew v1") {
		t.Fatalf("apply: %d %s %s", code, out, errOut)
	}

	d := sqlx.MustOpen("postgres", url)
	defer d.Close()
	add := func(ext, name, plan, zone, source string, idents ...string) {
		var id int64
		if err := d.Get(&id, `INSERT INTO subscribers (external_id, name, time_zone, attributes) VALUES ($1, $2, $3, jsonb_build_object('plan', $4::text)) RETURNING id`,
			ext, name, zone, plan); err != nil {
			t.Fatal(err)
		}
		d.MustExec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) VALUES ($1, '*', 'marketing', true, $2)`, id, source)
		for _, ch := range idents {
			d.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, $2, $3)`, id, ch, ch+ext)
		}
		for k := 1; k <= 2; k++ {
			d.MustExec(`INSERT INTO subscriber_events (subscriber_id, name, occurred_at, payload) VALUES ($1, 'order.delivered', $2, '{"box": "family"}')`,
				id, now.Add(-time.Duration(k)*24*time.Hour))
		}
	}
	add("c1", "Мария Иванова", "weekly", "Europe/Moscow", "widget", "telegram", "sms")
	add("c2", "<b>Ivan</b> Petrov", "weekly", "Asia/Yekaterinburg", "jwt_link", "sms")
	add("c3", "Олег", "weekly", "Europe/Berlin", "widget", "telegram")
	add("c4", "Анна", "solo", "Europe/Moscow", "widget", "telegram")

	code, out, errOut = runCLI(t, env, "segment", "count", "weekly-eaters")
	if code != 0 {
		t.Fatalf("count: %d %s %s", code, out, errOut)
	}
	for _, want := range []string{"weekly-eaters: 2 members", "telegram       1", "sms            1", `"М*** И***"`, `"<*** P***"`} {
		if !strings.Contains(out, want) {
			t.Errorf("count output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "Иванова") || strings.Contains(out, "Ivan") {
		t.Errorf("count shows a name unmasked:\n%s", out)
	}
	code, out, _ = runCLI(t, env, "segment", "count", "weekly-eaters", "--json", "--sample", "0")
	var c struct {
		Total     int `json:"total"`
		ByChannel []struct {
			Channel string `json:"channel"`
			Members int    `json:"members"`
		} `json:"by_channel"`
		Sample []any `json:"sample"`
	}
	if err := json.Unmarshal([]byte(out), &c); err != nil || code != 0 || c.Total != 2 || len(c.ByChannel) != 2 || c.ByChannel[0].Channel != "telegram" || len(c.Sample) != 0 {
		t.Errorf("count --json: %d %s", code, out)
	}
	if code, out, _ := runCLI(t, env, "segment", "list"); code != 0 || !strings.Contains(out, "weekly-eaters") || !strings.Contains(out, "Weekly eaters") {
		t.Errorf("list: %d %s", code, out)
	}
	if code, _, errOut := runCLI(t, env, "segment", "count", "nobody"); code != 1 || !strings.Contains(errOut, `segment "nobody" not found`) {
		t.Errorf("unknown segment: %d %s", code, errOut)
	}
}
