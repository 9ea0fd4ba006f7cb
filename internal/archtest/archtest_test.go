package archtest_test

import (
	"go/token"
	"slices"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/internal/archtest"
)

// rules is who writes which table. A table has one owner, the package that
// holds its rules (docs/architecture.md, "One home for each rule"); where
// two packages write a table by design, both are listed and the comment
// says why.
var rules = archtest.Rules{
	Owners: map[string][]string{
		"subscribers":        {"subscribers"},
		"subscriber_events":  {"subscribers"},
		"import_rows":        {"subscribers"}, // the import's temporary tables
		"import_ids":         {"subscribers"},
		"channel_identities": {"subscribers", "consent"}, // consent binds an identity on opt-in and blocks it (Block), as part of consent's state

		"consent_events":   {"consent"},
		"consent_codes":    {"consent"},
		"consent_jwt_uses": {"consent"},
		"consent_current":  {"consent"}, // kept by the ledger's trigger (migration 00019); no Go writer

		"campaigns":         {"campaigns"},
		"campaign_versions": {"campaigns"},
		"segments":          {"campaigns"},
		"segment_versions":  {"campaigns"},

		// The scheduler creates runs (cron, events, the trigger API); the
		// worker advances them. Both are the flow's lifecycle by design.
		"flow_runs":             {"scheduler", "worker"},
		"scheduler_cursors":     {"scheduler"},
		"scheduler_occurrences": {"scheduler"},
		"api_idempotency":       {"scheduler"}, // idempotency keys of the trigger API the scheduler serves
		"broadcasts":            {"scheduler"}, // one-off sends: the scheduler creates their runs
		"broadcast_zones":       {"scheduler"},

		"messages":          {"worker"},
		"message_parts":     {"worker"},                 // parts of a multi-part send already delivered
		"subscriber_rollup": {"subscribers", "consent"}, // per-subscriber segment facts, written by the owners' triggers

		"conversations":      {"inbox"},
		"conversation_items": {"inbox"},
		"handoffs":           {"inbox"},
		"replies":            {"inbox"},
		"reply_media":        {"inbox"},
		"inbox_shifts":       {"inbox"},

		"inbound_events":     {"inbound"},
		"users":              {"users"},
		"sessions":           {"users"},
		"login_failures":     {"users"},
		"api_keys":           {"apikeys"},
		"audit_log":          {"audit"},
		"webhook_endpoints":  {"hooks"},
		"webhook_events":     {"hooks"},
		"webhook_deliveries": {"hooks"},

		"invoices":                {"payments"},                    // Telegram invoices and their payments
		"media_uploads":           {"channels/uploads"},            // the provider upload cache (VK photos, docs)
		"whatsapp_templates":      {"channels/whatsapp/catalogue"}, // the synced template catalogue
		"whatsapp_template_syncs": {"channels/whatsapp/catalogue"},
		"links":                   {"links"},            // tracked links of campaign messages and their clicks
		"link_secrets":            {"links"},            // the generated signing key when NUDGE_LINK_SECRET is unset
		"sandbox_sends":           {"channels/sandbox"}, // the sandbox provider's own record of what it was sent
	},
	// Known violations, each with what removes it. The lead empties this list
	// as the branches merge; the test fails on an entry that is no longer
	// needed, so it cannot go stale.
	Pending: map[string]map[string]string{
		"subscribers": {
			"consent": "follow-up, no branch yet: the JWT customer upsert and the anonymous subscriber of an opt-in should call subscribers",
			"worker":  "follow-up, no branch yet: a flow step's set_attributes should call subscribers",
		},
		"channel_identities": {"inbox": "follow-up: the router's one-statement sender lookup also opens the 24h window (last_inbound_at); a subscribers-owned SQL fragment would keep it one statement"},
		"subscriber_events":  {"consent": "follow-up, no branch yet: the opt-in start event (also the webhook dedupe record) should be written by subscribers"},
	},
}

// sendCallers are the packages that may call a provider's Send (method Send
// with ctx and a message), besides the adapters under channels/ themselves.
var sendCallers = []string{"worker"}

// pendingSend are packages that still call Send, and what removes them.
var pendingSend = map[string]string{}

func TestTableOwners(t *testing.T) {
	writes, _, err := archtest.ScanModule("../..")
	if err != nil {
		t.Fatal(err)
	}
	if len(writes) < 50 {
		t.Fatalf("found only %d writes: is the scanner reading the module?", len(writes))
	}
	for _, v := range rules.Check(writes) {
		t.Error(v)
	}
	byTable := map[string][]string{}
	for _, w := range writes {
		if !slices.Contains(byTable[w.Table], w.Package) {
			byTable[w.Table] = append(byTable[w.Table], w.Package)
		}
	}
	t.Logf("packages writing consent_events: %v", byTable["consent_events"])
}

