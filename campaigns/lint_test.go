package campaigns

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// base is a minimal clean campaign (testdata/minimal.yaml, which the
// channelcheck tests edit too); each case edits it.
var base = readFixture("testdata/minimal.yaml")

// readFixture reads a test file when the package's tests start; a missing
// one stops them all before any runs.
func readFixture(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		panic(err)
	}
	return string(b)
}

func lintString(t *testing.T, src string) []LintError {
	t.Helper()
	f, _ := Parse("c.yaml", []byte(src))
	if f == nil {
		t.Fatal("Parse returned nil file")
	}
	return Lint([]*File{f})
}

// edited applies edits to src in order, each to its first match; an edit
// whose text src lacks fails t.
func edited(t *testing.T, src string, edits [][2]string) string {
	t.Helper()
	for _, e := range edits {
		if !strings.Contains(src, e[0]) {
			t.Fatalf("edit %q does not apply", e[0])
		}
		src = strings.Replace(src, e[0], e[1], 1)
	}
	return src
}

// wantLint lints src and checks that its problems, as short gives them,
// are want.
func wantLint(t *testing.T, src string, want []string) {
	t.Helper()
	if got := short(lintString(t, src)); !slices.Equal(got, want) {
		t.Errorf("lint:\n got %q\nwant %q\nsource:\n%s", got, want, src)
	}
}

func short(errs []LintError) []string {
	var out []string
	for _, e := range errs {
		out = append(out, fmt.Sprintf("%s:%d:%d: %s", e.File, e.Line, e.Col, e.Rule))
	}
	return out
}

func TestBaseIsClean(t *testing.T) {
	if errs := lintString(t, base); len(errs) > 0 {
		t.Fatalf("base campaign has problems: %v", errs)
	}
}

