package cli

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/campaigns"
	"github.com/nudge-engine/nudge/campaigns/channelcheck"
	"github.com/nudge-engine/nudge/channels"
	"github.com/nudge-engine/nudge/channels/fakes"
	"github.com/nudge-engine/nudge/channels/whatsapp/whatsappfake"
	"github.com/nudge-engine/nudge/consent"
	"github.com/nudge-engine/nudge/subscribers"
	"github.com/nudge-engine/nudge/worker"
)

// waCheckCampaign asks on WhatsApp (free text inside the 24h window, the
// approved template outside it) and answers a reply with free text only,
// which the window of a reply allows; SMS is the fallback rung.
const waCheckCampaign = `id: wa-check
name: WhatsApp window check
topic: service
trigger:
  event: {name: wa.check}
settings:
  channels: [whatsapp]
  fallback:
    - {channel: sms, if_not: delivered, within: 1h}
steps:
  - id: ask
    send: {template: ask}
  - id: wait
    wait_reply:
      timeout: 1d
      on_timeout: done
      branches:
        - {keywords: [да], goto: info}
  - id: info
    send: {template: info}
  - id: done
    end: {}
templates:
  ask:
    whatsapp:
      ru:
        text: "{{.Subscriber.Name}}, доставка завтра. Всё в силе?"
        whatsapp_template: {name: wa_check_v1, language: ru, params: ["{{.Subscriber.Name}}"]}
    sms:
      ru: {text: "GrowFood: доставка завтра. Всё в силе?"}
  info:
    whatsapp:
      ru: {text: "Отлично, курьер позвонит за час."}
    sms:
      ru: {text: "GrowFood: курьер позвонит за час."}
`

// waStaleCampaign names a template WhatsApp no longer has.
var waStaleCampaign = strings.NewReplacer("id: wa-check", "id: wa-stale", "name: wa.check", "name: wa.stale",
	"name: wa_check_v1", "name: wa_stale_v1").Replace(waCheckCampaign)

// waOptIn brings a customer in as the checkout does: SMS consent from its
// checkbox, then a WhatsApp message carrying a deep-link code, through the
// fake and the real webhook.
func (e *e2e) waOptIn(ext, name, phone, wa string) {
	e.t.Helper()
	locale, tz := "ru", "Europe/Moscow"
	sub, _, err := subscribers.NewStore(e.d, e.now).Upsert(e.ctx, subscribers.Input{ExternalID: ext, Name: &name, Locale: &locale,
		TimeZone: &tz, Identities: []subscribers.IdentityInput{{Channel: channels.SMS, Address: phone}}})
	if err != nil {
		e.t.Fatal(err)
	}
	if err := consent.NewLedger().Grant(e.ctx, e.d, consent.Change{SubscriberID: sub.ID, Channel: channels.SMS,
		Topic: consent.TopicService, Source: consent.SourceAPI}); err != nil {
		e.t.Fatal(err)
	}
	code, err := consent.NewCodes(e.now).Create(e.ctx, e.d, consent.NewCode{SubscriberID: sub.ID, Source: consent.SourceJWTLink,
		Topics: []consent.Topic{consent.TopicService}, TTL: 24 * time.Hour})
	if err != nil {
		e.t.Fatal(err)
	}
	if _, err := e.f.Do(e.ctx, channels.WhatsApp, "start", fakes.Action{User: wa, Code: code.Code}); err != nil {
		e.t.Fatal(err)
	}
	e.waitFor(ext+"'s WhatsApp identity", func() bool {
		return e.count(`SELECT count(*) FROM channel_identities WHERE subscriber_id = $1 AND channel = 'whatsapp'`, sub.ID) == 1
	})
}

// applyCampaigns writes the sources as files and applies them through the
// campaign store with every lint rule, as the server does.
func (e *e2e) applyCampaigns(srcs map[string]string) {
	e.t.Helper()
	dir := e.t.TempDir()
	for name, src := range srcs {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			e.t.Fatal(err)
		}
	}
	files, err := campaigns.LoadAll(dir)
	if err != nil {
		e.t.Fatal(err)
	}
	store := campaigns.NewStore(e.d, campaigns.WithLinter(channelcheck.Linter()))
	for _, f := range files {
		if _, _, err := store.Apply(e.ctx, f); err != nil {
			e.t.Fatal(err)
		}
	}
}