// Nothing deletes subscribers: erasure pseudonymises them. flow_runs
// (00030), channel_identities and subscriber_rollup (00032) hold a
// subscriber id without a foreign key on that promise, so a statement
// that deleted subscribers would strand their rows.
func TestNothingDeletesSubscribers(t *testing.T) {
	writes, _, err := archtest.ScanModule("../..")
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range writes {
		if w.Table == "subscribers" && (w.Verb == "delete" || w.Verb == "truncate") {
			t.Errorf("%s: %s %s subscribers: erasure pseudonymises instead (migrations 00030, 00032 rely on it)", w.Pos, w.Package, w.Verb)
		}
	}
	if bad := archtest.SQLWrites("DELETE FROM subscribers WHERE id = $1"); len(bad) != 1 || bad[0] != [2]string{"delete", "subscribers"} {
		t.Fatalf("scanner does not see a delete of subscribers: %v", bad)
	}
}

func TestSendCallers(t *testing.T) {
	_, calls, err := archtest.ScanModule("../..")
	if err != nil {
		t.Fatal(err)
	}
	var places []string
	callers := map[string]bool{}
	for _, c := range calls {
		if strings.HasPrefix(c.Package, "channels/") || c.Package == "channels" {
			continue
		}
		places = append(places, c.Pos)
		callers[c.Package] = true
		if !slices.Contains(sendCallers, c.Package) && pendingSend[c.Package] == "" {
			t.Errorf("%s: %s calls a provider's Send: only %v may (the outbox applies rate limits, metrics, policy and idempotency)", c.Pos, c.Package, sendCallers)
		}
	}
	for pkg, why := range pendingSend {
		if !callers[pkg] {
			t.Errorf("stale pending Send caller: %s no longer calls Send (%s): remove it", pkg, why)
		}
	}
	// Inside the worker, too, one place calls: Engine.call, which times
	// and counts every call the same way.
	if len(places) > 1 {
		t.Errorf("%d places call a provider's Send, want 1 (worker/call.go): %v", len(places), places)
	}
	t.Logf("places calling a provider's Send: %d (%d packages): %v", len(places), len(callers), places)
}

// The scanner on snippets: each write form is found, the look-alikes are
// not, and Check reports a new violation, a table without owner and a stale
// pending entry.
func TestScanner(t *testing.T) {
	src := "package x\n" +
		"import \"github.com/lib/pq\"\n" +
		"const a = `INSERT INTO consent_events (subscriber_id) VALUES ($1)`\n" +
		"const b = `UPDATE messages m SET status = 'sent' FROM u WHERE m.id = u.id`\n" +
		"const c = `DELETE FROM handoffs WHERE id = $1`\n" +
		"const d = `TRUNCATE TABLE replies`\n" +
		"const e = `COPY flow_runs (id) FROM STDIN`\n" +
		"var f = pq.CopyIn(\"subscribers\", \"id\")\n" +
		"const g = `INSERT INTO users (id) VALUES (1) ON CONFLICT (id) DO UPDATE SET name = 'x'`\n" +
		"const h = `SELECT id FROM messages FOR UPDATE SKIP LOCKED`\n" +
		"const i = `SELECT 1 -- INSERT INTO campaigns\n /* UPDATE campaigns SET x = 1 */`\n" +
		"const j = \"update\\n  conversations\\n  set state = 'open'\"\n" +
		"const k = `WITH s AS (INSERT INTO mystery (id) VALUES (1) RETURNING id) SELECT id FROM s`\n" +
		"func send() { p.Send(ctx, m); p.Send(m) }\n"
	writes, calls, err := archtest.ScanFile(token.NewFileSet(), "worker", "x.go", src)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, w := range writes {
		got = append(got, w.Verb+" "+w.Table)
	}
	want := []string{"insert consent_events", "update messages", "delete handoffs", "truncate replies", "copy flow_runs",
		"copy subscribers", "insert users", "update conversations", "insert mystery"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("writes\n got %v\nwant %v", got, want)
	}
	if len(calls) != 1 || calls[0].Pos != "x.go:15" {
		t.Errorf("Send calls %v, want one at x.go:15", calls)
	}

	r := archtest.Rules{
		Owners: map[string][]string{
			"consent_events": {"consent"}, "messages": {"worker"}, "handoffs": {"inbox"}, "replies": {"inbox"},
			"flow_runs": {"scheduler", "worker"}, "subscribers": {"subscribers"}, "users": {"users"},
			"conversations": {"inbox"}, "campaigns": {"campaigns"},
		},
		Pending: map[string]map[string]string{
			"handoffs": {"worker": "outbox"},
			"replies":  {"inbox": "long gone"},
		},
	}
	msgs := r.Check(writes)
	for _, want := range []string{
		"x.go:3: worker writes consent_events (insert), which consent owns",
		"x.go:6: worker writes replies (truncate), which inbox owns",
		"x.go:8: worker writes subscribers (copy), which subscribers owns",
		"x.go:9: worker writes users (insert), which users owns",
		"x.go:13: worker writes conversations (update), which inbox owns",
		"x.go:14: worker writes mystery (insert), a table with no owner",
		"stale pending entry: inbox no longer writes replies",
	} {
		if !slices.ContainsFunc(msgs, func(m string) bool { return strings.HasPrefix(m, want) }) {
			t.Errorf("Check misses %q in\n%s", want, strings.Join(msgs, "\n"))
		}
	}
	if len(msgs) != 7 {
		t.Errorf("Check returned %d messages, want 7 (messages, handoffs pending and flow_runs are allowed):\n%s", len(msgs), strings.Join(msgs, "\n"))
	}
}