func TestLintRules(t *testing.T) {
	tests := []struct {
		rule string
		edit [][2]string // replacements applied to base, in order
		src  string      // full source instead of base
		want []string
	}{
		{rule: "yaml-syntax", src: "id: c\nname: [oops\n", want: []string{"c.yaml:2:7: yaml-syntax"}},
		{rule: "unknown-field", edit: [][2]string{{"  channels:", "  chanels:"}},
			want: []string{"c.yaml:6:1: required-field", "c.yaml:7:3: unknown-field"}},
		{rule: "duplicate-key", edit: [][2]string{{"name: C\n", "name: C\nname: D\n"}}, want: []string{"c.yaml:3:1: duplicate-key"}},
		{rule: "required-field", edit: [][2]string{{"name: C\n", ""}}, want: []string{"c.yaml:1:1: required-field"}},
		{rule: "invalid-value", edit: [][2]string{{"topic: service", "topic: servise"}}, want: []string{"c.yaml:3:8: invalid-value"}},
		{rule: "invalid-value on_unknown", edit: [][2]string{{"  channels: [telegram]", "  channels: [telegram]\n  on_unknown: retry"}}, want: []string{"c.yaml:8:15: invalid-value"}},
		{rule: "invalid-value utm", edit: [][2]string{{"steps:\n", "links:\n  utm: {source: \"a b\", medium: tg}\nsteps:\n"}}, want: []string{"c.yaml:9:17: invalid-value"}},
		{rule: "unused-setting links", edit: [][2]string{{"steps:\n", "links:\n  track: false\n  utm: {source: x}\nsteps:\n"}}, want: []string{"c.yaml:10:8: unused-setting"}},
		{rule: "links tracked clean", edit: [][2]string{{"steps:\n", "links:\n  attribution: false\n  utm: {campaign: spring}\nsteps:\n"}}},
		{rule: "invalid-value type", edit: [][2]string{{"  channels: [telegram]", "  channels: [telegram]\n  holdout_percent: lots"}}, want: []string{"c.yaml:8:20: invalid-value"}},
		{rule: "duplicate-id", edit: [][2]string{{"    send: {template: t}\n", "    send: {template: t}\n  - id: s\n    end: {}\n"}},
			want: []string{"c.yaml:11:9: duplicate-id"}},
		{rule: "unknown-step", edit: [][2]string{{"    send: {template: t}\n", "    send: {template: t}\n    next: nowhere\n"}},
			want: []string{"c.yaml:11:11: unknown-step"}},
		{rule: "unreachable-step", edit: [][2]string{{"    send: {template: t}\n", "    send: {template: t}\n    next: z\n  - id: y\n    end: {}\n  - id: z\n    end: {}\n"}},
			want: []string{"c.yaml:12:9: unreachable-step"}},
		{rule: "cycle-without-wait", edit: [][2]string{{"    send: {template: t}\n", "    send: {template: t}\n  - id: again\n    set: {attributes: {a: 1}}\n    next: s\n"}},
			want: []string{"c.yaml:13:11: cycle-without-wait"}},
		{rule: "unknown-button", edit: [][2]string{{"      ru: {text: hi}", "      ru: {text: hi, buttons: [{id: like, text: Yes}]}"}, {"    send: {template: t}\n", "    send: {template: t}\n  - id: r\n    wait_reply: {timeout: 1d, branches: [{button: lke, goto: s}]}\n"}},
			want: []string{"c.yaml:12:51: unknown-button"}},
		{rule: "missing-template", edit: [][2]string{{"{template: t}", "{template: x}"}}, want: []string{"c.yaml:10:22: missing-template"}},
		{rule: "missing-variant", edit: [][2]string{{"[telegram]", "[telegram, viber]"}}, want: []string{"c.yaml:12:3: missing-variant"}},
		{rule: "missing-locale", edit: [][2]string{{"      ru: {text: hi}\n", "      ru: {text: hi}\n  u:\n    telegram:\n      en: {text: hi}\n"}},
			want: []string{"c.yaml:13:5: missing-locale", "c.yaml:16:5: missing-locale"}},
		{rule: "missing-locale ru/en", edit: [][2]string{{"      ru: {text: hi}", "      de: {text: hallo}"}}, want: []string{"c.yaml:13:5: missing-locale"}},
		{rule: "invalid-cron", edit: [][2]string{{"  api: {}", "  schedule: {cron: \"0 18 * * FRY\", timezone: subscriber}"}}, want: []string{"c.yaml:5:20: invalid-cron"}},
		{rule: "invalid-duration", edit: [][2]string{{"  api: {}", "  event: {name: order.delivered, delay: 7days}"}}, want: []string{"c.yaml:5:41: invalid-duration"}},
		{rule: "invalid-timezone", edit: [][2]string{{"  api: {}", "  schedule: {cron: \"@daily\", timezone: Mars/Olympus}"}}, want: []string{"c.yaml:5:40: invalid-timezone"}},
		{rule: "invalid-time quiet hours", edit: [][2]string{{"  channels: [telegram]", "  channels: [telegram]\n  quiet_hours: {start: \"25:00\", end: \"09:00\"}"}},
			want: []string{"c.yaml:8:24: invalid-time"}},
		{rule: "invalid-time wait until", edit: [][2]string{{"    send: {template: t}\n", "    send: {template: t}\n  - id: w\n    wait: {until: \"friday 6pm\"}\n"}},
			want: []string{"c.yaml:12:19: invalid-time"}},
		{rule: "marketing-without-consent", edit: [][2]string{{"topic: service\n", "topic: marketing\naudience:\n  consent: service\n"}},
			want: []string{"c.yaml:5:12: marketing-without-consent"}},
		{rule: "window-needs-template", edit: [][2]string{{"[telegram]", "[whatsapp]"}, {"    telegram:\n", "    whatsapp:\n"}},
			want: []string{"c.yaml:14:7: window-needs-template"}},
		{rule: "window-needs-template warns for instagram", edit: [][2]string{{"[telegram]", "[instagram]"}, {"    telegram:\n", "    instagram:\n"}},
			want: []string{"c.yaml:14:7: window-needs-template"}},
		{rule: "window-needs-template after a reply then a goal", src: `id: c
name: C
topic: service
trigger: {api: {}}
settings: {channels: [whatsapp]}
steps:
  - {id: ask, send: {template: ask}}
  - id: answer
    wait_reply: {timeout: 1d, branches: [{button: "yes", goto: thanks}]}
  - {id: thanks, send: {template: free}}
  - {id: goal, goal: {event: x, within: 3d}}
  - {id: later, send: {template: free}}
templates:
  ask:
    whatsapp:
      ru:
        text: hi
        buttons: [{id: "yes", text: "Да"}]
        whatsapp_template: {name: t, language: ru}
  free:
    whatsapp:
      ru: {text: free}
`, want: []string{"c.yaml:22:7: window-needs-template"}},
		{rule: "window-needs-template messenger", edit: [][2]string{{"[telegram]", "[messenger]"}, {"    telegram:\n", "    default:\n"}},
			want: []string{"c.yaml:14:7: window-needs-template"}},
		{rule: "pay", edit: [][2]string{{"      ru: {text: hi}", "      ru: {text: hi, buttons: [{text: Pay, pay: {amount: \"0\", currency: RUB, product: p, title: T}}]}"}},
			want: []string{"c.yaml:14:58: pay"}},
		{rule: "trigger-one-of", edit: [][2]string{{"  api: {}", "  api: {}\n  event: {name: x}"}}, want: []string{"c.yaml:4:1: trigger-one-of"}},
		{rule: "step-one-action", edit: [][2]string{{"    send: {template: t}\n", "    send: {template: t}\n    end: {}\n"}}, want: []string{"c.yaml:9:5: step-one-action"}},
	}
	for _, tt := range tests {
		t.Run(tt.rule, func(t *testing.T) {
			src := tt.src
			if src == "" {
				src = edited(t, base, tt.edit)
			}
			wantLint(t, src, tt.want)
		})
	}
}