// TestWhatsAppWindowClosedEndToEnd: WhatsApp refuses a free-form message
// with 131047 although the engine's record says the window is open. The ask,
// whose variant names an approved template, is sent again as that template
// (its parameter rendered from the subscriber) and delivered; the message
// row says why. The answer to a reply has no template: it falls to the SMS
// rung at once, and its WhatsApp row records window_closed.
func TestWhatsAppWindowClosedEndToEnd(t *testing.T) {
	e := newE2E(t)
	e.f.SetBaseURL(e.base)
	e.f.WhatsApp.AddTemplate(whatsappfake.Template{Name: "wa_check_v1", Language: "ru", Body: "{{1}}, доставка завтра. Всё в силе?", QuickReplies: []string{"Да"}})
	const tpl, plain, stale = "79990000811", "79990000812", "79990000813"
	e.waOptIn("wa-tpl", "Вера", "+79990000911", tpl)
	e.waOptIn("wa-plain", "Глеб", "+79990000912", plain)
	e.waOptIn("wa-stale", "Ося", "+79990000913", stale)
	e.f.WhatsApp.CloseWindow(tpl)
	e.f.WhatsApp.CloseWindow(stale)

	e.applyCampaigns(map[string]string{"wa-check.yaml": waCheckCampaign, "wa-stale.yaml": waStaleCampaign})
	at := e.now()
	if _, err := subscribers.NewStore(e.d, e.now).AddEvents(e.ctx, []subscribers.Event{
		{ExternalID: "wa-tpl", Name: "wa.check", OccurredAt: &at, IdempotencyKey: "wa-check-1"},
		{ExternalID: "wa-plain", Name: "wa.check", OccurredAt: &at, IdempotencyKey: "wa-check-2"},
		{ExternalID: "wa-stale", Name: "wa.stale", OccurredAt: &at, IdempotencyKey: "wa-stale-1"}}); err != nil {
		t.Fatal(err)
	}
	msg := func(ext, step, channel string) (status, kind, code, reason string) {
		var row struct{ Status, Kind, Code, Reason string }
		err := e.d.GetContext(e.ctx, &row, `SELECT m.status, coalesce(m.error_kind, '') AS kind, coalesce(m.error_code, '') AS code,
			coalesce(m.reason, '') AS reason FROM messages m JOIN subscribers s ON s.id = m.subscriber_id
			WHERE s.external_id = $1 AND m.campaign_id LIKE 'wa-%' AND m.step_id = $2 AND m.channel = $3`, ext, step, channel)
		if err != nil {
			return "", "", "", ""
		}
		return row.Status, row.Kind, row.Code, row.Reason
	}
	defer func() {
		if t.Failed() {
			var rows []struct{ Ext, Step, Channel, Status, Kind, Code, Reason string }
			_ = e.d.SelectContext(e.ctx, &rows, `SELECT s.external_id AS ext, m.step_id AS step, m.channel, m.status,
				coalesce(m.error_kind, '') AS kind, coalesce(m.error_code, '') AS code, coalesce(m.reason, '') AS reason
				FROM messages m JOIN subscribers s ON s.id = m.subscriber_id ORDER BY m.id`)
			for _, r := range rows {
				t.Logf("%+v", r)
			}
			t.Logf("flow runs: %d", e.count(`SELECT count(*) FROM flow_runs WHERE campaign_id = 'wa-check'`))
		}
	}()
	e.waitFor("both asks delivered", func() bool {
		if _, err := e.sched.RunOnce(e.ctx); err != nil {
			t.Fatal(err)
		}
		s1, _, _, _ := msg("wa-tpl", "ask", "whatsapp")
		s2, _, _, _ := msg("wa-plain", "ask", "whatsapp")
		return (s1 == "delivered" || s1 == "read") && (s2 == "delivered" || s2 == "read")
	})

	if _, _, _, reason := msg("wa-tpl", "ask", "whatsapp"); reason != worker.ReasonWindowClosedRetried {
		t.Errorf("retried ask: reason %q, want %q", reason, worker.ReasonWindowClosedRetried)
	}
	var templated, free []whatsappfake.Sent
	for _, m := range e.f.WhatsApp.Sent() {
		switch {
		case m.To == tpl && m.Type == "template":
			templated = append(templated, m)
		case m.To == plain && m.Type == "text" && strings.Contains(m.Body["text"].(map[string]any)["body"].(string), "доставка завтра"):
			free = append(free, m)
		}
	}
	var waCheck []whatsappfake.Sent
	for _, m := range templated {
		if tp, _ := m.Body["template"].(map[string]any); tp["name"] == "wa_check_v1" {
			waCheck = append(waCheck, m)
		}
	}
	if len(waCheck) != 1 {
		t.Fatalf("the closed window got %d wa_check_v1 template sends, want 1", len(waCheck))
	}
	comps, _ := waCheck[0].Body["template"].(map[string]any)["components"].([]any)
	body, _ := comps[0].(map[string]any)
	params, _ := body["parameters"].([]any)
	if len(params) != 1 || params[0].(map[string]any)["text"] != "Вера" {
		t.Errorf("template parameters %v, want the subscriber's name", body)
	}
	if len(free) != 1 {
		t.Errorf("the open window got %d free-form asks, want 1 (the template goes only outside the window)", len(free))
	}

	// Осе WhatsApp refuses the free text, then the template, which it no
	// longer has (132001): the ask falls to the SMS rung at once.
	e.waitFor("the stale template's SMS rung", func() bool {
		s, _, _, _ := msg("wa-stale", "ask", "sms")
		return s != ""
	})
	if status, _, code, reason := msg("wa-stale", "ask", "whatsapp"); status != "failed" || code != "132001" || reason != worker.ReasonWindowClosedRetried {
		t.Errorf("the stale template's row: %s %s %q, want failed 132001 after the retry", status, code, reason)
	}

	// Глеб replies; by then WhatsApp has closed his window too. The answer
	// has no template: it falls to SMS at once.
	e.f.WhatsApp.CloseWindow(plain)
	if _, err := e.f.Do(e.ctx, channels.WhatsApp, "text", fakes.Action{User: plain, Text: "да"}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the answer on the SMS rung", func() bool {
		for _, m := range e.f.SMS.Sent() {
			if m.To == "+79990000912" && strings.Contains(m.Body, "курьер позвонит") {
				return true
			}
		}
		return false
	})
	if status, kind, code, _ := msg("wa-plain", "info", "whatsapp"); status != "failed" || kind != string(channels.WindowClosed) || code != "131047" {
		t.Errorf("the refused answer's row: %s %s %s, want failed window_closed 131047", status, kind, code)
	}
	if status, _, _, _ := msg("wa-plain", "info", "sms"); status == "" || status == "failed" {
		t.Errorf("the SMS rung's row: %q", status)
	}

	// After `nudge channels sync whatsapp`, the server's campaign API refuses
	// a version whose template reference the catalogue contradicts.
	env := e.f.Env()
	env["NUDGE_DATABASE_URL"] = e.a.Env.String("NUDGE_DATABASE_URL", "")
	if code, out, errOut := runCLI(t, env, "channels", "sync", "whatsapp"); code != 0 || !strings.Contains(out, "1 template (1 approved)") {
		t.Fatalf("sync: exit %d\n%s%s", code, out, errOut)
	}
	api := newAdminAPI(t, e)
	bad := strings.Replace(waCheckCampaign, `params: ["{{.Subscriber.Name}}"]`, `params: ["{{.Subscriber.Name}}", "x"]`, 1)
	if code, b := api.applyCampaign(bad); code/100 != 4 || !strings.Contains(string(b), "whatsapp-template") || !strings.Contains(string(b), "takes 1 body parameters, the variant gives 2") {
		t.Fatalf("API apply of a mismatched template: %d %s", code, b)
	}
}
