package cli

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nudge-engine/nudge/analytics"
	"github.com/nudge-engine/nudge/demo"
	"github.com/nudge-engine/nudge/inbox"
	"github.com/nudge-engine/nudge/users"
)

// pgDump returns a data-only dump of the database at url.
func pgDump(t *testing.T, url string) string {
	t.Helper()
	bins, _ := filepath.Glob("/usr/lib/postgresql/*/bin/pg_dump")
	bin := "pg_dump"
	if len(bins) > 0 {
		bin = bins[len(bins)-1]
	}
	out, err := exec.Command(bin, "--data-only", "--no-owner", url).Output()
	if err != nil {
		t.Fatalf("pg_dump: %v", err)
	}
	return string(out)
}

// figures are every dashboard figure of the analytics package, as JSON.
func figures(t *testing.T, e *e2e) string {
	t.Helper()
	a := analytics.New(e.d)
	cs, err := a.Campaigns(e.ctx)
	if err != nil {
		t.Fatal(err)
	}
	all := map[string]any{"campaigns": cs}
	for _, c := range cs {
		f, err := a.Funnel(e.ctx, c.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		r, err := a.Reactions(e.ctx, c.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		ch, err := a.Channels(e.ctx, c.ID, "")
		if err != nil {
			t.Fatal(err)
		}
		all[c.ID] = []any{f, r, ch}
	}
	src, err := a.Sources(e.ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	all["sources"] = src
	b, _ := json.Marshal(all)
	return string(b)
}

// TestEraseLeavesNoTrace populates the engine through its production paths
// (opt-in by deep link, the feedback question, a complaint that hands off to
// a manager, the manager's note and reply), erases one customer with `nudge
// subscribers erase`, and checks that a full pg_dump holds nothing of them
// while the dashboard figures stay the same. A second customer, erased over
// the API before their question is due, is never written to.
func TestEraseLeavesNoTrace(t *testing.T) {
	e := newE2EAt(t, 1000)
	const (
		name     = "Zebulonia Quixotova"
		phone    = "+79995550123"
		email    = "zebulonia.marker@example.com"
		chat     = 98765012345
		lateChat = 98765012399
		words    = "курица была сухая MARKERWORDSq7"
		note     = "she said MARKERWORDSq7, refund"
		answer   = "MARKERMANAGERz3, we will replace it"
	)
	mgr, err := users.NewStore(e.d, nil).Add(e.ctx, "care@growfood.example", users.Manager, "care-manager-pass", nil)
	if err != nil {
		t.Fatal(err)
	}
	e.seed([]demo.Person{
		{Ext: "privacy-marker", Name: name, Locale: "ru", TZ: "Europe/Moscow", Channel: "telegram", Chat: chat, Persona: "silent",
			Phone: phone, Email: email},
		{Ext: "privacy-control", Name: "Анна", Locale: "ru", TZ: "Europe/Moscow", Channel: "telegram", Chat: 98765012377, Persona: "silent",
			Phone: "+79995550177", Email: "control@example.com"},
		{Ext: "privacy-late", Name: "Lateria Marker", Locale: "ru", TZ: "Europe/Moscow", Channel: "telegram", Chat: lateChat, Persona: "silent",
			Phone: "+79995550199", Email: "late@example.com"},
	})
	// The late customer is erased over the API before their question is due.
	_, key, err := e.s.keys.Create(e.ctx, "shop", users.Admin)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("DELETE", e.base+"/v1/subscribers/privacy-late", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err := http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusNoContent {
		t.Fatalf("DELETE: %v %v", res, err)
	}
	res.Body.Close()
	lateSent := len(e.f.Telegram.SentTo(lateChat))

	e.waitFor("the feedback question", func() bool { return len(e.f.Telegram.SentTo(chat)) > 0 })
	if code, err := e.f.Telegram.Post(e.ctx, e.f.Telegram.TextUpdate(chat, words)); err != nil || code != 200 {
		t.Fatalf("webhook: %d %v", code, err)
	}
	var conv int64
	e.waitFor("the complaint in the inbox", func() bool {
		return e.d.GetContext(e.ctx, &conv, `SELECT c.id FROM conversations c JOIN subscribers s ON s.id = c.subscriber_id
			WHERE s.external_id = 'privacy-marker'`) == nil
	})
	if err := e.s.inbox.Note(e.ctx, conv, mgr.ID, note); err != nil {
		t.Fatal(err)
	}
	if err := e.s.inbox.Reply(e.ctx, conv, mgr.ID, inbox.ReplyRequest{Text: answer, RequestID: "r1"}); err != nil {
		t.Fatal(err)
	}
	e.waitFor("the manager's answer in Telegram", func() bool {
		for _, m := range e.f.Telegram.SentTo(chat) {
			if strings.Contains(m.Text, "MARKERMANAGERz3") {
				return true
			}
		}
		return false
	})
	e.waitFor("the control customer's question", func() bool { return len(e.f.Telegram.SentTo(98765012377)) > 0 })
	time.Sleep(3 * time.Second) // past the late customer's due time (about 106 flow minutes)
	e.stop()
	if n := len(e.f.Telegram.SentTo(lateChat)); n != lateSent {
		t.Errorf("the erased customer got %d more Telegram messages", n-lateSent)
	}
	if n := e.count(`SELECT count(*) FROM flow_runs r JOIN subscribers s ON s.id = r.subscriber_id
		WHERE s.erased_at IS NOT NULL AND r.state IN ('active', 'waiting', 'paused')`); n != 0 {
		t.Errorf("%d runs of erased subscribers still in flight", n)
	}

	url, _ := e.a.Env.Lookup("NUDGE_DATABASE_URL")
	before := pgDump(t, url)
	markers := []string{name, phone, strings.TrimPrefix(phone, "+"), email, "98765012345", "MARKERWORDSq7", "MARKERMANAGERz3",
		"privacy-marker"}
	for _, m := range markers {
		if !strings.Contains(before, m) {
			t.Fatalf("the populated dump lacks %q: the test would prove nothing", m)
		}
	}
	figs := figures(t, e)

	// Access: the export over HTTP and by the CLI holds every section.
	req, _ = http.NewRequest("GET", e.base+"/v1/subscribers/privacy-marker/export", nil)
	req.Header.Set("Authorization", "Bearer "+key)
	res, err = http.DefaultClient.Do(req)
	if err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("GET export: %v %v", res, err)
	}
	httpExport, _ := io.ReadAll(res.Body)
	res.Body.Close()
	t.Setenv("NUDGE_DATABASE_URL", url)
	code, cliExport, stderr := runMain(t, "subscribers", "export", "privacy-marker")
	if code != 0 {
		t.Fatalf("export: %d %s", code, stderr)
	}
	for _, export := range []string{string(httpExport), cliExport} {
		var x struct {
			Subscriber struct {
				Name       string
				Identities []struct{ Address string }
			}
			Consent struct{ History, Codes []map[string]any }
			Parts   struct {
				Messages struct {
					Messages []struct{ Content json.RawMessage }
				}
				Inbox   struct{ Conversations, Replies []map[string]any }
				Inbound []map[string]any `json:"inbound_events"`
			}
		}
		if err := json.Unmarshal([]byte(export), &x); err != nil {
			t.Fatalf("export: %v\n%s", err, export)
		}
		if x.Subscriber.Name != name || len(x.Subscriber.Identities) < 3 || len(x.Consent.History) == 0 ||
			len(x.Consent.Codes) == 0 || len(x.Parts.Messages.Messages) < 2 || len(x.Parts.Inbox.Conversations) != 1 ||
			len(x.Parts.Inbox.Replies) == 0 || len(x.Parts.Inbound) == 0 {
			t.Errorf("export lacks a section: %+v", x)
		}
		for _, m := range []string{"MARKERWORDSq7", "MARKERMANAGERz3", note, email, `"proof"`} {
			if !strings.Contains(export, m) {
				t.Errorf("export lacks %q", m)
			}
		}
	}

	// Until erasure the audit log names the customer: the two exports
	// (by the API key, by the CLI), the manager's note and reply.
	var subID int64
	if err := e.d.GetContext(e.ctx, &subID, `SELECT id FROM subscribers WHERE external_id = 'privacy-marker'`); err != nil {
		t.Fatal(err)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE subject = 'privacy-marker' AND action = 'subscriber.export'
		AND actor IN ('key:shop', 'cli')`); n != 2 {
		t.Fatalf("%d audit rows of the exports, want 2", n)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE subscriber_id = $1 AND action IN ('inbox.note', 'inbox.reply')`, subID); n != 2 {
		t.Fatalf("%d audit rows of the note and the reply, want 2", n)
	}
	code, out, stderr := runMain(t, "subscribers", "erase", "privacy-marker")
	if code != 0 || !strings.Contains(out, "erased; external_id is now erased:") {
		t.Fatalf("erase: %d %s %s", code, out, stderr)
	}
	pseudonym := "erased:" + strings.Fields(strings.SplitN(out, "erased:", 2)[1])[0]
	// Who did what stays, about the pseudonym, with the erasure itself.
	if n := e.count(`SELECT count(*) FROM audit_log WHERE subscriber_id = $1 AND subject <> $2`, subID, pseudonym); n != 0 {
		t.Errorf("%d audit rows about the erased customer not rewritten to %s", n, pseudonym)
	}
	if n := e.count(`SELECT count(*) FROM audit_log WHERE subject = $1 AND action IN ('subscriber.export', 'inbox.note', 'inbox.reply', 'subscriber.erase')`, pseudonym); n != 5 {
		t.Errorf("%d audit rows about %s, want 5 (2 exports, note, reply, erase)", n, pseudonym)
	}
	after := pgDump(t, url)
	// The late customer was erased over the API before the first dump.
	for _, m := range append(markers, "Lateria", "late@example.com", "98765012399", "79995550199", "privacy-late") {
		if i := strings.Index(after, m); i >= 0 {
			t.Errorf("the dump still holds %q: …%s…", m, after[max(0, i-200):min(len(after), i+100)])
		}
	}
	if got := figures(t, e); got != figs {
		t.Errorf("figures changed by erasure:\nbefore %s\nafter  %s", figs, got)
	}
	if !strings.Contains(after, "Анна") || !strings.Contains(after, "control@example.com") {
		t.Error("the other customer's data went too")
	}

	// The same phone imported again is a new subscriber.
	csv := filepath.Join(t.TempDir(), "again.csv")
	os.WriteFile(csv, []byte("external_id,name,phone\nprivacy-marker,"+name+","+phone+"\n"), 0o644)
	if code, out, stderr := runMain(t, "subscribers", "import", csv); code != 0 {
		t.Fatalf("import: %s %s", out, stderr)
	}
	if n := e.count(`SELECT count(DISTINCT s.id) FROM subscribers s JOIN channel_identities i ON i.subscriber_id = s.id
		WHERE i.address = $1 AND s.erased_at IS NULL AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.subscriber_id = s.id)`, phone); n != 1 {
		t.Errorf("re-import: %d fresh subscribers with the phone, want 1", n)
	}
	if code, _, _ := runMain(t, "subscribers", "export", "privacy-late"); code == 0 {
		t.Error("export of an erased subscriber succeeded")
	}
}
