package cli

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nudge-engine/nudge/internal/config"
	"github.com/nudge-engine/nudge/internal/testenv"
)

// runClassify runs `nudge classify args...` through Main with stdin.
func runClassify(t *testing.T, env map[string]string, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errb bytes.Buffer
	a := &App{Stdout: &out, Stderr: &errb, Stdin: strings.NewReader(stdin), Env: &config.Env{Lookup: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}}}
	root := a.rootCmd()
	root.SetArgs(append([]string{"classify"}, args...))
	root.SetOut(&out)
	root.SetErr(&errb)
	code := 0
	if err := root.ExecuteContext(context.Background()); err != nil {
		code = 1
		if ex, ok := err.(*ExitError); ok {
			code = ex.Code
			errb.WriteString(ex.Msg)
		} else {
			errb.WriteString(err.Error())
		}
	}
	return code, out.String(), errb.String()
}

func TestClassifyCLI(t *testing.T) {
	code, out, errOut := runClassify(t, nil, "Нет, не понравилось\n\nnot bad at all\nКогда следующая доставка?\n")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	if len(rows) != 3 {
		t.Fatalf("want a row per non-blank line, got:\n%s", out)
	}
	for i, want := range []string{"negative", "positive", "neutral"} {
		cols := strings.Split(rows[i], "\t")
		if len(cols) != 5 || cols[0] != want || cols[2] != "sentiment" {
			t.Errorf("row %d: %q, want sentiment %s, confidence, rule, detail, reply", i, rows[i], want)
		}
	}
	if !strings.Contains(rows[1], `bad(-1) negated by "not"`) {
		t.Errorf("the evidence names the negation: %q", rows[1])
	}
}

func TestClassifyCLIEval(t *testing.T) {
	path := filepath.Join(t.TempDir(), "set.tsv")
	set := "positive\tОчень вкусно\nnegative\tНе понравилось совсем\nneutral\tКогда привезут?\npositive\tужасно\n"
	if err := os.WriteFile(path, []byte(set), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runClassify(t, nil, "", "--eval", path)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	for _, want := range []string{"accuracy\t0.7500\t3/4", "label\tpositive\tnegative\tneutral", "positive\t1\t1\t0", "negative\t0\t1\t0", "neutral\t0\t0\t1"} {
		if !strings.Contains(out, want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
	if err := os.WriteFile(path, []byte("good\tОчень вкусно\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, _, errOut := runClassify(t, nil, "", "--eval", path); code == 0 || !strings.Contains(errOut, `label "good" is not positive, negative or neutral`) {
		t.Errorf("bad label: exit %d %s", code, errOut)
	}
}

// The branch each reply takes comes from the applied campaign version in
// Postgres, through classify.Route: the function the reply router calls.
func TestClassifyCLICampaignStep(t *testing.T) {
	env := map[string]string{"NUDGE_DATABASE_URL": testenv.DBURL(t)}
	if code, out, errOut := runCLI(t, env, "campaign", "apply", "../../examples/growfood"); code != 0 {
		t.Fatalf("apply: %d %s %s", code, out, errOut)
	}
	replies := "Нет, не понравилось\nНе вкусно и дорого\nIt was not tasty\nNo complaints, everything was great\nНе могу не похвалить сырники\nКогда следующая доставка?\n"
	code, out, errOut := runClassify(t, env, replies, "--campaign", "weekly-feedback", "--step", "answer")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	rows := strings.Split(strings.TrimSpace(out), "\n")
	want := []string{"care", "care", "care", "menu", "menu", "handoff"}
	if len(rows) != len(want) {
		t.Fatalf("got:\n%s", out)
	}
	for i, w := range want {
		if got := strings.SplitN(rows[i], "\t", 2)[0]; got != w {
			t.Errorf("%q goes to %s, want %s", rows[i], got, w)
		}
	}
	for _, tc := range []struct {
		args []string
		msg  string
	}{
		{[]string{"--campaign", "weekly-feedback", "--step", "nope"}, `campaign weekly-feedback has no step "nope"`},
		{[]string{"--campaign", "weekly-feedback", "--step", "ask"}, `step "ask" of campaign weekly-feedback is not a wait_reply step`},
		{[]string{"--campaign", "no-such-campaign", "--step", "answer"}, "campaign no-such-campaign not found"},
		{[]string{"--campaign", "weekly-feedback"}, "--campaign and --step go together"},
	} {
		if code, _, errOut := runClassify(t, env, "да\n", tc.args...); code == 0 || !strings.Contains(errOut, tc.msg) {
			t.Errorf("%v: exit %d, %q; want %q", tc.args, code, errOut, tc.msg)
		}
	}
}