func TestEveryRuleHasATest(t *testing.T) {
	var src []byte
	for _, p := range []string{"lint_test.go", "lint_catalogue_test.go", "lint_accounts_test.go", "channelcheck/channelcheck_test.go"} {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		src = append(src, b...)
	}
	for _, r := range Rules {
		if !bytes.Contains(src, []byte(`rule: "`+r.ID)) {
			t.Errorf("rule %s has no case in TestLintRules", r.ID)
		}
	}
}

func TestExamplesLintClean(t *testing.T) {
	paths, err := filepath.Glob("../examples/growfood/*.yaml")
	if err != nil || len(paths) != 3 {
		t.Fatalf("examples: %v %v", paths, err)
	}
	var files []*File
	for _, p := range paths {
		f, err := Load(p)
		if err != nil {
			t.Fatalf("load %s: %v", p, err)
		}
		files = append(files, f)
	}
	if errs := Lint(files); len(errs) > 0 {
		var b bytes.Buffer
		srcs := map[string][]byte{}
		for _, f := range files {
			srcs[f.Path] = f.Source
		}
		_ = WriteReport(&b, errs, srcs)
		t.Fatalf("examples have problems:\n%s", b.String())
	}
}

func TestReportCaret(t *testing.T) {
	src := []byte("id: c\nname: \"Привет\"\n\ttopic: x\n")
	var b bytes.Buffer
	errs := []LintError{
		{File: "c.yaml", Line: 2, Col: 7, Rule: "r", Msg: "m", Hint: "h"},
		{File: "c.yaml", Line: 3, Col: 2, Rule: "r", Msg: "tab"},
		{File: "c.yaml", Line: 9, Col: 1, Rule: "r", Msg: "past the end"},
	}
	if err := WriteReport(&b, errs, map[string][]byte{"c.yaml": src}); err != nil {
		t.Fatal(err)
	}
	want := "c.yaml:2:7: r: m\n    name: \"Привет\"\n          ^\n    hint: h\n" +
		"c.yaml:3:2: r: tab\n        topic: x\n     ^\n" +
		"c.yaml:9:1: r: past the end\n"
	if b.String() != want {
		t.Errorf("report:\n%s\nwant:\n%s", b.String(), want)
	}
}

