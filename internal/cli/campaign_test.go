package cli

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/db"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// runCLI runs one nudge command in-process with env as its environment.
func runCLI(t *testing.T, env map[string]string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &App{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(""), Env: &config.Env{Lookup: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}}}
	root := a.rootCmd()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		var ex *ExitError
		if errors.As(err, &ex) {
			code = ex.Code
			errb.WriteString(ex.Msg)
		} else {
			code = 1
			errb.WriteString(err.Error())
		}
	}
	return code, out.String(), errb.String()
}

func TestCampaignLintCLI(t *testing.T) {
	dir := t.TempDir()
	src, err := os.ReadFile("../../examples/growfood/weekly-feedback.yaml")
	if err != nil {
		t.Fatal(err)
	}
	broken := strings.Replace(string(src), "on_timeout: reminder", "on_timeout: remindr", 1)
	broken = strings.Replace(broken, "    delay: 7d", "    dealy: 7d", 1)
	if err := os.WriteFile(filepath.Join(dir, "broken.yaml"), []byte(broken), 0o644); err != nil {
		t.Fatal(err)
	}
	// Keyword branches of opposite meaning that share a word: a warning only.
	warned := filepath.Join(t.TempDir(), "warned")
	if err := os.MkdirAll(warned, 0o755); err != nil {
		t.Fatal(err)
	}
	overlap := strings.Replace(string(src), `[нет, невкусно, плохо, "no", bad]`, `[нет, невкусно, не понравилось, плохо, "no", bad]`, 1)
	if overlap == string(src) {
		t.Fatal("the example's keyword branch changed: update the test")
	}
	if err := os.WriteFile(filepath.Join(warned, "overlap.yaml"), []byte(overlap), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		code int
		out  []string
	}{
		{"warnings only", []string{"campaign", "lint", warned}, 0, []string{
			`warning: keyword-overlap: keyword "не понравилось" (negative, goto care) shares "понравилось" with keyword "понравилось"`,
			"2 warnings in 1 file"}},
		// Without a database the WhatsApp template references are not
		// checked, and lint says so (channels_sync_test.go checks them).
		{"clean examples", []string{"campaign", "lint", "../../examples/growfood"}, 0, []string{
			"weekly-renewal.yaml:77:17: warning: whatsapp-template: 2 WhatsApp template references not checked: NUDGE_DATABASE_URL is not set",
			"3 warnings in 3 files"}},
		{"broken copy", []string{"campaign", "lint", dir}, 1, []string{
			filepath.Join(dir, "broken.yaml") + ":23:5: unknown-field: unknown field \"dealy\" in trigger.event\n        dealy: 7d\n        ^\n    hint: did you mean \"delay\"?",
			filepath.Join(dir, "broken.yaml") + ":46:19: unknown-step: no step with id \"remindr\"",
		}},
		{"no such file", []string{"campaign", "lint", filepath.Join(dir, "nope.yaml")}, 2, nil},
		{"no args", []string{"campaign", "lint"}, 2, nil},
		{"rules", []string{"campaign", "lint", "--rules"}, 0, []string{"cycle-without-wait", "window-needs-template"}},
		{"json", []string{"campaign", "lint", "--json", dir}, 1, []string{`"line":46,"col":19,"rule":"unknown-step"`}},
		{"json clean", []string{"campaign", "lint", "--json", "../../examples/growfood"}, 0, []string{`{"files":3,"problems":[{`, `"rule":"whatsapp-template"`, `"severity":"warning"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, nil, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tt.code, out, errOut)
			}
			for _, w := range tt.out {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

// copyExample copies examples/growfood/name into a fresh temporary
// directory and returns the copy's path and the example's text.
func copyExample(t *testing.T, name string) (path string, src []byte) {
	t.Helper()
	src, err := os.ReadFile(filepath.Join("../../examples/growfood", name))
	if err != nil {
		t.Fatal(err)
	}
	path = filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, src, 0o644); err != nil {
		t.Fatal(err)
	}
	return path, src
}

func TestCampaignApplyShowDiffArchive(t *testing.T) {
	env := map[string]string{"NUDGE_DATABASE_URL": testenv.DBURL(t)}
	path, src := copyExample(t, "weekly-renewal.yaml")
	step := func(want int, wantOut string, args ...string) string {
		t.Helper()
		code, out, errOut := runCLI(t, env, args...)
		if code != want || !strings.Contains(out, wantOut) {
			t.Fatalf("%v: exit %d (want %d)\nstdout:\n%s\nstderr:\n%s\nwant output containing %q", args, code, want, out, errOut, wantOut)
		}
		return out
	}
	step(0, "weekly-renewal v1", "campaign", "apply", path)
	step(0, "unchanged", "campaign", "apply", path)
	changed := strings.Replace(string(src), "within: 3d", "within: 4d", 1)
	if err := os.WriteFile(path, []byte(changed), 0o644); err != nil {
		t.Fatal(err)
	}
	step(0, "weekly-renewal v2", "campaign", "apply", path)
	step(0, "-      within: 3d\n+      within: 4d", "campaign", "diff", "weekly-renewal", "1", "2")
	step(0, "within: 3d", "campaign", "show", "weekly-renewal", "--version", "1")
	step(0, "weekly-renewal.yaml by cli", "campaign", "show", "weekly-renewal") // applied from the command line
	step(0, "v2", "campaign", "list")
	step(0, "archived", "campaign", "archive", "weekly-renewal")
	step(1, "", "campaign", "archive", "nope")
	// A broken file is refused and nothing is applied.
	if err := os.WriteFile(path, []byte(strings.Replace(changed, "FRI", "FRY", 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	step(1, "invalid-cron", "campaign", "apply", path)
	step(0, "archived", "campaign", "list")
}

func TestCampaignSchemaCLI(t *testing.T) {
	code, out, _ := runCLI(t, nil, "campaign", "schema")
	if code != 0 || !strings.Contains(out, `"$schema": "https://json-schema.org/draft/2020-12/schema"`) {
		t.Fatalf("schema: %d %s", code, out[:min(len(out), 200)])
	}
}

func TestCampaignPreviewCLI(t *testing.T) {
	url := testenv.DBURL(t)
	env := map[string]string{"NUDGE_DATABASE_URL": url}
	if code, out, errOut := runCLI(t, env, "campaign", "apply", "../../examples/growfood"); code != 0 {
		t.Fatalf("apply: %d %s %s", code, out, errOut)
	}
	d, err := db.Open(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var id int64
	for _, s := range []struct{ ext, status string }{{"gf-1", "active"}, {"gf-paused", "paused"}} {
		if err := d.Get(&id, `INSERT INTO subscribers (external_id, name, locale, attributes) VALUES ($1, 'Анна', 'ru', jsonb_build_object('subscription_status', $2::text)) RETURNING id`, s.ext, s.status); err != nil {
			t.Fatal(err)
		}
		d.MustExec(`INSERT INTO channel_identities (subscriber_id, channel, address) VALUES ($1, 'telegram', $2)`, id, s.ext)
		d.MustExec(`INSERT INTO consent_events (subscriber_id, channel, topic, granted, source) VALUES ($1, '*', 'service', true, 'widget')`, id)
	}

	tests := []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"campaign", "preview", "weekly-feedback", "--subscriber", "gf-1", "--at", "2026-11-20T12:00:00Z"}, 0,
			[]string{"would send now on telegram", "Анна, прошла неделя с доставки 🥗", "[👍 Понравилось] (reply \"like\")", "[👎 Не очень] (reply \"dislike\")"}},
		{[]string{"campaign", "preview", "weekly-feedback", "--subscriber", "gf-1", "--at", "2026-11-20T20:00:00Z"}, 0,
			[]string{"would NOT send now", "quiet hours in the subscriber's local time until Sat 2026-11-21 09:00 MSK"}},
		{[]string{"campaign", "preview", "weekly-renewal", "--subscriber", "gf-1"}, 0, []string{"would NOT send now", "no consent"}},
		// Outside the audience: the gate alone would send, the scheduler never would.
		{[]string{"campaign", "preview", "weekly-feedback", "--subscriber", "gf-paused", "--at", "2026-11-20T12:00:00Z"}, 0,
			[]string{"would NOT send now", `where[0] subscription_status eq "active" does not hold (subscription_status is "paused")`,
				"audience  yes consent: service consent on one of telegram, viber, whatsapp", "audience  NO  where[0]"}},
		// A render error is an error: printed, and exit 1.
		{[]string{"campaign", "preview", "order-receipt", "--subscriber", "gf-1", "--at", "2026-11-20T12:00:00Z"}, 1,
			[]string{"would NOT send now", "render error on telegram", `"order_id"`}},
		{[]string{"campaign", "preview", "order-receipt", "--subscriber", "gf-1", "--at", "2026-11-20T12:00:00Z", "--payload",
			`{"order_id": "A-1", "paid_at": "2026-11-20T12:00:00Z", "total": 10, "currency": "RUB", "items": [], "receipt_url": "https://x.example/r", "fiscal_sign": "1"}`}, 0,
			[]string{"would send now on telegram", "A-1"}},
		{[]string{"campaign", "preview", "weekly-feedback", "--subscriber", "nobody"}, 1, nil},
		{[]string{"campaign", "preview", "weekly-feedback"}, 2, nil},
	}
	for _, tt := range tests {
		code, out, errOut := runCLI(t, env, tt.args...)
		if code != tt.code {
			t.Errorf("%v: exit %d want %d\n%s\n%s", tt.args, code, tt.code, out, errOut)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(out, w) {
				t.Errorf("%v: output lacks %q:\n%s", tt.args, w, out)
			}
		}
	}
}