// A value that did not decode is reported once, not again by the rule that
// would check its decoded value.
func TestOneProblemPerBadValue(t *testing.T) {
	src := strings.Replace(base, "    send: {template: t}\n", "    send: {template: t}\n  - id: w\n    wait_reply: {timeout: 2 days, branches: [{sentiment: positive, goto: s}]}\n", 1)
	got := short(lintString(t, src))
	if strings.Join(got, ",") != "c.yaml:12:27: invalid-duration" {
		t.Errorf("got %v", got)
	}
}

func TestLineEndingsAndBOM(t *testing.T) {
	for name, src := range map[string]string{
		"crlf": strings.ReplaceAll(strings.Replace(base, "{template: t}", "{template: x}", 1), "\n", "\r\n"),
		"bom":  "\ufeff" + strings.Replace(base, "{template: t}", "{template: x}", 1),
	} {
		got := short(lintString(t, src))
		if strings.Join(got, ",") != "c.yaml:10:22: missing-template" {
			t.Errorf("%s: %v", name, got)
		}
	}
}

func TestUnknownFieldSuggestion(t *testing.T) {
	errs := lintString(t, strings.Replace(base, "  channels:", "  chanels:", 1))
	var hint string
	for _, e := range errs {
		if e.Rule == "unknown-field" {
			hint = e.Hint
		}
	}
	if hint != `did you mean "channels"?` {
		t.Errorf("hint = %q", hint)
	}
}

func TestColumnsCountCharacters(t *testing.T) {
	// Cyrillic before the error: columns count characters, not bytes.
	src := strings.Replace(base, "name: C", "name: Кампания", 1)
	src = strings.Replace(src, "      ru: {text: hi}", "      ru: {text: привет, buton: x}", 1)
	got := short(lintString(t, src))
	want := []string{"c.yaml:14:26: unknown-field"}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("got %v want %v", got, want)
	}
}

func TestAllFeaturesLintClean(t *testing.T) {
	f, err := Load("testdata/schema/all-features.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if errs := Lint([]*File{f}); len(errs) > 0 {
		t.Fatalf("all-features.yaml: %v", errs)
	}
}

func TestDuplicateCampaignIDAcrossFiles(t *testing.T) {
	a, _ := Parse("a.yaml", []byte(base))
	b, _ := Parse("b.yaml", []byte(base))
	got := short(Lint([]*File{a, b}))
	if strings.Join(got, ",") != "b.yaml:1:5: duplicate-id" {
		t.Errorf("got %v", got)
	}
}

func BenchmarkLoadLintExamples(b *testing.B) {
	paths, _ := filepath.Glob("../examples/growfood/*.yaml")
	srcs := make([][]byte, len(paths))
	for i, p := range paths {
		srcs[i], _ = os.ReadFile(p)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		files := make([]*File, len(paths))
		for j := range paths {
			files[j], _ = Parse(paths[j], srcs[j])
		}
		if errs := Lint(files); len(errs) != 0 {
			b.Fatal(errs)
		}
	}
}

func TestLoadAll(t *testing.T) {
	files, err := LoadAll("../examples/growfood")
	if err != nil || len(files) != 3 || files[0].Def.ID != "order-receipt" {
		t.Fatalf("%v %v", len(files), err)
	}
	if _, err := LoadAll(t.TempDir()); !errors.Is(err, ErrNoFiles) {
		t.Errorf("empty dir: %v", err)
	}
	if _, err := LoadAll("nope.yaml"); err == nil {
		t.Error("missing file loaded")
	}
}

// Instagram outside the window is a warning: nothing in the file can fix it,
// and the send goes to the next channel.
func TestLintInstagramWindowIsAWarning(t *testing.T) {
	src := strings.NewReplacer("[telegram]", "[instagram]", "    telegram:\n", "    instagram:\n").Replace(base)
	errs := lintString(t, src)
	if len(errs) != 1 || errs[0].Rule != "window-needs-template" || errs[0].Severity != SeverityWarning {
		t.Fatalf("%+v", errs)
	}
}
